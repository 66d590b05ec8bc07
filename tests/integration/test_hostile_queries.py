"""sockit serve against hostile *queries* (issue 11 items 2 and 7, and the CPU bounds): a peer
that pipelines listings and reads nothing, root listings that must work every time, FIFOs in
the served directory, and prefix hashes that must be fair between clients and stop when the
peer is gone. Python is the hostile peer and the oracle."""
import json
import os
import selectors
import socket
import ssl
import struct
import threading
import time
import unittest

from sockit_test import (SANITIZED, TEST_TOKEN, Server, TempDir, cpu_seconds, rss_kib, run,
                         timeout)
from transfer_proto import MAGIC, Client, digest, frame

# ASan keeps freed memory in a quarantine (256 MiB by default), which an RSS bound would
# measure instead of what the server holds; the sanitizer run gets a small one.
SERVER_ENV = dict(os.environ)
if SANITIZED:
    SERVER_ENV["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                                  ":quarantine_size_mb=4:thread_local_quarantine_size_kb=64")


def wait_idle(pid, deadline_s, window_s=0.5):
    """Samples the process's CPU time in windows until one passes with (almost) none used,
    within deadline_s (scaled): a measurement of whether it is still working, bounded in time.
    Returns True once idle, False if it kept working until the deadline. Windows of 0.5 s, so
    that a busy server on a loaded machine still shows well over 20 ms of CPU in one."""
    end = time.monotonic() + timeout(deadline_s)
    while time.monotonic() < end:
        before = cpu_seconds(pid)
        time.sleep(window_s)
        if cpu_seconds(pid) - before <= 0.02:
            return True
    return False



def make_tree(d, dirs=6, files=100):
    """dirs x files empty files below d (and the dirs): dirs * (files + 1) entries. Long
    names (~250-byte entry lines), so that listings are large without many files to create."""
    for i in range(dirs):
        sub = os.path.join(d, f"dir{i:02d}")
        os.mkdir(sub)
        for j in range(files):
            open(os.path.join(sub, f"file-{j:06d}-" + "x" * 140), "wb").close()
    return dirs * (files + 1)


def hello(sock):
    # Over TLS (sockit_test.OVER_TLS) the server requires the test token.
    auth = {"token": TEST_TOKEN} if isinstance(sock, ssl.SSLSocket) else None
    sock.sendall(MAGIC + frame({"op": "hello", "id": 0, "versions": [1], "auth": auth}))


class Backpressure(unittest.TestCase):
    def test_pipelined_listings_from_a_peer_that_reads_nothing_stay_bounded(self):
        # The review's remote out-of-memory: many `ls -r` in one write, nothing read. The
        # server must stop at its bound of unsent replies (the old one built every listing:
        # ~60 MB here, 148 MiB and growing in the review), keep serving others, and give the
        # hostile peer every reply, correct and in order, once it does read.
        with TempDir() as d:
            tree = os.path.join(d, "tree")
            os.mkdir(tree)
            total = make_tree(tree)
            with open(os.path.join(d, "data.bin"), "wb") as f:
                f.write(os.urandom(50000))
            with Server("serve", d, "127.0.0.1:0", env=SERVER_ENV) as srv:
                pid = srv.proc.pid
                warm = Client.connect(srv)
                self.assertEqual(len(warm.ls("tree", recursive=True)[1]), total)
                base = rss_kib(pid)
                hostile = srv.connect(timeout_s=30)
                hostile.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
                hello(hostile)
                requests, expect = [], []
                # Listings first (on the old server a get's body flushed everything queued
                # before it, which hid the growth), then a mix of every other reply.
                for i in range(1, 451):
                    if i <= 400:
                        requests.append({"op": "ls", "id": i, "path": "tree", "recursive": True})
                        expect.append("ls")
                    elif i % 10 == 3:
                        requests.append({"op": "stat", "id": i, "name": "data.bin"})
                        expect.append("stat")
                    elif i % 10 == 6:
                        requests.append({"op": "get", "id": i, "name": "data.bin"})
                        expect.append("file")
                    elif i % 10 == 9:
                        requests.append({"op": "frobnicate", "id": i})
                        expect.append("error")
                    else:
                        requests.append({"op": "ls", "id": i, "path": "tree", "recursive": True})
                        expect.append("ls")
                hostile.sendall(b"".join(frame(r) for r in requests))
                # Meanwhile another client is served in full.
                other = Client.connect(srv)
                for _ in range(3):
                    self.assertEqual(len(other.ls("tree", recursive=True)[1]), total)
                    self.assertTrue(other.stat("data.bin")["exists"])
                    head, body, _ = other.get("data.bin")
                    self.assertEqual(len(body), 50000)
                self.assertTrue(wait_idle(pid, 20), "the server kept working")
                grown_mib = (rss_kib(pid) - base) / 1024
                self.assertLess(grown_mib, 24, f"RSS grew by {grown_mib:.1f} MiB")
                # Now the hostile peer reads: every reply, in order, complete.
                r = Client(hostile)
                self.assertEqual(r.recv()[0]["op"], "hello")
                for i, kind in enumerate(expect, start=1):
                    head, body = r.recv()
                    self.assertEqual((head["id"], head["op"]), (i, kind), head)
                    if kind == "ls":
                        last, lines = r.recv_listing((head, body))
                        self.assertEqual(len(lines), total)
                        if i == 1:
                            names = {x["name"] for x in lines}
                            self.assertIn("tree/dir05/file-000099-" + "x" * 140, names)
                            self.assertEqual(len(names), total)
                    elif kind == "file":
                        self.assertEqual(len(body), 50000)
                        self.assertEqual(r.recv()[0]["op"], "end")
                hostile.shutdown(socket.SHUT_WR)
                self.assertEqual(hostile.recv(1), b"")

    def test_pipelined_stats_and_errors_are_held_back_too(self):
        # Not only listings: replies that echo a long name or op (stat, error) pile up as
        # well when nothing is read. The old server read all ~55 MB of requests and queued
        # every reply; now sending stalls once ~1 MiB of replies waits.
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", env=SERVER_ENV) as srv:
            pid = srv.proc.pid
            self.assertFalse(Client.connect(srv).stat("x")["exists"])
            base = rss_kib(pid)
            s = srv.connect()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            hello(s)
            name = "/".join(["n" * 200] * 19)
            pair = (frame({"op": "stat", "id": 1, "name": name}) +
                    frame({"op": "x" * 3000, "id": 2}))
            blob = memoryview(pair * 8000)
            s.setblocking(False)
            sent = 0
            sel = selectors.DefaultSelector()
            sel.register(s, selectors.EVENT_WRITE)
            # Send until done, or until the socket stays unwritable while the server is idle
            # (not merely slow on a loaded machine): then it has stopped reading us.
            end = time.monotonic() + timeout(30)
            while sent < len(blob) and time.monotonic() < end:
                if sel.select(timeout(1)):
                    try:
                        sent += s.send(blob[sent:sent + (1 << 20)])
                    except BlockingIOError:
                        pass
                elif wait_idle(pid, 0.5):
                    break
            sel.close()
            self.assertTrue(wait_idle(pid, 20), "the server kept working")
            grown_mib = (rss_kib(pid) - base) / 1024
            self.assertLess(grown_mib, 24, f"RSS grew by {grown_mib:.1f} MiB")
            self.assertLess(sent, len(blob), "the server read every request")
            self.assertFalse(Client.connect(srv).stat("y")["exists"])
            s.setblocking(True)
            s.settimeout(timeout(10))
            r = Client(s)
            self.assertEqual(r.recv()[0]["op"], "hello")
            for _ in range(200):
                head, _ = r.recv()
                self.assertEqual((head["op"], head["id"], head["name"]), ("stat", 1, name))
                head, _ = r.recv()
                self.assertEqual((head["op"], head["id"], head["code"]),
                                 ("error", 2, "protocol_error"))
            s.close()

    def test_long_listing_comes_in_pieces_that_clients_join(self):
        # Over one piece (256 KiB) the listing is several frames; the sockit client and the
        # Python one (written from docs/PROTOCOL.md) both join them.
        with TempDir() as d:
            total = make_tree(d, dirs=3, files=400)
            with Server("serve", d, "127.0.0.1:0") as srv:
                c = Client.connect(srv)
                c.send({"op": "ls", "id": 5, "path": "", "recursive": True})
                r = c
                frames = 0
                lines = []
                while True:
                    head, body = r.recv()
                    self.assertEqual((head["op"], head["id"]), ("ls", 5))
                    self.assertLessEqual(len(body), 256 * 1024 + 4096)
                    lines += body.split(b"\n")[:-1]
                    frames += 1
                    if not head.get("more"):
                        break
                self.assertGreater(frames, 1)
                self.assertEqual(len({json.loads(x)["name"] for x in lines}), total)
                p = run("ls", "-r", "--json", f"127.0.0.1:{srv.port}")
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(len(p.stdout.splitlines()), total)


class Truncation(unittest.TestCase):
    def test_a_subtree_that_cannot_be_opened_marks_the_listing_truncated(self):
        # With few descriptors the walk cannot open every level of a deep tree (it runs out,
        # or reaches the listings' share of them): what it left out must be said
        # ("truncated"), not silently dropped.
        import resource

        def few_descriptors():
            resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))

        with TempDir() as d:
            depth = 100  # under the 128 levels a listing enters
            os.makedirs(os.path.join(d, *["d"] * depth))
            with Server("serve", d, "127.0.0.1:0", "--threads", "1",
                        preexec_fn=few_descriptors) as srv:
                c = Client.connect(srv)
                head, entries = c.ls("", recursive=True)
                self.assertEqual(head["op"], "ls", head)
                self.assertLess(len(entries), depth)
                self.assertTrue(head.get("truncated"), (head, len(entries)))
                # Still serving.
                self.assertEqual(c.put("after", b"x")["op"], "ok")


