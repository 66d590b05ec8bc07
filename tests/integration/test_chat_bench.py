"""`sockit bench chat`: counts every delivery once, in order, against sockit's room (TCP,
TLS and WebSocket members) and against a Python relay that writes each line in pieces
(markers split across reads)."""
import json
import socket
import subprocess
import threading
import unittest

from sockit_test import SOCKIT, Server, read_line, timeout


def bench(endpoint, *args):
    r = subprocess.run([SOCKIT, "bench", "chat", endpoint, "--json", *args],
                       capture_output=True, text=True, timeout=timeout(60))
    lines = [json.loads(line) for line in r.stdout.strip().splitlines()]
    # With --json, a line when sending begins and one when the deliveries are in (drivers
    # sample the server's CPU there), then the result.
    assert [line["event"] for line in lines] == ["sending", "drained", "result"], r.stdout
    return r.returncode, lines[-1], r.stderr


class SplittingRelay:
    """A minimal chat relay: a greeting, then every line to every other client, each line
    written in two pieces cut at a different place each time (inside the marker too), with
    notices between them that the generator must skip."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.clients, self.lock, self.cut = [], threading.Lock(), 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                c.sendall(b"*** welcome\n")
                for other in self.clients:
                    other.sendall(b"*** someone joined ~B:not:a:message\n")
                self.clients.append(c)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        while True:
            try:
                chunk = c.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self.lock:
                    if c in self.clients:
                        self.clients.remove(c)
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                out = b"[00:00:00] <x> " + line + b"\n"
                with self.lock:
                    self.cut = (self.cut + 7) % len(out)
                    for other in self.clients:
                        if other is c:
                            continue
                        try:
                            other.sendall(out[:self.cut])
                            other.sendall(out[self.cut:])
                        except OSError:
                            pass

    def close(self):
        self.listener.close()
        with self.lock:
            for c in self.clients:
                c.close()


class WebRoom:
    """`chat serve --web`: the room's TCP endpoint and its web listener's HOST:PORT, both
    read from the listening line ("listening on tcp://H:P (web page http://H:P2/)")."""

    def __enter__(self):
        self.proc = subprocess.Popen([SOCKIT, "chat", "serve", "127.0.0.1:0", "--web",
                                      "127.0.0.1:0", "--quiet"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            line = read_line(self.proc.stdout, timeout(10))
            assert line.startswith("listening on ") and "web page http://" in line, line
            self.endpoint = line.split()[2]
            self.web = line.split("web page http://", 1)[1].split("/", 1)[0]
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.communicate(timeout=timeout(30))


class ChatBench(unittest.TestCase):
    def check(self, result, clients):
        self.assertEqual(result["ready"], clients)
        self.assertGreater(result["sent"], 0)
        self.assertEqual(result["expected"], result["sent"] * (clients - 1))
        self.assertEqual(result["delivered"], result["expected"])
        self.assertEqual(result["lost"], 0)
        self.assertEqual(result["out_of_order"], 0)
        self.assertEqual(result["disconnected"], 0)
        self.assertGreater(result["latency_us"]["p99"], 0)

    def test_against_sockit_room(self):
        with Server("chat", "serve", "127.0.0.1:0", "--quiet") as srv:
            for threads in ("1", "2"):
                rc, r, err = bench(srv.endpoint, "--clients", "30", "--senders", "3", "--rate",
                                   "40", "--duration", "1", "--threads", threads)
                self.assertEqual(rc, 0, err)
                self.check(r, 30)
                self.assertEqual(r["sent"], 3 * 40)

    def test_against_a_tls_room(self):
        with Server("chat", "serve", "--tls", "127.0.0.1:0", "--quiet") as srv:
            rc, r, err = bench(srv.endpoint, "--tls", "--clients", "20", "--senders", "2",
                               "--rate", "40", "--duration", "1")
            self.assertEqual(rc, 0, err)
            self.check(r, 20)

    def test_websocket_members(self):
        with WebRoom() as room:
            # --web HOST:PORT, then the ws:// URL form with two client loops.
            for target, args in ((room.web, ["--web"]),
                                 (f"ws://{room.web}/ws", ["--threads", "2"])):
                rc, r, err = bench(target, *args, "--clients", "20", "--senders", "2", "--rate",
                                   "40", "--duration", "1")
                self.assertEqual(rc, 0, err)
                self.check(r, 20)
                self.assertEqual(r["members"], "websocket")
                self.assertEqual(r["sent"], 2 * 40)
                self.assertEqual(r["error"], "")
            # The same room's TCP members, for comparison: the same counts.
            rc, r, err = bench(room.endpoint, "--clients", "20", "--senders", "2", "--rate", "40",
                               "--duration", "1")
            self.assertEqual(rc, 0, err)
            self.check(r, 20)
            self.assertEqual(r["members"], "tcp")

    def test_websocket_upgrade_refused(self):
        with WebRoom() as room:
            # Not the WebSocket path: the server's 404 is the reason given, and nothing arrives.
            rc, r, err = bench(f"ws://{room.web}/nope", "--clients", "3", "--senders", "1",
                               "--duration", "0.2", "--drain", "0")
            self.assertEqual(rc, 1, err)
            self.assertEqual(r["ready"], 0)
            self.assertEqual(r["connected"], 0)
            self.assertIn("not 101 Switching Protocols: HTTP/1.1 404", r["error"])
            # A plain TCP room member's port is no WebSocket server: no answer head, an end.
            rc, r, err = bench(room.endpoint, "--web", "--clients", "2", "--senders", "1",
                               "--duration", "0.2", "--drain", "0")
            self.assertEqual(rc, 1, err)
            self.assertEqual(r["ready"], 0)
            self.assertTrue(r["error"].startswith("upgrade: "), r["error"])

    def test_markers_split_across_reads_and_false_markers(self):
        relay = SplittingRelay()
        try:
            rc, r, err = bench(f"127.0.0.1:{relay.port}", "--clients", "8", "--senders", "2",
                               "--rate", "50", "--duration", "1", "--size", "90")
            self.assertEqual(rc, 0, err)
            self.check(r, 8)
        finally:
            relay.close()


if __name__ == "__main__":
    unittest.main()
