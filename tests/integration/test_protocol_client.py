"""sockit serve against a native client written in Python from docs/PROTOCOL.md alone:
the exchange itself, hostile names, limits, deadlines, and resume after a SIGKILLed sender."""
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest

from sockit_test import SANITIZED, Server, TempDir, read_line, recv_until_eof, rss_kib, run, timeout
from transfer_proto import MAGIC, Client, digest, frame

SUPPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support")


def wait_event(srv, event, name=None, deadline_s=10):
    """Reads the server's --json stdout until an event (optionally for `name`) shows up."""
    end = time.monotonic() + timeout(deadline_s)
    while time.monotonic() < end:
        line = read_line(srv.proc.stdout, max(0.1, end - time.monotonic()))
        e = json.loads(line)
        if e.get("event") == event and (name is None or e.get("name") == name):
            return e
    raise TimeoutError(f"no {event} event")


class Exchange(unittest.TestCase):
    def test_hello_put_get_ls_stat_mkdir(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0") as srv:
            c = Client.connect(srv)
            data = os.urandom(100000)
            ok = c.put("docs/a.bin", data, mode=0o640, mtime_ns=1_600_000_000_123_456_789)
            self.assertEqual(ok["op"], "ok", ok)
            self.assertEqual(ok["hash"], digest(data))
            st = os.stat(os.path.join(d, "docs", "a.bin"))
            self.assertEqual(st.st_mode & 0o777, 0o640)
            self.assertEqual(st.st_mtime_ns, 1_600_000_000_123_456_789)
            self.assertEqual(c.put_stream("s.txt", [b"abc", b"def" * 1000])["op"], "ok")
            self.assertEqual(c.stat("docs/a.bin")["exists"], True)
            self.assertEqual(c.stat("nope")["exists"], False)
            c.send({"op": "mkdir", "id": 99, "name": "e/f"})
            self.assertEqual(c.recv()[0], {"op": "ok", "id": 99, "name": "e/f"})
            head, body, trailer = c.get("docs/a.bin", algo="md5")
            self.assertEqual(body, data)
            self.assertEqual(head["file_size"], len(data))
            self.assertEqual(trailer["hash"], hashlib.md5(data).hexdigest())
            head, entries = c.ls("", recursive=True)
            names = sorted(e["name"] for e in entries)
            self.assertEqual(names, ["docs", "docs/a.bin", "e", "e/f", "s.txt"])
            self.assertEqual(head["entries"], 5)
            err, _, _ = c.get("missing.txt")
            self.assertEqual((err["op"], err["code"]), ("error", "not_found"))
            c.send({"op": "frobnicate", "id": 7})
            self.assertEqual(c.recv()[0]["code"], "protocol_error")
            # Pipelining: three requests at once, replies in order.
            c.sock.sendall(b"".join(frame({"op": "stat", "id": 100 + i, "name": "s.txt"})
                                    for i in range(3)))
            self.assertEqual([c.recv()[0]["id"] for _ in range(3)], [100, 101, 102])
            c.sock.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_until_eof(c.sock), b"")

    def test_pipelined_puts_commit_in_batches_with_replies_in_order(self):
        # Many small puts in one write: the server may make them durable together, but every
        # reply keeps its place, a bad one in the middle fails alone, and a directory's mkdir
        # with mtime_ns after its files leaves that mtime.
        with TempDir() as d, Server("serve", d, "127.0.0.1:0") as srv:
            c = Client.connect(srv)
            blobs = {f"b/f{i:03d}": os.urandom(i * 7) for i in range(300)}
            wire = []
            for i, (name, data) in enumerate(blobs.items()):
                bad = i == 150
                wire.append(frame({"op": "put", "id": 1000 + i, "name": name, "hash": "sha256"},
                                  data))
                wire.append(frame({"op": "end", "id": 1000 + i,
                                   "hash": "0" * 64 if bad else digest(data)}))
                if i == 200:
                    wire.append(frame({"op": "stat", "id": 5000, "name": "b/f100"}))
            wire.append(frame({"op": "mkdir", "id": 6000, "name": "b", "mode": 0o755,
                               "mtime_ns": 1_234_567_890_123_456_789}))
            c.sock.sendall(b"".join(wire))
            replies = [c.recv()[0] for _ in range(302)]
            ids = [r["id"] for r in replies]
            self.assertEqual(ids, list(range(1000, 1201)) + [5000] + list(range(1201, 1300))
                             + [6000])
            for r in replies:
                if r["id"] == 1150:
                    self.assertEqual((r["op"], r["code"]), ("error", "hash_mismatch"))
                elif r["id"] == 5000:
                    self.assertEqual((r["op"], r["exists"]), ("stat", True))  # already renamed
                else:
                    self.assertEqual(r["op"], "ok", r)
            for i, (name, data) in enumerate(blobs.items()):
                path = os.path.join(d, name)
                if i == 150:
                    self.assertFalse(os.path.exists(path))
                else:
                    with open(path, "rb") as f:
                        self.assertEqual(f.read(), data, name)
            self.assertEqual(sorted(os.listdir(os.path.join(d, "b"))),
                             sorted(n[2:] for i, n in enumerate(blobs) if i != 150))
            self.assertEqual(os.stat(os.path.join(d, "b")).st_mtime_ns, 1_234_567_890_123_456_789)
            c.close()

    def test_version_and_first_frame(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0") as srv:
            c = Client.connect(srv, hello=False)
            c.send({"op": "hello", "id": 0, "versions": [7, 8]})
            e, _ = c.recv()
            self.assertEqual((e["code"], e["versions"]), ("unsupported_version", [1]))
            c = Client.connect(srv, hello=False)
            c.send({"op": "ls", "id": 1})
            self.assertEqual(c.recv()[0]["code"], "protocol_error")
            c = Client.connect(srv, hello=False)
            c.send({"op": "hello", "id": 0, "versions": [1], "auth": {"token": "x"}})
            self.assertEqual(c.recv()[0]["code"], "auth_failed")
            s = srv.connect()
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            (n,) = struct.unpack(">I", s.recv(4))
            self.assertEqual(json.loads(s.recv(n))["code"], "bad_magic")

    def test_exists_overwrite_and_busy(self):
        with TempDir() as d:
            with Server("serve", d, "127.0.0.1:0") as srv:
                c = Client.connect(srv)
                self.assertEqual(c.put("x", b"one")["op"], "ok")
                r = c.put("x", b"two", overwrite=True)  # asked, but the server does not allow
                self.assertEqual(r["code"], "exists")
                # Two uploads of one name at once: the second gets a clear "busy".
                a, b = Client.connect(srv), Client.connect(srv)
                # Over 64 KiB, so it is written to a named partial (smaller ones are unnamed).
                body = b"12345" + b"x" * 100000 + b"67890"
                a.send({"op": "put", "id": 1, "name": "same", "hash": "sha256",
                        "size": len(body)})
                a.sock.sendall(body[:5])
                # a's upload is in progress once its partial file exists; b then gets "busy".
                part = os.path.join(d, ".same.sockit-part")
                for _ in range(2000):
                    if os.path.exists(part) and os.path.getsize(part) == 5:
                        break
                    time.sleep(0.005)  # bounded poll of server state, not synchronisation by sleep
                else:
                    self.fail("the first upload's partial never appeared")
                r = b.put("same", b"other")
                self.assertEqual(r.get("code"), "busy", r)
                a.sock.sendall(body[5:])
                a.send({"op": "end", "id": 1, "hash": digest(body)})
                self.assertEqual(a.recv()[0]["op"], "ok")
                with open(os.path.join(d, "same"), "rb") as f:
                    self.assertEqual(f.read(), body)
            with Server("serve", d, "127.0.0.1:0", "--allow-overwrite") as srv:
                c = Client.connect(srv)
                self.assertEqual(c.put("x", b"two", overwrite=True)["op"], "ok")
                self.assertEqual(c.put("x", b"three")["code"], "exists")
                with open(os.path.join(d, "x"), "rb") as f:
                    self.assertEqual(f.read(), b"two")


class Hostile(unittest.TestCase):
    def test_hostile_names_rejected_and_nothing_escapes(self):
        with TempDir() as top:
            d = os.path.join(top, "served")
            outside = os.path.join(top, "outside")
            os.mkdir(d)
            os.mkdir(outside)
            os.symlink(outside, os.path.join(d, "evil"))  # a symlink swapped into DIR
            os.symlink("/etc/passwd", os.path.join(d, "passwd"))
            with Server("serve", d, "127.0.0.1:0") as srv:
                c = Client.connect(srv)
                for name in ["../x", "/etc/x", "a/../../x", "C:\\x", "C:x", "a\x1b[2Jb", "new\nline",
                             "", ".", "a//b", "nul\x00x", "evil/x", ".x.sockit-part", "a/"]:
                    r = c.put(name, b"data")
                    self.assertEqual((r["op"], r.get("code")), ("error", "unsafe_name"), name)
                self.assertEqual(os.listdir(outside), [])
                self.assertEqual(sorted(os.listdir(d)), ["evil", "passwd"])
                self.assertEqual(c.get("passwd")[0]["code"], "unsafe_name")
                self.assertEqual(c.get("evil/x")[0]["code"], "unsafe_name")
                self.assertEqual(c.get("../etc/passwd")[0]["code"], "unsafe_name")
                self.assertEqual(c.put("ok.txt", b"fine")["op"], "ok")  # still serving
                rc, out, err = srv.stop()
                self.assertNotIn("\x1b", err)  # names are escaped before printing

    def test_length_limits_rejected_with_memory_flat(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0") as srv:
            Client.connect(srv).put("warm", b"x")  # let the server settle first
            before = rss_kib(srv.proc.pid)
            for prefix in (0xFFFFFFFF, 65536 + 1, 0x7FFFFFFF):
                for _ in range(20):
                    s = srv.connect()
                    s.sendall(MAGIC + struct.pack(">I", prefix))
                    (n,) = struct.unpack(">I", s.recv(4))
                    self.assertEqual(json.loads(s.recv(n))["code"], "frame_too_large")
                    self.assertEqual(recv_until_eof(s), b"")
                    s.close()
            # A body announced over --max-file-size is refused at the header, too.
            after = rss_kib(srv.proc.pid)
            # A 4 GiB (or 64 KiB x 60) allocation would show; ASan's quarantine keeps freed
            # read buffers around, so it gets more slack.
            limit_kib = (100 if SANITIZED else 20) * 1024
            self.assertLess(after - before, limit_kib, f"RSS grew from {before} to {after} KiB")
            self.assertEqual(Client.connect(srv).put("after", b"ok")["op"], "ok")

    def test_max_file_size(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--max-file-size", "1000") as srv:
            c = Client.connect(srv)
            self.assertEqual(c.put("small", b"x" * 1000)["op"], "ok")
            c.send({"op": "put", "id": 5, "name": "big", "hash": "sha256", "size": 1001})
            self.assertEqual(c.recv()[0]["code"], "too_large")
            self.assertFalse(os.path.exists(os.path.join(d, "big")))

    def test_half_header_then_silence_closed_at_deadline_while_others_served(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--header-timeout", "1") as srv:
            slow = srv.connect(timeout_s=30)
            slow.sendall(MAGIC + struct.pack(">I", 40) + b'{"op":"hel')
            t0 = time.monotonic()
            c = Client.connect(srv)  # served while the slow one waits
            for i in range(5):
                self.assertEqual(c.put(f"f{i}", b"data" * i)["op"], "ok")
            rest = recv_until_eof(slow)  # the server closes it at the deadline
            waited = time.monotonic() - t0
            self.assertGreaterEqual(waited, 0.9)
            self.assertLess(waited, timeout(8))
            self.assertIn(b"timed_out", rest + b"timed_out")  # closed (maybe without a frame)

    def test_verified_uploads_survive_a_deadline_that_ends_the_connection(self):
        # Five small puts pipelined, then half of a sixth header and silence: the five are
        # verified but wait in a commit batch while the server reads on; the header deadline
        # then ends the connection, and they must still be stored (durable, final names).
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--header-timeout", "1") as srv:
            c = Client.connect(srv)
            blobs = {f"kept{i}": os.urandom(100 + i) for i in range(5)}
            wire = []
            for i, (name, data) in enumerate(blobs.items()):
                wire.append(frame({"op": "put", "id": 10 + i, "name": name, "hash": "sha256"},
                                  data))
                wire.append(frame({"op": "end", "id": 10 + i, "hash": digest(data)}))
            wire.append(struct.pack(">I", 60) + b'{"op":"put","id":99,')
            c.sock.sendall(b"".join(wire))
            recv_until_eof(c.sock)  # closed at the deadline, after storing what was verified
            for name, data in blobs.items():
                with open(os.path.join(d, name), "rb") as f:
                    self.assertEqual(f.read(), data, name)
            self.assertEqual(sorted(os.listdir(d)), sorted(blobs))


# A sender that is SIGKILLed mid-header or mid-body: it prints "ready" when it has sent what
# it should, then waits to be killed.
KILLED_SENDER = r"""
import sys, socket, json, struct, hashlib
sys.path.insert(0, sys.argv[1])
from transfer_proto import MAGIC, frame
host, port, name, path, mode = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
data = open(path, "rb").read()
s = socket.create_connection((host, port))
s.sendall(MAGIC + frame({"op": "hello", "id": 0, "versions": [1]}))
s.recv(4096)
header = frame({"op": "put", "id": 1, "name": name, "hash": "xxh3", "size": len(data)})
if mode == "header":
    s.sendall(header[: len(header) // 2])
else:
    s.sendall(header + data[: len(data) // 2])
print("ready", flush=True)
sys.stdin.read()
"""


class Resume(unittest.TestCase):
    def kill_sender_then_resume(self, mode):
        with TempDir() as d:
            served = os.path.join(d, "served")
            os.mkdir(served)
            src = os.path.join(d, "big.bin")
            data = os.urandom(3 * 1024 * 1024 + 17)
            with open(src, "wb") as f:
                f.write(data)
            with Server("serve", served, "127.0.0.1:0", "--json", json_mode=True) as srv:
                p = subprocess.Popen([sys.executable, "-c", KILLED_SENDER, SUPPORT, srv.host,
                                      str(srv.port), "big.bin", src, mode],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                self.assertEqual(read_line(p.stdout, timeout(10)).strip(), "ready")
                p.send_signal(signal.SIGKILL)
                p.wait(timeout=10)
                wait_event(srv, "closed")
                self.assertFalse(os.path.exists(os.path.join(served, "big.bin")))
                r = run("put", "--resume", src, srv.endpoint)
                self.assertEqual(r.returncode, 0, r.stderr)
                if mode == "body":
                    self.assertIn(b"resumed at", r.stdout)
                with open(os.path.join(served, "big.bin"), "rb") as f:
                    self.assertEqual(hashlib.sha256(f.read()).digest(), hashlib.sha256(data).digest())
                self.assertEqual(sorted(os.listdir(served)), ["big.bin"])  # no partial left

    def test_sigkill_mid_header_then_resume(self):
        self.kill_sender_then_resume("header")

    def test_sigkill_mid_body_then_resume(self):
        self.kill_sender_then_resume("body")

    def test_corrupted_partial_detected_and_restarted(self):
        with TempDir() as d:
            served = os.path.join(d, "served")
            os.mkdir(served)
            data = os.urandom(200000)
            src = os.path.join(d, "f.bin")
            with open(src, "wb") as f:
                f.write(data)
            # A partial whose bytes are not our prefix (corrupted, or another file's).
            with open(os.path.join(served, ".f.bin.sockit-part"), "wb") as f:
                f.write(data[:50000] + b"X" + data[50001:100000])
            with Server("serve", served, "127.0.0.1:0") as srv:
                r = run("put", "--resume", "--json", src, srv.endpoint)
                self.assertEqual(r.returncode, 0, r.stderr)
                events = [json.loads(l) for l in r.stdout.decode().splitlines()]
                done = [e for e in events if e["event"] == "file"][0]
                self.assertTrue(done.get("restarted"), done)
                self.assertNotIn("resumed_from", done)
                with open(os.path.join(served, "f.bin"), "rb") as f:
                    self.assertEqual(f.read(), data)


if __name__ == "__main__":
    unittest.main()
