"""sockit get/put/ls/connect --framed against a hostile *server*: a Python peer speaking the
native protocol (docs/PROTOCOL.md) that lists entries outside what was asked, sends modes the
client must not apply, puts terminal escapes in every text it sends, and malformed replies.
The client must write nothing outside the requested name, leave pre-existing directories
alone, escape everything it prints, and end a malformed exchange with exit 1 and a protocol
error (never exit 134), partials kept for --resume."""
import hashlib
import json
import os
import socket
import stat
import struct
import subprocess
import threading
import unittest

from sockit_test import SOCKIT, Server, TempDir, run, timeout, with_plain
from transfer_proto import MAGIC, frame

ESC_BYTES = (b"\x1b", b"\x07", b"\x9b", "\u202e".encode(), "\u200b".encode(),
             "\u2066".encode(), "\ufeff".encode())
OLD_NS = 1_500_000_000_000_000_000  # 2017: the times pre-existing directories keep
SERVER_NS = 1_000_000_000  # 1970: what a hostile server would set


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class HostileServer:
    """Accepts connections one at a time on 127.0.0.1:0; after the magic and the client's
    hello it sends `hello_reply`, then for every request frame the bytes `answer(header)`
    returns. Records every request. Bounded: socket timeouts, closed by the test."""

    def __init__(self, answer, hello_reply=None):
        self.answer = answer
        self.hello_reply = hello_reply or {"op": "hello", "id": 0, "version": 1,
                                           "server": "hostile", "max_header": 65536}
        self.requests = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(timeout(30))
        self.endpoint = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(timeout(10))
                try:
                    self._session(conn)
                except (OSError, EOFError, ValueError):
                    pass

    def _session(self, conn):
        buf = bytearray()

        def need(n):
            while len(buf) < n:
                chunk = conn.recv(65536)
                if not chunk:
                    raise EOFError
                buf.extend(chunk)
            out = bytes(buf[:n])
            del buf[:n]
            return out

        def read_frame():
            (n,) = struct.unpack(">I", need(4))
            header = json.loads(need(n))
            if "size" in header:
                need(header["size"])
            return header

        if need(4) != MAGIC:
            return
        read_frame()  # hello
        conn.sendall(frame(self.hello_reply))
        if self.hello_reply.get("op") != "hello":
            return
        while True:
            header = read_frame()
            self.requests.append(header)
            reply = self.answer(header)
            if reply:
                conn.sendall(reply)

    def requested(self, op):
        return [r.get("name", r.get("path")) for r in self.requests if r.get("op") == op]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(timeout(10))
        assert not self.thread.is_alive(), "the hostile server's thread did not end"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def tree(listings, files, file_extra=None, trailer_extra=None):
    """An answer function serving `listings` ({(path, recursive): [entries]}) and `files`
    ({name: (bytes, mode)}) honestly, except for the fields in file_extra / trailer_extra
    (dicts, or functions of the request returning one) merged into the file frame / trailer."""
    def answer(h):
        if h["op"] == "ls":
            entries = listings.get((h.get("path", ""), bool(h.get("recursive"))))
            if entries is None:
                return frame({"op": "error", "id": h["id"], "code": "not_found",
                              "message": "no such thing"})
            body = b"".join((e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n"
                            for e in entries)
            return frame({"op": "ls", "id": h["id"], "path": h.get("path", ""),
                          "entries": len(entries)}, body)
        if h["op"] == "get":
            if h["name"] not in files:
                return frame({"op": "error", "id": h["id"], "code": "not_found",
                              "message": "no such file"})
            data, mode = files[h["name"]]
            head = {"op": "file", "id": h["id"], "name": h["name"], "offset": 0,
                    "file_size": len(data), "mode": mode, "mtime_ns": SERVER_NS,
                    "hash": h["hash"]}
            extra = file_extra(h) if callable(file_extra) else (file_extra or {})
            head.update(extra)
            body = data[head["offset"]:] if isinstance(head.get("offset"), int) else data
            trailer = {"op": "end", "id": h["id"], "hash": sha256(data)}
            trailer.update(trailer_extra or {})
            raw = frame(head, body)
            return raw + frame(trailer)
        return frame({"op": "error", "id": h.get("id"), "code": "protocol_error",
                      "message": "not in this test"})
    return answer


def entry(name, kind="file", size=0, mode=0o644, mtime_ns=SERVER_NS):
    return {"name": name, "type": kind, "size": size, "mode": mode, "mtime_ns": mtime_ns}


def sockit(*args, umask=0o022, stdin=None):
    return subprocess.run([SOCKIT, *with_plain(args)], input=stdin, capture_output=True,
                          timeout=timeout(30), umask=umask)


def walk(root):
    """Every path below root, relative, '/'-separated (directories too)."""
    out = set()
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(d, n), root).replace(os.sep, "/"))
    return out


