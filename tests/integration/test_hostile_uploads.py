"""sockit serve against hostile uploaders (issue 11, items 3 and 4 and the disk and time
bounds): a partial rewritten between stat and a resume, modes and times of what the peer does
not own, disk limits, partial expiry, long names, and slow-trickling peers. Python's stdlib is
the hostile peer; every limit is passed short, as an option, so each test takes seconds."""
import hashlib
import json
import os
import socket
import stat
import time
import unittest

from sockit_test import Server, TempDir, read_line, run, timeout
from transfer_proto import MAGIC, Client, digest, frame


def wait_event(srv, event, name=None, deadline_s=10):
    """Reads the server's --json stdout until an event (optionally for `name`) shows up."""
    end = time.monotonic() + timeout(deadline_s)
    while time.monotonic() < end:
        e = json.loads(read_line(srv.proc.stdout, max(0.1, end - time.monotonic())))
        if e.get("event") == event and (name is None or e.get("name") == name):
            return e
    raise TimeoutError(f"no {event} event")


def interrupted_put(srv, name, data, sent):
    """Announces len(data) bytes, sends the first `sent`, and goes away: a partial stays."""
    c = Client.connect(srv)
    c.send({"op": "put", "id": 1, "name": name, "hash": "sha256", "size": len(data)})
    c.sock.sendall(data[:sent])
    c.close()


def resume_put(c, name, data, offset, prefix_hash):
    """put --resume by hand: the body is data[offset:], the trailer covers all of data."""
    i = c.ident()
    c.send({"op": "put", "id": i, "name": name, "hash": "sha256", "offset": offset,
            "prefix_hash": prefix_hash}, data[offset:])
    c.send({"op": "end", "id": i, "hash": digest(data)})
    return c.recv()[0]


def current_umask():
    m = os.umask(0o022)
    os.umask(m)
    return m


