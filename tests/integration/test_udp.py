"""sockit echo --udp against the seeds' UDP client (sendto/recvfrom), and connect --udp."""
import os
import socket
import unittest

from sockit_test import SOCKIT, Server, timeout, udp_socket

MESSAGE = "hello, 世界 ÿ abc-XYZ 123".encode("utf-8") + bytes(range(256))


class UdpEcho(unittest.TestCase):
    def test_upper_like_bytes_upper(self):
        with Server("echo", "127.0.0.1:0", "--udp", "--upper") as srv:
            self.assertTrue(srv.endpoint.startswith("udp://127.0.0.1:"), srv.endpoint)
            # The seeds' client: an unconnected socket, sendto then recvfrom.
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.settimeout(timeout(5))
            u.sendto(MESSAGE, srv.address)
            data, addr = u.recvfrom(65536)
            self.assertEqual(data, MESSAGE.upper())
            self.assertEqual(addr, srv.address)
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            self.assertIn("1 datagrams", err)

    def test_udp_prefix_selects_udp(self):
        with Server("echo", "udp://127.0.0.1:0") as srv:
            self.assertTrue(srv.endpoint.startswith("udp://"), srv.endpoint)
            u = udp_socket(srv)
            u.send(b"prefix")
            self.assertEqual(u.recv(100), b"prefix")

    def test_empty_and_largest_datagrams(self):
        with Server("echo", "127.0.0.1:0", "--udp", "--upper") as srv:
            u = udp_socket(srv)
            u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            for size in (0, 1, 1472, 1473, 65507):
                payload = (b"ab\xc3\xa9" * (size // 4 + 1))[:size]
                u.send(payload)
                # Ask for more than was sent: the reply must never be longer.
                back = u.recv(70000)
                self.assertEqual(len(back), size)
                self.assertEqual(back, payload.upper())
            rc, out, err = srv.stop()
            self.assertIn("5 datagrams", err)

    # These senders all share 127.0.0.1 and go faster than its default limits (16 at once,
    # then 1000 a second); the limits have tests of their own (test_udp_echo_limits).
    def test_each_sender_gets_its_own_datagrams(self):
        with Server("echo", "127.0.0.1:0", "--udp", "--udp-rate", "0") as srv:
            senders = [udp_socket(srv) for _ in range(8)]
            for rnd in range(20):
                for i, s in enumerate(senders):
                    s.send(b"sender %d round %d" % (i, rnd))
                for i, s in enumerate(senders):
                    self.assertEqual(s.recv(100), b"sender %d round %d" % (i, rnd))

    def test_binary_datagrams_byte_exact(self):
        with Server("echo", "127.0.0.1:0", "--udp", "--udp-rate", "0") as srv:
            u = udp_socket(srv)
            for _ in range(50):
                payload = os.urandom(1000)
                u.send(payload)
                self.assertEqual(u.recv(2000), payload)

    def test_unix_endpoint_with_udp_is_a_clear_error(self):
        from sockit_test import run
        r = run("echo", "unix:/tmp/nope.sock", "--udp", timeout_s=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("UDP", r.stderr.decode())


class ConnectUdp(unittest.TestCase):
    def test_each_stdin_read_is_a_datagram_and_replies_printed(self):
        import subprocess
        with Server("echo", "127.0.0.1:0", "--udp", "--upper") as srv:
            p = subprocess.run([SOCKIT, "connect", "--udp", "-w", "0.5",
                                f"127.0.0.1:{srv.port}"],
                               input=b"hello udp \xc3\xa9", capture_output=True,
                               timeout=timeout(20))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, b"HELLO UDP \xc3\xa9")

    def test_nobody_listening_is_a_clear_error(self):
        import subprocess
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # the port answers with ICMP port unreachable
        p = subprocess.run([SOCKIT, "connect", "--udp", "-w", "2", f"127.0.0.1:{port}"],
                           input=b"anyone?", capture_output=True, timeout=timeout(20))
        self.assertEqual(p.returncode, 1)
        self.assertIn("refused", p.stderr.decode().lower())

    def test_udp_prefix_on_connect(self):
        import subprocess
        with Server("echo", "udp://127.0.0.1:0") as srv:
            p = subprocess.run([SOCKIT, "connect", "-w", "0.5", srv.endpoint],
                               input=b"via prefix", capture_output=True, timeout=timeout(20))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, b"via prefix")


if __name__ == "__main__":
    unittest.main()