def read(path):
    with open(path, "rb") as f:
        return f.read()


class GetStaysInside(unittest.TestCase):
    def test_entries_outside_the_requested_name_are_refused_and_not_written(self):
        outside = [".git/hooks/pre-commit", ".ssh", ".ssh/authorized_keys", "photosX/y",
                   "photos/../x", "/abs/x", "photos/./z", "photos//w"]
        files = {n: (b"#!/bin/sh\necho pwned\n", 0o755) for n in outside}
        files["photos/a.txt"] = (b"alpha", 0o644)
        files["photos/sub/b.txt"] = (b"beta", 0o644)
        listing = [entry("photos/a.txt", size=5), entry(".git/hooks/pre-commit", size=20),
                   entry(".ssh", "dir", mode=0o777), entry(".ssh/authorized_keys"),
                   entry("photos/sub", "dir", mode=0o755), entry("photos/sub/b.txt", size=4),
                   entry("photosX/y"), entry("photos/../x"), entry("/abs/x"),
                   entry("photos/./z"), entry("photos//w")]
        listings = {("photos", True): listing, ("", False): [entry("photos", "dir")]}
        with TempDir() as out, HostileServer(tree(listings, files)) as srv:
            ssh = os.path.join(out, ".ssh")
            os.mkdir(ssh, 0o700)
            os.chmod(ssh, 0o700)
            os.utime(ssh, ns=(OLD_NS, OLD_NS))
            r = sockit("get", "photos", srv.endpoint, "-o", out, "--hash", "sha256",
                       "--timeout", "10")
            err = r.stderr.decode()
            self.assertEqual(r.returncode, 1, err)
            for name in (".git/hooks/pre-commit", ".ssh", ".ssh/authorized_keys", "photosX/y",
                         "photos/../x", "/abs/x", "photos/./z", "photos//w"):
                self.assertIn(f"failed {name}: unsafe_name", err)
            self.assertEqual(walk(out), {".ssh", "photos", "photos/a.txt", "photos/sub",
                                         "photos/sub/b.txt"})
            self.assertEqual(read(os.path.join(out, "photos", "sub", "b.txt")), b"beta")
            st = os.stat(ssh)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
            self.assertEqual(st.st_mtime_ns, OLD_NS)
            # Nothing outside was even asked for.
            self.assertEqual(sorted(srv.requested("get")), ["photos/a.txt", "photos/sub/b.txt"])

    def test_a_nested_name_keeps_only_its_last_component(self):
        listing = [entry("a/b/c.txt", size=3), entry("a/bc/d.txt", size=3), entry("a/x.txt")]
        files = {n: (b"abc", 0o644) for n in ("a/b/c.txt", "a/bc/d.txt", "a/x.txt")}
        listings = {("a/b", True): listing, ("a", False): [entry("a/b", "dir")]}
        with TempDir() as out, HostileServer(tree(listings, files)) as srv:
            r = sockit("get", "a/b", srv.endpoint, "-o", out, "--hash", "sha256",
                       "--timeout", "10")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(b"failed a/bc/d.txt: unsafe_name", r.stderr)
            self.assertIn(b"failed a/x.txt: unsafe_name", r.stderr)
            self.assertEqual(walk(out), {"b", "b/c.txt"})

    def test_a_local_symlink_in_the_way_is_not_followed(self):
        listing = [entry("photos/a.txt", size=5)]
        listings = {("photos", True): listing, ("", False): [entry("photos", "dir")]}
        with TempDir() as out, TempDir() as elsewhere, \
                HostileServer(tree(listings, {"photos/a.txt": (b"alpha", 0o644)})) as srv:
            os.symlink(elsewhere, os.path.join(out, "photos"))
            r = sockit("get", "photos", srv.endpoint, "-o", out, "--hash", "sha256",
                       "--timeout", "10")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(b"unsafe_name", r.stderr)
            self.assertEqual(os.listdir(elsewhere), [])


