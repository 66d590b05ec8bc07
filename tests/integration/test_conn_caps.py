"""--max-conns-per-ip on every stream server (echo, chat serve, serve): one address cannot
hold more than N live connections, others are not affected, a closed one frees its slot;
and the defaults that bound what one peer can hold (issue 11)."""
import json
import re
import socket
import unittest

from sockit_test import Server, TempDir, closed_by_peer, recv_exactly, run, timeout
from transfer_proto import MAGIC, Client

OTHER = "127.0.0.2"  # also loopback on Linux: a second peer address on this machine


def connect_from(srv, source, timeout_s=5):
    """A TCP client of `srv` whose source address is `source` (any 127.x.y.z)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout(timeout_s))
    s.bind((source, 0))
    s.connect(srv.address)
    return s


def echoes(sock, payload):
    sock.sendall(payload)
    return recv_exactly(sock, len(payload)) == payload


def reaches_eof(sock, limit=1000):
    """Reads (bounded) until the server closes; False if it does not within the timeout."""
    try:
        for _ in range(limit):
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        pass
    return False


def default_shown(value):
    """CLI11 shows a default as `UINT [32]`, or `UINT:NUMBER>=0=32` after a check."""
    return r"\S*[=\[]" + value + r"\]?(?:\s|$)"


def retry_until_served(try_once, attempts=200):
    """The server may not have seen a client's close yet when the test moves on: retry a
    bounded number of times (each attempt is a blocking exchange, not a sleep)."""
    for _ in range(attempts):
        try:
            if try_once():
                return True
        except (EOFError, ConnectionResetError, BrokenPipeError):
            pass
    return False


class EchoCap(unittest.TestCase):
    def test_over_the_cap_closed_others_served_and_a_close_frees_a_slot(self):
        with Server("echo", "127.0.0.1:0", "--max-conns-per-ip", "3", "--threads", "2",
                    "--json", json_mode=True) as srv:
            kept = []
            for i in range(3):
                c = srv.connect()
                self.assertTrue(echoes(c, b"k%d" % i))  # admitted for sure
                kept.append(c)
            extra = srv.connect()
            self.assertTrue(closed_by_peer(extra, 5), "a 4th client from 127.0.0.1 stayed open")
            # Another address is not affected, and the three are still served.
            other = connect_from(srv, OTHER)
            self.assertTrue(echoes(other, b"from another address"))
            for c in kept:
                self.assertTrue(echoes(c, b"still"))
            kept.pop().close()

            def newcomer():
                c = srv.connect()
                try:
                    return echoes(c, b"n")
                finally:
                    c.close()
            self.assertTrue(retry_until_served(newcomer), "a closed client's slot was not freed")
            for c in kept + [extra, other]:
                c.close()
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            events = [json.loads(line) for line in out.splitlines()]
            rejected = [e for e in events if e["event"] == "rejected"]
            self.assertGreaterEqual(len(rejected), 1)
            self.assertTrue(all("max-conns-per-ip" in e["detail"] for e in rejected), rejected)
            self.assertTrue(all(e["peer"].startswith("tcp://127.0.0.1:") for e in rejected))
            self.assertEqual(events[-1]["rejected"], len(rejected))

    def test_default_cap_is_32_per_address(self):
        with Server("echo", "127.0.0.1:0") as srv:
            kept = []
            for i in range(32):
                c = srv.connect()
                self.assertTrue(echoes(c, b"%02d" % i), f"client {i} under the default cap")
                kept.append(c)
            extra = srv.connect()
            self.assertTrue(closed_by_peer(extra, 5), "the default allows a 33rd client")
            other = connect_from(srv, OTHER)
            self.assertTrue(echoes(other, b"other"))
            for c in kept + [extra, other]:
                c.close()
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            self.assertIn("1 rejected", err)

    def test_unix_clients_are_not_capped_per_address(self):
        with TempDir() as d, Server("echo", f"unix:{d}/e.sock", "--max-conns-per-ip", "1") as srv:
            clients = [srv.connect() for _ in range(3)]
            for i, c in enumerate(clients):
                self.assertTrue(echoes(c, b"unix %d" % i))
            for c in clients:
                c.close()
            self.assertEqual(srv.stop()[0], 0)


class ChatCap(unittest.TestCase):
    @staticmethod
    def line(sock):
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(1)
            if not chunk:
                raise EOFError(buf)
            buf += chunk
        return buf.decode()

    def welcomed(self, sock):
        return "welcome to #lobby" in self.line(sock)

    def test_over_the_cap_told_why_others_join_and_a_quit_frees_a_slot(self):
        with Server("chat", "serve", "127.0.0.1:0", "--max-conns-per-ip", "2", "--quiet") as srv:
            a, b = srv.connect(), srv.connect()
            self.assertTrue(self.welcomed(a))
            self.assertTrue(self.welcomed(b))
            c = srv.connect()
            self.assertRegex(self.line(c),
                             r"\*\*\* too many connections from your address \(2\), try again")
            self.assertTrue(closed_by_peer(c, 5))
            other = connect_from(srv, OTHER)
            self.assertTrue(self.welcomed(other))
            b.sendall(b"/quit\n")
            self.assertTrue(reaches_eof(b), "a member that quit was not closed")

            def newcomer():
                s = srv.connect()
                try:
                    return self.welcomed(s)
                finally:
                    s.close()
            self.assertTrue(retry_until_served(newcomer), "a quit member's slot was not freed")
            for s in (a, c, other):
                s.close()
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            self.assertRegex(err, r"[1-9]\d* rejected")

    def test_default_cap_is_32_per_address(self):
        with Server("chat", "serve", "127.0.0.1:0", "--quiet") as srv:
            members = []
            for i in range(32):
                s = srv.connect()
                self.assertTrue(self.welcomed(s), f"member {i} under the default cap")
                members.append(s)
            extra = srv.connect()
            self.assertIn("too many connections from your address (32)", self.line(extra))
            other = connect_from(srv, OTHER)
            self.assertTrue(self.welcomed(other))
            for s in members + [extra, other]:
                s.close()
            self.assertEqual(srv.stop()[0], 0)


class ServeCap(unittest.TestCase):
    @staticmethod
    def hello(sock):
        c = Client(sock)
        c.sock.sendall(MAGIC)
        c.send({"op": "hello", "id": 0, "versions": [1], "client": "py", "auth": None})
        return c, c.recv()[0]

    def test_over_the_cap_gets_an_error_frame_and_others_are_served(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "--max-conns-per-ip", "2",
                                    "--json", json_mode=True) as srv:
            a, b = Client.connect(srv), Client.connect(srv)
            refused = Client(srv.connect())
            reply, _ = refused.recv()  # sent at accept, before any hello
            self.assertEqual(reply.get("code"), "too_many_connections", reply)
            self.assertIn("your address", reply.get("message", ""))
            self.assertTrue(closed_by_peer(refused.sock, 5))
            other, reply = self.hello(connect_from(srv, OTHER))
            self.assertEqual(reply["op"], "hello", reply)
            self.assertEqual(other.put("from-other", b"x")["op"], "ok")
            self.assertEqual(a.put("from-a", b"y")["op"], "ok")
            b.close()

            def newcomer():
                s = srv.connect()
                try:
                    return self.hello(s)[1]["op"] == "hello"
                finally:
                    s.close()
            self.assertTrue(retry_until_served(newcomer), "a closed client's slot was not freed")
            for c in (a, other, refused):
                c.close()
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            events = [json.loads(line) for line in out.splitlines()]
            rejected = [e for e in events if e["event"] == "rejected"]
            self.assertGreaterEqual(len(rejected), 1)
            self.assertTrue(all("per address" in e["detail"] for e in rejected), rejected)

    def test_default_cap_is_32_per_address(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0") as srv:
            clients = [Client.connect(srv) for _ in range(32)]
            refused = Client(srv.connect())
            self.assertEqual(refused.recv()[0].get("code"), "too_many_connections")
            for c in clients + [refused]:
                c.close()
            self.assertEqual(srv.stop()[0], 0)


class HelpAndUsage(unittest.TestCase):
    def help_of(self, *cmd):
        r = run(*cmd, "--help", timeout_s=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        return re.sub(r"\s+", " ", r.stdout.decode())

    def test_every_server_lists_the_cap_with_its_default(self):
        for cmd in (("echo",), ("chat", "serve"), ("serve",)):
            text = self.help_of(*cmd)
            self.assertRegex(text, r"--max-conns-per-ip " + default_shown("32"), cmd)

    def test_echo_and_chat_defaults_in_help(self):
        echo = self.help_of("echo")
        self.assertRegex(echo, r"--max-conns " + default_shown("1024"))
        self.assertRegex(echo, r"--idle-timeout " + default_shown("300"))
        self.assertRegex(echo, r"--udp-rate " + default_shown("1000"))
        self.assertRegex(echo, r"--udp-burst " + default_shown("16"))
        self.assertRegex(echo, r"--udp-byte-rate " + default_shown("1048576"))
        self.assertRegex(echo, r"--udp-byte-burst " + default_shown("131072"))
        self.assertRegex(self.help_of("chat", "serve"), r"--idle-timeout " + default_shown("3600"))

    def test_negative_cap_is_a_usage_error(self):
        for cmd in (["echo", "127.0.0.1:0"], ["chat", "serve", "127.0.0.1:0"],
                    ["serve", "/tmp", "127.0.0.1:0"]):
            r = run(*cmd, "--max-conns-per-ip", "-1", timeout_s=10)
            self.assertEqual(r.returncode, 2, (cmd, r.stderr))
            self.assertIn(b"--max-conns-per-ip: must be 0 (no limit) or more", r.stderr)


if __name__ == "__main__":
    unittest.main()
