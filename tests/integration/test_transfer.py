"""sockit put/get/ls against sockit serve, end to end on loopback: sizes around every buffer
boundary, UTF-8 names, directories (modes, mtimes, symlinks), stdin, 20 concurrent uploads,
--json progress and get --resume. Multi-GiB files are in test_transfer_large.py."""
import hashlib
import json
import os
import subprocess
import time
import unittest

from sockit_test import SANITIZED, SOCKIT, Server, TempDir, run, timeout
from transfer_proto import Client

KiB, MiB, GiB = 1024, 1024 * 1024, 1024 * 1024 * 1024
# Reader buffer 256 KiB, client read 1 MiB, server hash chunk 4 MiB, client mmap window 8 MiB.
BOUNDARIES = [0, 1, 4095, 4096, 4097, 65535, 65536, 65537, 256 * KiB - 1, 256 * KiB,
              256 * KiB + 1, MiB - 1, MiB, MiB + 1, 4 * MiB - 1, 4 * MiB + 1, 8 * MiB - 1,
              8 * MiB, 8 * MiB + 1]


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class RoundTrip(unittest.TestCase):
    def test_sizes_around_every_buffer_boundary(self):
        with TempDir() as d:
            served, src, out = (os.path.join(d, x) for x in ("served", "src", "out"))
            for x in (served, src, out):
                os.mkdir(x)
            block = os.urandom(8 * MiB + 1)
            paths = []
            for n in BOUNDARIES:
                p = os.path.join(src, f"f{n}")
                write(p, block[:n])
                paths.append(p)
            with Server("serve", served, "127.0.0.1:0") as srv:
                r = run("put", *paths, srv.endpoint, timeout_s=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout.decode().count("sent f"), len(BOUNDARIES))
                r = run("get", *[f"f{n}" for n in BOUNDARIES], srv.endpoint, "-o", out,
                        timeout_s=60)
                self.assertEqual(r.returncode, 0, r.stderr)
            for n in BOUNDARIES:
                self.assertEqual(read(os.path.join(served, f"f{n}")), block[:n], n)
                self.assertEqual(read(os.path.join(out, f"f{n}")), block[:n], n)
            self.assertEqual(len(os.listdir(served)), len(BOUNDARIES))  # no partials left

    def test_directory_round_trip_utf8_modes_mtimes_no_symlinks(self):
        with TempDir() as d:
            served, out = os.path.join(d, "served"), os.path.join(d, "out")
            os.mkdir(served)
            os.mkdir(out)
            tree = os.path.join(d, "项目")
            files = {"a.txt": b"alpha", "子目录/b.bin": os.urandom(70000),
                     "子目录/深/中文 名字.txt": "你好，世界".encode(), "x/y/z/empty": b"",
                     "ελληνικά.md": b"utf-8"}
            for rel, data in files.items():
                write(os.path.join(tree, rel), data)
            os.makedirs(os.path.join(tree, "empty_dir"))
            os.chmod(os.path.join(tree, "a.txt"), 0o600)
            os.utime(os.path.join(tree, "子目录/b.bin"), ns=(1_500_000_000_000_000_000,) * 2)
            os.symlink("/etc/passwd", os.path.join(tree, "link"))
            os.chmod(os.path.join(tree, "子目录"), 0o750)
            # Directory mtimes, set last (adding entries changes them), deepest first.
            dirs = ["子目录/深", "x/y/z", "x/y", "x", "子目录", "empty_dir", ""]
            dir_ns = {rel: 1_300_000_000_000_000_000 + i * 1_000_000_003
                      for i, rel in enumerate(dirs)}
            for rel in dirs:
                os.utime(os.path.join(tree, rel), ns=(dir_ns[rel],) * 2)
            with Server("serve", served, "127.0.0.1:0") as srv:
                r = run("put", tree, srv.endpoint)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(b"symlink, not followed", r.stderr)
                r = run("ls", srv.endpoint, "项目", "-r")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("中文 名字.txt", r.stdout.decode())
                r = run("get", "项目", srv.endpoint, "-o", out)
                self.assertEqual(r.returncode, 0, r.stderr)
            for rel, data in files.items():
                self.assertEqual(read(os.path.join(served, "项目", rel)), data, rel)
                self.assertEqual(read(os.path.join(out, "项目", rel)), data, rel)
            for root in (served, out):
                self.assertTrue(os.path.isdir(os.path.join(root, "项目", "empty_dir")))
                self.assertFalse(os.path.lexists(os.path.join(root, "项目", "link")))
                self.assertEqual(os.stat(os.path.join(root, "项目", "a.txt")).st_mode & 0o777, 0o600)
                self.assertEqual(os.stat(os.path.join(root, "项目", "子目录/b.bin")).st_mtime_ns,
                                 1_500_000_000_000_000_000)
                self.assertEqual(os.stat(os.path.join(root, "项目", "子目录")).st_mode & 0o777,
                                 0o750)
                for rel, ns in dir_ns.items():
                    self.assertEqual(os.stat(os.path.join(root, "项目", rel)).st_mtime_ns, ns,
                                     (root, rel))

    def test_get_restores_directory_modes_and_mtimes(self):
        with TempDir() as d:
            served, out = os.path.join(d, "served"), os.path.join(d, "out")
            os.mkdir(out)
            dirs = ["top", "top/a", "top/a/b", "top/empty"]
            for rel in dirs:
                os.makedirs(os.path.join(served, rel))
            for rel in ("top/f", "top/a/g", "top/a/b/h"):
                write(os.path.join(served, rel), rel.encode())
            os.chmod(os.path.join(served, "top/a"), 0o750)
            # Distinct mtimes, set after the files were written (as a real tree would have).
            want = {rel: 1_400_000_000_000_000_000 + i * 1_000_000_007
                    for i, rel in enumerate(dirs)}
            for rel, ns in want.items():
                os.utime(os.path.join(served, rel), ns=(ns, ns))
            with Server("serve", served, "127.0.0.1:0") as srv:
                r = run("get", "top", srv.endpoint, "-o", out)
                self.assertEqual(r.returncode, 0, r.stderr)
                # A nested directory named by its path, into a fresh directory: a get never
                # changes the mode or mtime of a directory that existed before it.
                os.mkdir(os.path.join(d, "out2"))
                r = run("get", "top/a", srv.endpoint, "-o", os.path.join(d, "out2"))
                self.assertEqual(r.returncode, 0, r.stderr)
            for rel, ns in want.items():
                self.assertEqual(os.stat(os.path.join(out, rel)).st_mtime_ns, ns, rel)
                if rel.startswith("top/a"):
                    self.assertEqual(os.stat(os.path.join(d, "out2", rel[4:])).st_mtime_ns, ns,
                                     rel)
            self.assertEqual(os.stat(os.path.join(out, "top/a")).st_mode & 0o777, 0o750)
            self.assertEqual(os.stat(os.path.join(d, "out2", "a")).st_mode & 0o777, 0o750)
            self.assertEqual(read(os.path.join(out, "top/a/b/h")), b"top/a/b/h")

    def test_names_the_protocol_cannot_carry_are_skipped_not_fatal(self):
        # A local name that is not UTF-8 cannot go in a JSON header: it used to abort the
        # client (nlohmann's type_error, exit 134). Now it is skipped with the reason.
        with TempDir() as d:
            served, src = os.path.join(d, "served"), os.path.join(d, "src")
            os.mkdir(served)
            os.makedirs(os.path.join(src, "tree"))
            bad = os.path.join(os.fsencode(src), b"tree", b"bad\xff\x1bname")
            with open(bad, "wb") as f:
                f.write(b"x")
            write(os.path.join(src, "tree", "good"), b"good")
            with Server("serve", served, "127.0.0.1:0") as srv:
                r = run("put", os.path.join(src, "tree"), srv.endpoint, timeout_s=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(b"skipped", r.stdout + r.stderr)
                self.assertNotIn(b"\x1b", r.stdout + r.stderr)  # the name is shown escaped
                r = run("put", os.fsdecode(bad), srv.endpoint, timeout_s=30)
                self.assertIn(r.returncode, (0, 1), r.stderr)
                self.assertIn(b"skipped", r.stdout + r.stderr)
                r = run("put", "-", "--name", "a\x01b", srv.endpoint, input=b"x", timeout_s=30)
                self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(read(os.path.join(served, "tree", "good")), b"good")
            self.assertEqual(os.listdir(os.path.join(served, "tree")), ["good"])

    def test_stdin_stream_exists_and_overwrite(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--allow-overwrite") as srv:
            data = os.urandom(3 * MiB + 5)
            r = run("put", "-", "--name", "logs/stdin.bin", srv.endpoint, input=data)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(read(os.path.join(d, "logs/stdin.bin")), data)
            r = run("put", "-", "--name", "logs/stdin.bin", srv.endpoint, input=b"new")
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"exists", r.stderr)
            r = run("put", "-", "--name", "logs/stdin.bin", "--overwrite", srv.endpoint,
                    input=b"new")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(read(os.path.join(d, "logs/stdin.bin")), b"new")
            r = run("put", "-", srv.endpoint, input=b"x")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"--name", r.stderr)

    def test_twenty_concurrent_uploads(self):
        with TempDir() as d:
            served = os.path.join(d, "served")
            os.mkdir(served)
            blobs = {f"c{i}.bin": os.urandom(200000 + i) for i in range(20)}
            for name, data in blobs.items():
                write(os.path.join(d, name), data)
            with Server("serve", served, "127.0.0.1:0") as srv:
                procs = [subprocess.Popen([SOCKIT, "put", "--plain", os.path.join(d, n), srv.endpoint],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                         for n in blobs]
                for p in procs:
                    out, err = p.communicate(timeout=timeout(60))
                    self.assertEqual(p.returncode, 0, err)
                rc, out, err = srv.stop()
                self.assertIn("20 stored", err)
            for name, data in blobs.items():
                self.assertEqual(read(os.path.join(served, name)), data)

    def test_json_progress_and_result(self):
        with TempDir() as d:
            served = os.path.join(d, "served")
            os.mkdir(served)
            write(os.path.join(d, "big.bin"), os.urandom(40 * MiB))
            write(os.path.join(d, "small.txt"), b"s")
            with Server("serve", served, "127.0.0.1:0") as srv:
                t0 = time.monotonic()
                r = run("put", "--json", "--hash", "sha256", os.path.join(d, "big.bin"),
                        os.path.join(d, "small.txt"), srv.endpoint)
                elapsed = time.monotonic() - t0
                self.assertEqual(r.returncode, 0, r.stderr)
            events = [json.loads(l) for l in r.stdout.decode().splitlines()]
            kinds = [e["event"] for e in events]
            self.assertEqual(kinds[-1], "result")
            self.assertEqual(events[-1]["files"], 2)
            self.assertTrue(events[-1]["ok"])
            done = {e["name"]: e for e in events if e["event"] == "file"}
            self.assertEqual(done["big.bin"]["hash"],
                             hashlib.sha256(read(os.path.join(d, "big.bin"))).hexdigest())
            progress = [e for e in events if e["event"] == "progress"]
            self.assertGreaterEqual(len(progress), 1)
            # At most 10 per second (plus the final one of each file).
            self.assertLessEqual(len(progress), 10 * elapsed + 3)
            self.assertEqual(r.stderr, b"")  # not a TTY: no bar

    def test_many_files_overall_progress_json_and_summary(self):
        with TempDir() as d:
            served, tree = os.path.join(d, "served"), os.path.join(d, "many")
            os.mkdir(served)
            for i in range(300):
                write(os.path.join(tree, f"f{i:03d}"), bytes([i % 256]) * (i * 10))
            write(os.path.join(tree, "zbig"), os.urandom(8 * MiB))
            total = sum(i * 10 for i in range(300)) + 8 * MiB
            with Server("serve", served, "127.0.0.1:0") as srv:
                t0 = time.monotonic()
                r = run("put", "--json", tree, srv.endpoint)
                elapsed = time.monotonic() - t0
                self.assertEqual(r.returncode, 0, r.stderr)
                events = [json.loads(l) for l in r.stdout.decode().splitlines()]
                progress = [e for e in events if e["event"] == "progress"]
                self.assertGreaterEqual(len(progress), 1)
                # Throttled over the whole transfer, not once per small file.
                self.assertLessEqual(len(progress), 10 * elapsed + 2)
                for e in progress:
                    self.assertEqual(e["files_total"], 301)
                    self.assertEqual(e["overall_total"], total)
                    self.assertLessEqual(e["overall_bytes"], total)
                self.assertEqual(progress[-1]["files_done"], 301)
                self.assertEqual(progress[-1]["overall_bytes"], total)
                self.assertEqual(events[-1]["files"], 301)
                # Without a TTY and without --json: one line per file and one summary.
                os.mkdir(os.path.join(d, "out"))
                r = run("get", "many", srv.endpoint, "-o", os.path.join(d, "out"))
                self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.decode().count("received many/"), 301)
            summary = r.stderr.decode().strip().splitlines()
            self.assertEqual(len(summary), 1, summary)
            self.assertRegex(summary[0], r"^301 files, 0 failed, [0-9.]+ [kMG]?B in [0-9.]+ s, "
                                         r"[0-9.]+ [kMG]?B/s$")
            self.assertNotIn(b"\x1b", r.stderr)

    def test_terminal_progress_has_an_overall_line(self):
        import pty
        with TempDir() as d:
            served, tree = os.path.join(d, "served"), os.path.join(d, "t")
            os.mkdir(served)
            for i in range(5):
                write(os.path.join(tree, f"f{i}"), os.urandom(100000))
            with Server("serve", served, "127.0.0.1:0") as srv:
                master, slave = pty.openpty()
                try:
                    p = subprocess.Popen([SOCKIT, "put", "--plain", tree, srv.endpoint],
                                         stdout=subprocess.PIPE, stderr=slave)
                    os.close(slave)
                    out, _ = p.communicate(timeout=timeout(30))
                    self.assertEqual(p.returncode, 0)
                    tty = b""
                    while True:  # the child is gone: read what it left (EIO at the end)
                        try:
                            chunk = os.read(master, 65536)
                        except OSError:
                            break
                        if not chunk:
                            break
                        tty += chunk
                finally:
                    os.close(master)
            text = tty.decode(errors="replace")
            self.assertIn("(", text)
            self.assertRegex(text, r"total \[#*\.*\] +100% 5/5 files, ")
            self.assertIn("ETA", text)
            self.assertIn("\x1b[1A", text)  # back up to the per-file line
            self.assertIn("5 files, 0 failed", text)  # the summary after the bar was cleared
            self.assertEqual(out.decode().count("sent t/"), 5)

    def test_put_resume_of_small_files_sent_as_whole_frames(self):
        # Files up to 64 KiB travel as whole frames gathered into one send; resume still
        # checks the server's prefix.
        with TempDir() as d:
            served = os.path.join(d, "served")
            os.mkdir(served)
            data = os.urandom(60000)
            write(os.path.join(d, "s.bin"), data)
            write(os.path.join(d, "t.bin"), data[::-1])
            write(os.path.join(served, ".s.bin.sockit-part"), data[:20000])
            write(os.path.join(served, ".t.bin.sockit-part"), b"X" * 100)  # not our prefix
            with Server("serve", served, "127.0.0.1:0") as srv:
                r = run("put", "--resume", "--json", os.path.join(d, "s.bin"),
                        os.path.join(d, "t.bin"), srv.endpoint)
                self.assertEqual(r.returncode, 0, r.stderr)
            files = {e["name"]: e for e in map(json.loads, r.stdout.decode().splitlines())
                     if e["event"] == "file"}
            self.assertEqual(files["s.bin"]["resumed_from"], 20000)
            self.assertEqual(files["s.bin"]["bytes"], 40000)
            self.assertTrue(files["t.bin"]["restarted"])
            self.assertEqual(read(os.path.join(served, "s.bin")), data)
            self.assertEqual(read(os.path.join(served, "t.bin")), data[::-1])
            self.assertEqual(sorted(os.listdir(served)), ["s.bin", "t.bin"])

    def test_overwrite_small_and_large_files(self):
        with TempDir() as d:
            served = os.path.join(d, "served")
            os.mkdir(served)
            with Server("serve", served, "127.0.0.1:0", "--allow-overwrite") as srv:
                for n in (10, 200000):  # unnamed-file path and partial path
                    for round_ in range(2):
                        data = os.urandom(n)
                        write(os.path.join(d, "o.bin"), data)
                        r = run("put", "--overwrite", os.path.join(d, "o.bin"), srv.endpoint)
                        self.assertEqual(r.returncode, 0, r.stderr)
                        self.assertEqual(read(os.path.join(served, "o.bin")), data)
                        self.assertEqual(os.listdir(served), ["o.bin"])

    def test_get_resume_verifies_prefix(self):
        with TempDir() as d:
            served, out = os.path.join(d, "served"), os.path.join(d, "out")
            os.mkdir(served)
            os.mkdir(out)
            data = os.urandom(2 * MiB + 3)
            write(os.path.join(served, "g.bin"), data)
            with Server("serve", served, "127.0.0.1:0") as srv:
                write(os.path.join(out, ".g.bin.sockit-part"), data[:MiB])
                r = run("get", "--resume", "--json", "g.bin", srv.endpoint, "-o", out)
                self.assertEqual(r.returncode, 0, r.stderr)
                f = [json.loads(l) for l in r.stdout.decode().splitlines()
                     if json.loads(l)["event"] == "file"][0]
                self.assertEqual(f["resumed_from"], MiB)
                self.assertEqual(f["bytes"], len(data) - MiB)
                self.assertEqual(read(os.path.join(out, "g.bin")), data)
                os.remove(os.path.join(out, "g.bin"))
                write(os.path.join(out, ".g.bin.sockit-part"), b"Z" + data[1:MiB])  # corrupted
                r = run("get", "--resume", "--json", "g.bin", srv.endpoint, "-o", out)
                self.assertEqual(r.returncode, 0, r.stderr)
                f = [json.loads(l) for l in r.stdout.decode().splitlines()
                     if json.loads(l)["event"] == "file"][0]
                self.assertTrue(f["restarted"])
                self.assertEqual(read(os.path.join(out, "g.bin")), data)
                r = run("get", "g.bin", srv.endpoint, "-o", out)  # exists locally
                self.assertEqual(r.returncode, 1)
                self.assertIn(b"exists", r.stderr)
                r = run("get", "nope", srv.endpoint, "-o", out)
                self.assertEqual(r.returncode, 1)
                self.assertIn(b"not_found", r.stderr)