class TruncatedListing(unittest.TestCase):
    """A listing the server cut short at its limits ("truncated": true on the last frame):
    ls shows what came and exits 1, get fetches what came and reports the rest missing."""

    def answer(self, h):
        if h["op"] == "ls":
            body = json.dumps(entry("d/a", size=1)).encode() + b"\n"
            return frame({"op": "ls", "id": h["id"], "path": h.get("path", ""),
                          "truncated": True}, body)
        return tree({}, {"d/a": (b"x", 0o644)})(h)

    def test_ls_and_get_say_the_listing_was_cut_short(self):
        with HostileServer(self.answer) as srv, TempDir() as out:
            r = sockit("ls", "-r", srv.endpoint, "d")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(b"d/a", r.stdout)
            self.assertIn(b"cut this listing short", r.stderr)
            r = sockit("get", "d", srv.endpoint, "-o", out, "--hash", "sha256")
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertEqual(read(os.path.join(out, "d", "a")), b"x")
            self.assertIn(b"cut its listing short", r.stdout + r.stderr)


class ListingBounds(unittest.TestCase):
    """What a listing may cost the client: the 256 MiB cap cannot be wrapped by a body size
    near 2^64, "more" frames are finite, an entry line is short and shallow (review
    findings: each made ls buffer, parse or read without bound)."""

    def listing(self, *frames_):
        def answer(h):
            return b"".join(frames_) if h["op"] == "ls" else None
        return answer

    def ls(self, answer):
        with HostileServer(answer) as srv:
            return sockit("ls", "-r", srv.endpoint)

    def test_a_body_size_that_wraps_the_cap_is_refused(self):
        first = json.dumps(entry("a")).encode() + b"\n"
        head = json.dumps({"op": "ls", "id": 1, "more": True,
                           "size": (1 << 64) - len(first) + 10}).encode()
        r = self.ls(self.listing(frame({"op": "ls", "id": 1, "more": True}, first),
                                 struct.pack(">I", len(head)) + head))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"larger than 256 MiB", r.stderr)

    def test_more_frames_are_finite(self):
        r = self.ls(self.listing(frame({"op": "ls", "id": 1, "more": True}) * 70000))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"larger than 256 MiB", r.stderr)

    def test_a_deep_entry_line_is_not_parsed(self):
        body = b'{"name":"a","type":"file","x":' + b"[" * 100000 + b"]" * 100000 + b"}\n"
        r = self.ls(self.listing(frame({"op": "ls", "id": 1}, body)))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"deeper than an entry", r.stderr)


class GetHoldsLittle(unittest.TestCase):
    def test_a_listing_of_files_never_sent_costs_no_descriptors_and_leaves_nothing(self):
        # The client used to create every listed file's partial and hold two descriptors per
        # file before the first reply: 3000 entries ran it out of descriptors under a limit
        # of 256, and left 3000 empty partials (review finding).
        listing = [entry(f"p/f{i}", size=1) for i in range(3000)]
        def answer(h):
            if h["op"] == "ls":
                return tree({("p", True): listing}, {})(h)
            if h["op"] == "get":
                return frame({"op": "error", "id": h["id"], "code": "not_found",
                              "message": "gone"})
            return None
        import resource
        def low_fd_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        with TempDir() as out, HostileServer(answer) as srv:
            r = subprocess.run([SOCKIT, "get", "--plain", "p", srv.endpoint, "-o", out], capture_output=True,
                               timeout=timeout(60), preexec_fn=low_fd_limit)
            self.assertEqual(r.returncode, 1, r.stderr[-300:])
            self.assertEqual((r.stdout + r.stderr).count(b"Too many open files"), 0)
            self.assertEqual(r.stderr.count(b"not_found"), 3000, r.stderr[-300:])
            self.assertEqual(walk(out), {"p"})  # the name asked for; no partials in it