def tree(root):
    """Every path below root (relative), directories included."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            out.append(os.path.relpath(os.path.join(dirpath, n), root))
    return sorted(out)


class Resume(unittest.TestCase):
    def test_partial_rewritten_between_stat_and_resume_is_not_stored(self):
        data = os.urandom(200000)
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--json",
                                    json_mode=True) as srv:
            interrupted_put(srv, "r.bin", data, 100000)
            self.assertEqual(wait_event(srv, "partial", "r.bin")["bytes"], 100000)
            c = Client.connect(srv)
            st = c.stat("r.bin")
            self.assertEqual(st["partial_size"], 100000, st)
            self.assertEqual(st["partial_hash"], digest(data[:100000]))
            # Another writer replaces the partial's bytes (same size) after the stat.
            with open(os.path.join(d, ".r.bin.sockit-part"), "r+b") as f:
                f.write(b"EVIL" * 25000)
            r = resume_put(c, "r.bin", data, 100000, st["partial_hash"])
            # The trailer's hash covers data; the stored prefix is not data's: refused.
            self.assertEqual(r.get("code"), "hash_mismatch", r)
            self.assertFalse(os.path.exists(os.path.join(d, "r.bin")))
            # Whatever is stored has the hash reported: a clean resume still works.
            with open(os.path.join(d, ".r.bin.sockit-part"), "wb") as f:
                f.write(data[:100000])
            st = c.stat("r.bin")
            r = resume_put(c, "r.bin", data, 100000, st["partial_hash"])
            self.assertEqual(r["op"], "ok", r)
            with open(os.path.join(d, "r.bin"), "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), r["hash"])

    def test_resume_without_a_partial_leaves_nothing_behind(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0") as srv:
            c = Client.connect(srv)
            r = c.put("a/b/c.bin", b"tail", offset=10, prefix_hash="00" * 32)
            self.assertEqual(r["op"], "error", r)
            self.assertEqual(tree(d), [])  # no directory, no empty partial
            self.assertEqual(c.put("after", b"ok")["op"], "ok")  # still in step


class Planted(unittest.TestCase):
    """What someone with access to DIR placed under a partial's name."""

    def test_a_hard_link_at_a_partials_name_is_never_written_through(self):
        with TempDir() as d:
            served = os.path.join(d, "served")
            os.mkdir(served)
            outside = os.path.join(d, "outside.txt")
            original = b"ORIGINAL CONTENT OUTSIDE DIR\n"
            with open(outside, "wb") as f:
                f.write(original)
            os.chmod(outside, 0o600)
            mtime_ns = os.stat(outside).st_mtime_ns - 10**9  # recent: not swept as expired
            os.utime(outside, ns=(mtime_ns, mtime_ns))
            for n in ("x", "y"):
                os.link(outside, os.path.join(served, f".{n}.sockit-part"))
            data = b"ATTACKER " * 10000  # over 64 KiB: a named partial
            with Server("serve", served, "127.0.0.1:0", "--min-free", "0") as srv:
                c = Client.connect(srv)
                # A fresh put makes a new partial: the link goes, the outside file stays.
                self.assertEqual(c.put("x", data, mode=0o644, mtime_ns=0)["op"], "ok")
                with open(os.path.join(served, "x"), "rb") as f:
                    self.assertEqual(f.read(), data)
                # A partial with another name is neither described nor resumed.
                self.assertEqual(c.stat("y")["partial_size"], 0)
                r = resume_put(c, "y", original + data, 10, digest(original[:10]))
                self.assertEqual(r.get("code"), "unsafe_name", r)
            st = os.stat(outside)
            with open(outside, "rb") as f:
                self.assertEqual(f.read(), original)
            self.assertEqual((st.st_mode & 0o777, st.st_mtime_ns), (0o600, mtime_ns))
            self.assertFalse(os.path.exists(os.path.join(served, "y")))

    def test_a_fifo_or_device_at_a_partials_name_is_never_opened(self):
        with TempDir() as d:
            fresh = ["x"]
            os.mkfifo(os.path.join(d, ".x.sockit-part"), 0o600)
            os.mkfifo(os.path.join(d, ".y.sockit-part"), 0o600)
            if os.geteuid() == 0:  # a clone of /dev/null, char 1:3
                os.mknod(os.path.join(d, ".z.sockit-part"), 0o600 | stat.S_IFCHR,
                         os.makedev(1, 3))
                fresh.append("z")
            data = b"A" * 70000
            with Server("serve", d, "127.0.0.1:0", "--min-free", "0") as srv:
                c = Client.connect(srv)
                # A fresh put replaces it with a new partial of its own.
                for n in fresh:
                    self.assertEqual(c.put(n, data)["op"], "ok", n)
                    with open(os.path.join(d, n), "rb") as f:
                        self.assertEqual(f.read(), data)
                # A resume onto it is refused, and it stays as it was.
                r = resume_put(c, "y", data, 10, digest(data[:10]))
                self.assertEqual(r.get("code"), "unsafe_name", r)
                self.assertTrue(stat.S_ISFIFO(os.lstat(os.path.join(d, ".y.sockit-part")).st_mode))


class Modes(unittest.TestCase):
    def test_mkdir_of_an_existing_directory_changes_nothing(self):
        with TempDir() as d:
            keep = os.path.join(d, "keep")
            os.mkdir(keep)
            os.chmod(keep, 0o700)
            os.utime(keep, ns=(1_700_000_000_000_000_000,) * 2)
            with Server("serve", d, "127.0.0.1:0") as srv:
                c = Client.connect(srv)
                c.send({"op": "mkdir", "id": 5, "name": "keep", "mode": 0o777, "mtime_ns": 0})
                self.assertEqual(c.recv()[0]["op"], "ok")
                st = os.stat(keep)
                self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
                self.assertEqual(st.st_mtime_ns, 1_700_000_000_000_000_000)
                # A directory this connection made (as an upload's parent) does get its
                # mtime at the end, as `put DIR` sends it; its mode is masked.
                self.assertEqual(c.put("new/f", b"x")["op"], "ok")
                c.send({"op": "mkdir", "id": 6, "name": "new", "mode": 0o3777,
                        "mtime_ns": 1_300_000_000_000_000_000})
                self.assertEqual(c.recv()[0]["op"], "ok")
                st = os.stat(os.path.join(d, "new"))
                self.assertEqual(st.st_mtime_ns, 1_300_000_000_000_000_000)
                self.assertEqual(stat.S_IMODE(st.st_mode), 0o777 & ~current_umask() & ~0o002)
                # Another connection did not make it: it cannot change it.
                c2 = Client.connect(srv)
                c2.send({"op": "mkdir", "id": 7, "name": "new", "mode": 0o700, "mtime_ns": 0})
                self.assertEqual(c2.recv()[0]["op"], "ok")
                self.assertEqual(os.stat(os.path.join(d, "new")).st_mtime_ns,
                                 1_300_000_000_000_000_000)

    def test_uploaded_modes_are_masked(self):
        want = 0o777 & ~current_umask() & ~0o002
        with TempDir() as d, Server("serve", d, "127.0.0.1:0") as srv:
            c = Client.connect(srv)
            for name, size in (("small", 10), ("large", 100000)):  # unnamed, named partial
                self.assertEqual(c.put(name, os.urandom(size), mode=0o7777)["op"], "ok")
                mode = os.stat(os.path.join(d, name)).st_mode
                self.assertEqual(stat.S_IMODE(mode), want, (name, oct(mode)))
                self.assertFalse(mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | 0o002))