class DiscardSink(unittest.TestCase):
    def test_discard_verifies_and_stores_nothing(self):
        with TempDir() as d:
            served = os.path.join(d, "served")
            os.mkdir(served)
            write(os.path.join(d, "a.bin"), os.urandom(3 * MiB))
            write(os.path.join(d, "s.txt"), b"small")
            with Server("serve", served, "127.0.0.1:0", "--discard") as srv:
                for _ in range(2):  # the same names again: nothing exists, nothing is busy
                    r = run("put", "--json", os.path.join(d, "a.bin"), os.path.join(d, "s.txt"),
                            srv.endpoint)
                    self.assertEqual(r.returncode, 0, r.stderr)
                c = Client.connect(srv)
                self.assertEqual(c.put("x", b"data")["op"], "ok")
                i = c.ident()
                c.send({"op": "put", "id": i, "name": "y", "hash": "sha256"}, b"data")
                c.send({"op": "end", "id": i, "hash": "0" * 64})
                self.assertEqual(c.recv()[0]["code"], "hash_mismatch")  # still verified
                c.close()
            self.assertEqual(os.listdir(served), [])

class DiskWorkOffTheLoop(unittest.TestCase):
    def test_hashing_a_big_partial_does_not_hold_up_another_client_on_the_same_loop(self):
        # One event loop; client A asks for the stat of a 1 GiB (sparse) partial, whose
        # prefix hash takes seconds. Client B, on the same loop, is served meanwhile: its
        # hello and ls complete while A's reply is still pending.
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--threads", "1") as srv:
            with open(os.path.join(d, ".big.sockit-part"), "wb") as f:
                f.truncate(GiB)
            a = Client.connect(srv)
            a.send({"op": "stat", "id": 1, "name": "big", "hash": "xxh3"})
            b = Client.connect(srv)
            head, entries = b.ls("")
            self.assertEqual((head["op"], entries), ("ls", []))
            a.sock.setblocking(False)
            try:
                pending = a.sock.recv(1)
            except BlockingIOError:
                pending = None
            self.assertIsNone(pending, "A's 1 GiB hash finished before B's ls: not a test")
            a.sock.setblocking(True)
            a.sock.settimeout(timeout(120))
            reply, _ = a.recv()
            self.assertEqual((reply["op"], reply["partial_size"]), ("stat", GiB))
            a.close()
            b.close()


if __name__ == "__main__":
    unittest.main()