class ResumeKeepsItsPrefix(unittest.TestCase):
    def test_a_partial_replaced_after_its_prefix_was_hashed_is_not_extended(self):
        # get --resume hashed the partial, closed it, and at the reply reopened it by name
        # with O_CREAT: a partial removed meanwhile became zeros + tail, stored as verified
        # (review finding). Now the reply must extend the very file that was hashed.
        with TempDir() as out:
            os.makedirs(os.path.join(out, "p"))
            partial = os.path.join(out, "p", ".a.sockit-part")
            with open(partial, "wb") as f:
                f.write(b"GOOD")

            def answer(h):
                if h["op"] == "ls":
                    return tree({("p", True): [entry("p/a", size=8)]}, {})(h)
                if h["op"] == "get":
                    os.remove(partial)  # after the client hashed it, before the reply
                    head = {"op": "file", "id": h["id"], "name": "p/a", "offset": 4,
                            "file_size": 8, "mode": 0o644, "mtime_ns": SERVER_NS,
                            "hash": "sha256"}
                    return frame(head, b"TAIL") + frame({"op": "end", "id": h["id"],
                                                          "hash": sha256(b"GOODTAIL")})
                return None
            with HostileServer(answer) as srv:
                r = sockit("get", "--resume", "--hash", "sha256", "p", srv.endpoint, "-o", out)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertFalse(os.path.exists(os.path.join(out, "p", "a")))


class GetModes(unittest.TestCase):
    FILES = {"photos/run.sh": (b"#!/bin/sh\n", 0o4777), "photos/data": (b"12345", 0o666)}
    LISTINGS = {("photos", True): [entry("photos/run.sh", size=10), entry("photos/data", size=5),
                                   entry("photos/new", "dir", mode=0o777, mtime_ns=OLD_NS)],
                ("", False): [entry("photos", "dir", mode=0o777, mtime_ns=OLD_NS)]}

    def get(self, out, *extra, umask):
        with HostileServer(tree(self.LISTINGS, self.FILES)) as srv:
            r = sockit("get", "photos", srv.endpoint, "-o", out, "--hash", "sha256",
                       "--timeout", "10", *extra, umask=umask)
            self.assertEqual(r.returncode, 0, r.stderr)

    def mode(self, *parts):
        return stat.S_IMODE(os.stat(os.path.join(*parts)).st_mode)

    def test_modes_are_masked_by_the_umask_and_files_lose_exec_bits(self):
        with TempDir() as out:
            self.get(out, umask=0o027)
            self.assertEqual(self.mode(out, "photos", "run.sh"), 0o640)
            self.assertEqual(self.mode(out, "photos", "data"), 0o640)
            self.assertEqual(self.mode(out, "photos"), 0o750)  # created here: its mode, masked
            self.assertEqual(self.mode(out, "photos", "new"), 0o750)
            self.assertEqual(os.stat(os.path.join(out, "photos", "new")).st_mtime_ns, OLD_NS)

    def test_preserve_mode_keeps_exec_bits_but_not_setuid_and_still_masks(self):
        with TempDir() as out:
            self.get(out, "--preserve-mode", umask=0o022)
            self.assertEqual(self.mode(out, "photos", "run.sh"), 0o755)
            self.assertEqual(self.mode(out, "photos", "data"), 0o644)
        r = run("get", "--help")
        self.assertIn(b"--preserve-mode", r.stdout)

    def test_existing_directories_keep_their_mode_and_times(self):
        listings = {("photos", True): [entry("photos/keep", "dir", mode=0o777),
                                       entry("photos/old", "dir", mode=0o777),
                                       entry("photos/old/f", size=1),
                                       entry("photos/new", "dir", mode=0o751,
                                             mtime_ns=OLD_NS + 5)],
                    ("", False): [entry("photos", "dir", mode=0o777)]}
        files = {"photos/old/f": (b"f", 0o644)}
        with TempDir() as out, HostileServer(tree(listings, files)) as srv:
            for rel, mode in (("photos", 0o700), ("photos/keep", 0o710), ("photos/old", 0o750)):
                p = os.path.join(out, rel)
                os.mkdir(p)
                os.chmod(p, mode)
                os.utime(p, ns=(OLD_NS, OLD_NS))
            r = sockit("get", "photos", srv.endpoint, "-o", out, "--hash", "sha256",
                       "--timeout", "10", "--preserve-mode")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.mode(out, "photos"), 0o700)
            self.assertEqual(self.mode(out, "photos", "keep"), 0o710)
            self.assertEqual(self.mode(out, "photos", "old"), 0o750)
            self.assertEqual(os.stat(os.path.join(out, "photos", "keep")).st_mtime_ns, OLD_NS)
            # Writing into a directory moves its mtime; never to what the server said.
            for rel in ("photos", "photos/old"):
                self.assertNotEqual(os.stat(os.path.join(out, rel)).st_mtime_ns, SERVER_NS)
            self.assertEqual(self.mode(out, "photos", "new"), 0o751)
            self.assertEqual(os.stat(os.path.join(out, "photos", "new")).st_mtime_ns, OLD_NS + 5)