class Disk(unittest.TestCase):
    def test_max_disk_bounds_what_the_server_writes(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--max-disk", "300000") as srv:
            c = Client.connect(srv)
            self.assertEqual(c.put("one", os.urandom(200000))["op"], "ok")
            r = c.put("sub/two", os.urandom(200000))
            self.assertEqual(r.get("code"), "no_space", r)
            # A stream announces nothing: refused once it passes the budget, nothing kept.
            r = c.put_stream("three", [os.urandom(50000)] * 4)
            self.assertEqual(r.get("code"), "no_space", r)
            self.assertEqual(tree(d), ["one"])
            self.assertEqual(c.put("fits", os.urandom(50000))["op"], "ok")
            # Directories take blocks too: 4 KiB each of what is left (50000 bytes).
            c.send({"op": "mkdir", "id": 50, "name": "/".join(["d"] * 13)})
            self.assertEqual(c.recv()[0].get("code"), "no_space")
            self.assertEqual(tree(d), ["fits", "one"])

    def test_a_size_near_2_to_the_64_does_not_reset_the_budget(self):
        # size + 4 KiB for the missing directory wrapped to 0: the budget took nothing, and
        # the failed reservation then gave the whole size back, emptying the budget.
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--json", "--max-disk", "300000",
                                    "--min-free", "0", json_mode=True) as srv:
            c = Client.connect(srv)
            self.assertEqual(c.put("one", os.urandom(200000))["op"], "ok")
            for size in (2**64 - 4096, 2**63, 2**63 - 1):
                bad = Client.connect(srv)
                bad.send({"op": "put", "id": 9, "name": "newdir/x", "hash": "sha256",
                          "size": size})
                e = wait_event(srv, "failed", "newdir/x")
                bad.close()
                wait_event(srv, "closed")
                r = c.put("two", os.urandom(200000))
                self.assertEqual(r.get("code"), "no_space", (size, r))
                # Past off_t: too_large; below it, more than the budget: no_space.
                self.assertEqual(e["detail"], "too_large" if size >= 2**63 else "no_space", e)
            self.assertEqual(tree(d), ["one"])

    def test_refused_puts_leave_no_directories_and_credit_them_back(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--min-free", "0",
                                    "--max-file-size", "100000") as srv:
            c = Client.connect(srv)
            # A wrong trailer hash, small (unnamed file) and over 64 KiB (named partial).
            for name, data in (("m1/m2/m3/x", b"hello"), ("b1/b2/y", b"z" * 70000)):
                i = c.ident()
                c.send({"op": "put", "id": i, "name": name, "hash": "sha256"}, data)
                c.send({"op": "end", "id": i, "hash": "00" * 32})
                self.assertEqual(c.recv()[0].get("code"), "hash_mismatch", name)
            # A stream that passes --max-file-size mid-body, and one with a wrong hash.
            r = c.put_stream("s1/s2/z", [b"q" * 60000, b"q" * 60000])
            self.assertEqual(r.get("code"), "too_large", r)
            i = c.ident()
            c.send({"op": "put", "id": i, "name": "t1/t2/w", "hash": "sha256", "stream": True})
            c.send({"op": "data", "id": i}, b"abc")
            c.send({"op": "data", "id": i, "size": 0})
            c.send({"op": "end", "id": i, "hash": "00" * 32})
            self.assertEqual(c.recv()[0].get("code"), "hash_mismatch")
            self.assertEqual(tree(d), [])
            # A directory of that name made by someone else later is not the connection's:
            # its mkdir changes nothing there.
            os.mkdir(os.path.join(d, "m1"), 0o700)
            os.chmod(os.path.join(d, "m1"), 0o700)
            c.send({"op": "mkdir", "id": 99, "name": "m1", "mode": 0o755, "mtime_ns": 0})
            self.assertEqual(c.recv()[0]["op"], "ok")
            st = os.stat(os.path.join(d, "m1"))
            self.assertEqual(st.st_mode & 0o777, 0o700)
            self.assertNotEqual(st.st_mtime_ns, 0)
        # Their 4 KiB each go back to --max-disk: 3 directories (12 KiB) fit once in 20000.
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--min-free", "0",
                                    "--max-disk", "20000") as srv:
            c = Client.connect(srv)
            for attempt in range(5):
                i = c.ident()
                c.send({"op": "put", "id": i, "name": f"a{attempt}/b/c/x", "hash": "sha256"},
                       b"hello")
                c.send({"op": "end", "id": i, "hash": "00" * 32})
                self.assertEqual(c.recv()[0].get("code"), "hash_mismatch", attempt)
            self.assertEqual(c.put("a/b/c/x", b"hello")["op"], "ok")
            self.assertEqual(tree(d), ["a", "a/b", "a/b/c", "a/b/c/x"])

    def test_min_free_refuses_before_creating_anything(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--min-free", "100%") as srv:
            c = Client.connect(srv)
            r = c.put("x/y/z.bin", os.urandom(100000))
            self.assertEqual(r.get("code"), "no_space", r)
            r = c.put_stream("s.bin", [b"a" * 10])
            self.assertEqual(r.get("code"), "no_space", r)
            self.assertEqual(tree(d), [])
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--min-free", "0") as srv:
            self.assertEqual(Client.connect(srv).put("x/y/z.bin", b"fine")["op"], "ok")

    def test_names_of_243_to_255_bytes_upload_resume_and_download(self):
        data = os.urandom(100000)  # over 64 KiB: a named partial on both sides
        with TempDir() as d:
            served, out = os.path.join(d, "served"), os.path.join(d, "out")
            os.mkdir(served)
            os.mkdir(out)
            names = ["a" * 243, "b" * 250, "c" * 255, "中" * 85]  # 85 x 3 = 255 bytes
            with Server("serve", served, "127.0.0.1:0", "--json", json_mode=True) as srv:
                c = Client.connect(srv)
                for n in names:
                    self.assertEqual(c.put(n, data)["op"], "ok", n)
                # An interrupted upload of a long name leaves a partial that resumes.
                long_name = "d" * 255
                interrupted_put(srv, long_name, data, 70000)
                wait_event(srv, "partial", long_name)
                st = c.stat(long_name)
                self.assertEqual(st["partial_size"], 70000, st)
                r = resume_put(c, long_name, data, 70000, st["partial_hash"])
                self.assertEqual(r["op"], "ok", r)
                self.assertTrue(all(len(n.encode()) <= 255 for n in os.listdir(served)))
                for n in names + [long_name]:
                    with open(os.path.join(served, n), "rb") as f:
                        self.assertEqual(f.read(), data, n)
                # Downloads write a local partial of the same name first.
                r = run("get", *names, long_name, srv.endpoint, "-o", out)
                self.assertEqual(r.returncode, 0, r.stderr)
            for n in names + [long_name]:
                with open(os.path.join(out, n), "rb") as f:
                    self.assertEqual(f.read(), data, n)

    def test_partials_expire(self):
        with TempDir() as d:
            os.mkdir(os.path.join(d, "sub"))
            old = os.path.join(d, "sub", ".old.bin.sockit-part")
            fresh = os.path.join(d, ".fresh.bin.sockit-part")
            for p in (old, fresh):
                with open(p, "wb") as f:
                    f.write(b"x" * 1000)
            day = 24 * 3600 * 10**9
            os.utime(old, ns=(time.time_ns() - 2 * day,) * 2)
            # Swept at start, before `listening` (default --partial-ttl: a day).
            with Server("serve", d, "127.0.0.1:0"):
                self.assertFalse(os.path.exists(old))
                self.assertTrue(os.path.exists(fresh))
            # And periodically: a partial left while it runs goes once it is older.
            with Server("serve", d, "127.0.0.1:0", "--json", "--partial-ttl", "0.5",
                        json_mode=True) as srv:
                interrupted_put(srv, "p.bin", os.urandom(200000), 1000)
                wait_event(srv, "partial", "p.bin")
                # `fresh` is older than 0.5 s by now too: it goes (now, or silently at start).
                want = {".p.bin.sockit-part", ".fresh.bin.sockit-part"}
                while want and not (want == {".fresh.bin.sockit-part"} and
                                    not os.path.exists(fresh)):
                    want.discard(wait_event(srv, "expired")["name"])
                self.assertFalse(os.path.exists(os.path.join(d, ".p.bin.sockit-part")))
                self.assertFalse(os.path.exists(fresh))

    def test_limit_options_are_checked(self):
        with TempDir() as d:
            for bad in (["--min-free", "lots"], ["--min-free", "120%"], ["--max-disk", "-1"],
                        ["--min-rate", "fast"], ["--partial-ttl", "-1"],
                        ["--rate-window", "0"]):
                r = run("serve", d, "127.0.0.1:0", *bad, timeout_s=10)
                self.assertEqual(r.returncode, 2, (bad, r.stderr))
            r = run("serve", "--help")
            for opt in ("--max-disk", "--min-free", "--min-rate", "--rate-window",
                        "--partial-ttl", "--max-file-size"):
                self.assertIn(opt, r.stdout.decode())


class Slow(unittest.TestCase):
    def test_trickling_uploads_are_dropped_and_free_their_names(self):
        # A byte every 0.2 s never trips --body-timeout (5 s) but is far below 2000 B/s.
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--min-rate", "2000",
                                    "--rate-window", "1", "--body-timeout", "5") as srv:
            slow = []
            for i in range(32):
                c = Client.connect(srv)
                c.send({"op": "put", "id": 1, "name": f"slow{i}", "hash": "sha256",
                        "size": 1_000_000})
                slow.append(c)
            start = time.monotonic()
            dropped = {}
            while len(dropped) < len(slow) and time.monotonic() - start < timeout(8):
                for i, c in enumerate(slow):
                    if i in dropped:
                        continue
                    try:
                        c.sock.sendall(b"z")
                    except OSError:
                        dropped[i] = time.monotonic() - start
                        continue
                    c.sock.setblocking(False)
                    try:
                        got = c.sock.recv(65536)
                        c.buf += got
                        if not got:
                            dropped[i] = time.monotonic() - start
                    except BlockingIOError:
                        pass
                    except OSError:
                        dropped[i] = time.monotonic() - start
                    c.sock.setblocking(True)
                time.sleep(0.2)  # the attacker's pace (the behaviour under test)
            self.assertEqual(len(dropped), len(slow), "trickling peers still connected")
            self.assertLess(max(dropped.values()), timeout(4))
            for c in slow:
                if c.buf:
                    c.sock.settimeout(timeout(5))
                    self.assertEqual(c.recv()[0].get("code"), "timed_out")
                c.close()
            # Their names are free again, and others are served.
            ok = Client.connect(srv)
            self.assertEqual(ok.put("slow0", os.urandom(100000))["op"], "ok")

    def test_a_refused_put_frees_its_name_while_its_body_is_drained(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--json",
                                    json_mode=True) as srv:
            a = Client.connect(srv)
            # 1 PiB: no_space, then the server reads and drops the body (at --min-rate).
            a.send({"op": "put", "id": 1, "name": "report.pdf", "hash": "sha256",
                    "size": 1 << 50})
            a.sock.sendall(b"x" * 2000)
            self.assertEqual(wait_event(srv, "failed", "report.pdf")["detail"], "no_space")
            b = Client.connect(srv)
            self.assertEqual(b.put("report.pdf", b"real")["op"], "ok")
            with open(os.path.join(d, "report.pdf"), "rb") as f:
                self.assertEqual(f.read(), b"real")
            a.close()

    def test_slow_but_steady_upload_passes(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--min-rate", "2000",
                                    "--rate-window", "0.5") as srv:
            c = Client.connect(srv)
            data = os.urandom(8000)
            c.send({"op": "put", "id": 1, "name": "steady", "hash": "sha256",
                    "size": len(data)})
            for i in range(0, len(data), 500):  # ~5000 B/s, in 16 pieces over ~1.6 s
                c.sock.sendall(data[i:i + 500])
                time.sleep(0.1)  # the honest sender's pace
            c.send({"op": "end", "id": 1, "hash": digest(data)})
            self.assertEqual(c.recv()[0]["op"], "ok")


if __name__ == "__main__":
    unittest.main()