class RootListing(unittest.TestCase):
    def test_root_lists_every_time_sequentially_and_concurrently(self):
        with TempDir() as d:
            for i in range(500):
                open(os.path.join(d, f"f{i:03d}"), "wb").close()
            with Server("serve", d, "127.0.0.1:0") as srv:
                c = Client.connect(srv)
                self.assertEqual(len(c.ls("")[1]), 500)
                self.assertEqual(len(c.ls("")[1]), 500)  # the old server: 0
                self.assertEqual(len(Client.connect(srv).ls("")[1]), 500)
                counts, errors = [], []

                def lister():
                    try:
                        k = Client.connect(srv)
                        for _ in range(3):
                            k.send({"op": "ls", "id": 1, "path": "", "recursive": False})
                        r = k
                        counts.extend(len(r.recv_listing()[1]) for _ in range(3))
                    except Exception as e:  # reported below
                        errors.append(e)
                threads = [threading.Thread(target=lister) for _ in range(6)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout(30))
                self.assertEqual(errors, [])
                self.assertEqual(counts, [500] * 18)
                p = run("ls", f"127.0.0.1:{srv.port}")
                self.assertEqual(len(p.stdout.splitlines()), 500, p.stderr)


class Fifos(unittest.TestCase):
    def test_fifo_and_partial_fifo_are_refused_at_once_and_the_server_keeps_serving(self):
        with TempDir() as d:
            os.mkfifo(os.path.join(d, "pipe"))
            os.mkfifo(os.path.join(d, ".data.bin.sockit-part"))  # a partial that is a FIFO
            with open(os.path.join(d, "ok.txt"), "wb") as f:
                f.write(b"fine\n")
            with Server("serve", d, "127.0.0.1:0", "-t", "2") as srv:
                # Several connections, so that every event loop gets one.
                clients = [Client.connect(srv) for _ in range(4)]
                for c in clients:
                    c.sock.settimeout(timeout(5))
                    err, _, _ = c.get("pipe")
                    self.assertEqual((err["op"], err["code"]), ("error", "not_a_file"), err)
                    st = c.stat("pipe")
                    self.assertEqual((st["exists"], st["type"]), (True, "other"), st)
                    st = c.stat("data.bin")
                    self.assertEqual((st["exists"], st["partial_size"]), (False, 0), st)
                    err, _, _ = c.get("data.bin", offset=3, prefix_hash="00")
                    self.assertEqual(err["code"], "not_found", err)
                    entries = {e["name"]: e["type"] for e in c.ls("")[1]}
                    self.assertEqual(entries, {"pipe": "other", "ok.txt": "file"})
                other = Client.connect(srv)
                head, body, _ = other.get("ok.txt")
                self.assertEqual(body, b"fine\n")