HOSTILE_CODE = "\x1b]0;pwned\x07"
HOSTILE_TEXT = "\x1b[2J\u202eevil\u200b \u2066 \ufeff \x9b31m"


def assert_escaped(test, output):
    for b in ESC_BYTES:
        test.assertNotIn(b, output)


class ServerTextIsEscaped(unittest.TestCase):
    def test_hello_refusal(self):
        refusal = {"op": "error", "id": 0, "code": HOSTILE_CODE, "message": HOSTILE_TEXT}
        with TempDir() as d, HostileServer(None, hello_reply=refusal) as srv:
            path = os.path.join(d, "f")
            with open(path, "wb") as f:
                f.write(b"x")
            for args in (["put", path, srv.endpoint, "--timeout", "10"],
                         ["get", "f", srv.endpoint, "-o", d, "--timeout", "10"],
                         ["ls", srv.endpoint]):
                r = sockit(*args)
                self.assertEqual(r.returncode, 1, (args, r.stderr))
                assert_escaped(self, r.stderr)
                self.assertIn(b"\\x1b]0;pwned\\x07", r.stderr)
                self.assertIn(b"\\u{202e}evil\\u{200b}", r.stderr)

    def test_get_and_put_errors(self):
        def answer(h):
            if h["op"] == "ls":
                return frame({"op": "ls", "id": h["id"], "path": h["path"], "entries": 1},
                             json.dumps(entry("f", size=1)).encode() + b"\n")
            if h["op"] in ("get", "put"):
                return frame({"op": "error", "id": h["id"], "code": HOSTILE_CODE,
                              "message": HOSTILE_TEXT})
            return b""  # the put's end trailer
        with TempDir() as d, HostileServer(answer) as srv:
            path = os.path.join(d, "f")
            with open(path, "wb") as f:
                f.write(b"x")
            out = os.path.join(d, "out")
            os.mkdir(out)
            for args in (["get", "f", srv.endpoint, "-o", out, "--timeout", "10"],
                         ["put", path, srv.endpoint, "--timeout", "10"]):
                r = sockit(*args)
                self.assertEqual(r.returncode, 1, (args, r.stderr))
                assert_escaped(self, r.stderr)
                self.assertIn(b"failed f: \\x1b]0;pwned\\x07 (\\x1b[2J\\u{202e}evil", r.stderr)
                r = sockit(*args, "--json")
                self.assertEqual(r.returncode, 1, (args, r.stderr))
                assert_escaped(self, r.stdout)
                events = [json.loads(line) for line in r.stdout.decode().splitlines()]
                failed = [e for e in events if e.get("event") == "file"]
                self.assertEqual(failed[0]["code"], HOSTILE_CODE)  # JSON: escaped, lossless
                self.assertEqual(failed[0]["message"], HOSTILE_TEXT)

    def test_ls_names_and_types(self):
        names = ["a\u202eb.txt", "z\u200bw", "\x1b[2Jx", "e\u2066f\ufeff"]
        listing = [entry(n) for n in names] + [{"name": "t", "type": "\x1b[1mfile", "size": 0}]
        with HostileServer(tree({("", False): listing}, {})) as srv:
            r = sockit("ls", srv.endpoint)
            self.assertEqual(r.returncode, 0, r.stderr)
            assert_escaped(self, r.stdout)
            self.assertIn(b"a\\u{202e}b.txt", r.stdout)
            self.assertIn(b"\\x1b[1mfile", r.stdout)
            r = sockit("ls", srv.endpoint, "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            assert_escaped(self, r.stdout)
            got = [json.loads(line)["name"] for line in r.stdout.decode().splitlines()]
            self.assertEqual(got, names + ["t"])

    def test_connect_framed_prints_frames_inertly(self):
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        lst.settimeout(timeout(10))
        header = {"op": "error", "id": None, "code": HOSTILE_CODE, "message": HOSTILE_TEXT}

        def serve():
            try:
                conn, _ = lst.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(timeout(10))
                try:
                    conn.recv(4)  # the magic; then wait for the client's EOF: a clean close
                    conn.sendall(frame(header))
                    while conn.recv(4096):
                        pass
                except OSError:
                    pass
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            r = sockit("connect", "--framed", "127.0.0.1:%d" % lst.getsockname()[1], stdin=b"")
        finally:
            t.join(timeout(10))
            lst.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        assert_escaped(self, r.stdout)
        self.assertEqual(json.loads(r.stdout.decode().splitlines()[0])["header"], header)


BIG = os.urandom(300_000)


class MalformedReplies(unittest.TestCase):
    """Each case: exit 1 (never 134), a protocol error named once, no traceback of nlohmann."""

    def check_protocol_error(self, r):
        err = r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 1, err)
        self.assertIn("protocol", err)
        self.assertNotIn("json.exception", err)
        self.assertNotIn("terminate", err)
        assert_escaped(self, r.stderr)
        return err

    def get(self, listings, files, *extra, file_extra=None, trailer_extra=None, out=None):
        with TempDir() as d, HostileServer(tree(listings, files, file_extra,
                                                trailer_extra)) as srv:
            r = sockit("get", "f", srv.endpoint, "-o", out or d, "--hash", "sha256",
                       "--timeout", "10", *extra)
        return r

    def test_malformed_file_frames(self):
        listings = {("f", True): [entry("f", size=5)]}
        files = {"f": (b"hello", 0o644)}
        cases = [({"mode": "rwx"}, None), ({"mode": 1 << 40}, None), ({"mode": -1}, None),
                 ({"file_size": "x"}, None), ({"file_size": None}, None),
                 ({"mtime_ns": "yesterday"}, None), ({"offset": 7}, None),
                 ({"file_size": 3}, None), ({"id": 999}, None),
                 (None, {"hash": 5}), (None, {"hash": ["x"]}), (None, {"op": "fin"})]
        for file_extra, trailer_extra in cases:
            with self.subTest(file_extra=file_extra, trailer_extra=trailer_extra), \
                    TempDir() as out:
                r = self.get(listings, files, file_extra=file_extra,
                             trailer_extra=trailer_extra, out=out)
                err = self.check_protocol_error(r)
                self.assertIn("failed f: protocol_error", err)
                self.assertFalse(os.path.exists(os.path.join(out, "f")))

    def test_malformed_listings(self):
        files = {"f": (b"hello", 0o644)}
        for bad in ([{"name": "f", "type": "file", "size": -1}],
                    [{"name": "f", "type": "file", "size": "x"}],
                    [{"name": "f", "type": "file", "size": 1.5}],
                    [{"name": 7, "type": "file"}],
                    [{"type": "file", "size": 5}],
                    [{"name": "f", "size": 5}],
                    [{"name": "f", "type": "file", "mode": 99999}],
                    [{"name": "f", "type": "file", "mtime_ns": "x"}],
                    [b"[1, 2]"], [b"{not json"]):
            with self.subTest(listing=bad), TempDir() as out:
                r = self.get({("f", True): bad}, files, out=out)
                self.check_protocol_error(r)
                self.assertEqual(os.listdir(out), [])
                # ls reports it the same way.
                with HostileServer(tree({("", False): bad}, files)) as srv:
                    self.check_protocol_error(sockit("ls", srv.endpoint))

    def test_malformed_put_replies(self):
        def answer_with(ok_extra, stat_extra):
            def answer(h):
                if h["op"] == "stat":
                    reply = {"op": "stat", "id": h["id"], "name": h["name"], "exists": False,
                             "partial_size": 0}
                    reply.update(stat_extra)
                    return frame(reply)
                if h["op"] == "end":
                    reply = {"op": "ok", "id": h["id"], "name": "f", "file_size": 5,
                             "hash": h["hash"]}
                    reply.update(ok_extra)
                    return frame(reply)
                return b""
            return answer
        with TempDir() as d:
            path = os.path.join(d, "f")
            with open(path, "wb") as f:
                f.write(b"hello")
            for ok_extra, stat_extra, resume in (({"hash": 5}, {}, False),
                                                 ({"file_size": "five"}, {}, False),
                                                 ({}, {"partial_size": "x"}, True),
                                                 ({}, {"partial_size": 2, "partial_hash": 1},
                                                  True)):
                with self.subTest(ok=ok_extra, stat=stat_extra), \
                        HostileServer(answer_with(ok_extra, stat_extra)) as srv:
                    args = ["put", path, srv.endpoint, "--timeout", "10"]
                    if resume:
                        args.append("--resume")
                    err = self.check_protocol_error(sockit(*args))
                    self.assertIn("failed f: protocol_error", err)

    def test_a_partial_survives_a_malformed_reply_for_resume(self):
        with TempDir() as d:
            out = os.path.join(d, "out")
            served = os.path.join(d, "served")
            os.mkdir(out)
            os.mkdir(served)
            partial = os.path.join(out, ".big.bin.sockit-part")
            listings = {("big.bin", True): [entry("big.bin", size=len(BIG))]}
            # 1. The whole file arrives but the trailer is malformed: the bytes stay.
            first = {"big.bin": (BIG[:200_000], 0o644)}
            with HostileServer(tree(listings, first, trailer_extra={"hash": ["x"]})) as srv:
                r = sockit("get", "big.bin", srv.endpoint, "-o", out, "--hash", "sha256",
                           "--timeout", "10")
            self.check_protocol_error(r)
            self.assertEqual(read(partial), BIG[:200_000])
            # 2. A resume whose reply has "mode":"rwx": refused before the partial is touched.
            with HostileServer(tree(listings, {"big.bin": (BIG, 0o644)},
                                    file_extra=lambda h: {"offset": h.get("offset", 0),
                                                          "mode": "rwx"})) as srv:
                r = sockit("get", "big.bin", srv.endpoint, "-o", out, "--hash", "sha256",
                           "--timeout", "10", "--resume")
            self.check_protocol_error(r)
            self.assertEqual(read(partial), BIG[:200_000])
            # 3. A real server finishes it from where it stopped.
            with open(os.path.join(served, "big.bin"), "wb") as f:
                f.write(BIG)
            with Server("serve", served, "127.0.0.1:0") as srv:
                r = sockit("get", "big.bin", srv.endpoint, "-o", out, "--hash", "sha256",
                           "--resume", "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            events = [json.loads(line) for line in r.stdout.decode().splitlines()]
            done = [e for e in events if e.get("event") == "file"][0]
            self.assertEqual(done["resumed_from"], 200_000)
            self.assertEqual(read(os.path.join(out, "big.bin")), BIG)
            self.assertFalse(os.path.exists(partial))


if __name__ == "__main__":
    unittest.main()