class PrefixHashing(unittest.TestCase):
    BIG = 64 << 30  # sparse: SHA-256 of it takes the hashing thread tens of seconds

    def big_partial(self, d):
        with open(os.path.join(d, ".big.bin.sockit-part"), "wb") as f:
            f.truncate(self.BIG)

    @staticmethod
    def reset(sock):
        # A peer that is gone: its process died with our data unread (an RST), the way a
        # close() with unread replies ends too. A plain FIN is shutdown(SHUT_WR), which
        # asks for the replies (docs/PROTOCOL.md section 4), so it is not cancelled.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    def test_a_peer_that_leaves_does_not_keep_a_core_hashing(self):
        with TempDir() as d:
            self.big_partial(d)
            with Server("serve", d, "127.0.0.1:0") as srv:
                pid = srv.proc.pid
                for pipelined in (1, 20):
                    s = srv.connect()
                    hello(s)
                    s.sendall(b"".join(frame({"op": "stat", "id": i, "name": "big.bin",
                                              "hash": "sha256"}) for i in range(pipelined)))
                    self.assertFalse(wait_idle(pid, 0.5), "the server is not hashing")
                    self.reset(s)
                    self.assertTrue(wait_idle(pid, 3), "still hashing for a peer that left")
                c = Client.connect(srv)
                self.assertFalse(c.stat("nothing")["exists"])
                code, _, _ = srv.stop()
                self.assertEqual(code, 0)

    def test_one_clients_huge_prefix_does_not_hold_up_anothers(self):
        with TempDir() as d:
            self.big_partial(d)
            small = os.urandom(300000)
            with open(os.path.join(d, ".small.bin.sockit-part"), "wb") as f:
                f.write(small)
            with open(os.path.join(d, "file.bin"), "wb") as f:
                f.write(small)
            with Server("serve", d, "127.0.0.1:0", "-t", "1") as srv:
                hog = srv.connect()
                hello(hog)
                hog.sendall(b"".join(frame({"op": "stat", "id": i, "name": "big.bin",
                                            "hash": "sha256"}) for i in range(5)))
                self.assertFalse(wait_idle(srv.proc.pid, 0.5), "the server is not hashing")
                c = Client.connect(srv)
                c.sock.settimeout(timeout(5))  # the old server: tens of seconds
                for _ in range(3):
                    st = c.stat("small.bin")
                    self.assertEqual(st["partial_size"], len(small))
                    self.assertEqual(st["partial_hash"], digest(small))
                    head, body, trailer = c.get("file.bin", offset=1000,
                                                prefix_hash=digest(small[:1000]))
                    self.assertEqual((head["offset"], head["restarted"]), (1000, False), head)
                    self.assertEqual(body, small[1000:])
                    self.assertEqual(trailer["hash"], digest(small))
                    self.assertEqual(len(c.ls("")[1]), 1)
                    # put --resume with nothing left to send: the prefix is hashed again.
                    c.send({"op": "put", "id": 50, "name": "small.bin", "hash": "sha256",
                            "offset": len(small), "prefix_hash": digest(small)}, b"")
                    c.send({"op": "end", "id": 50, "hash": digest(small)})
                    ok = c.recv()[0]
                    self.assertEqual(ok["op"], "ok", ok)
                    os.rename(os.path.join(d, "small.bin"),
                              os.path.join(d, ".small.bin.sockit-part"))
                self.reset(hog)
                self.assertTrue(wait_idle(srv.proc.pid, 3))


if __name__ == "__main__":
    unittest.main()
