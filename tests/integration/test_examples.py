"""The seeds' programs rewritten in examples/ talk to each other and to Python peers."""
import os
import socket
import subprocess
import unittest

from sockit_test import read_line, timeout

EXAMPLES = os.environ.get("SOCKIT_EXAMPLES_DIR", "")


def example(name):
    return os.path.join(EXAMPLES, name)


@unittest.skipUnless(EXAMPLES and os.path.exists(example("tcp_server")), "examples not built")
class SeedExamples(unittest.TestCase):
    @staticmethod
    def reap(p):
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)

    def start(self, name):
        p = subprocess.Popen([example(name), "127.0.0.1:0"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(self.reap, p)
        line = read_line(p.stdout, timeout(10))
        self.assertTrue(line.startswith("listening on "), line)
        return p, line.split("listening on ")[1].strip().split("://")[1]

    def test_tcp_client_against_tcp_server(self):
        _, addr = self.start("tcp_server")
        out = subprocess.run([example("tcp_client"), addr], input=b"hello\n\nworld 123\n",
                             capture_output=True, timeout=timeout(10))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(b"HELLO\n", out.stdout)
        self.assertIn(b"WORLD 123\n", out.stdout)

    def test_tcp_server_serves_clients_one_after_another(self):
        _, addr = self.start("tcp_server")
        host, port = addr.rsplit(":", 1)
        for word in (b"first", b"second"):
            with socket.create_connection((host, int(port)), timeout=timeout(5)) as c:
                c.sendall(word)
                self.assertEqual(c.recv(1024), word.upper())

    def test_udp_client_against_udp_server(self):
        _, addr = self.start("udp_server")
        out = subprocess.run([example("udp_client"), addr], input=b"datagram\n",
                             capture_output=True, timeout=timeout(10))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(b"DATAGRAM\n", out.stdout)

    def test_two_way_chat(self):
        server, addr = self.start("chat_server")
        client = subprocess.Popen([example("chat_client"), addr], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(self.reap, client)
        client.stdin.write(b"hi server\n")
        client.stdin.flush()
        self.assertIn("client: hi server", read_line(server.stdout, timeout(10)))
        server.stdin.write(b"hi client\n")
        server.stdin.flush()
        # The client's user leaves after the answer: communicate() closes its stdin.
        out, _ = client.communicate(timeout=timeout(10))
        self.assertIn(b"server: hi client", out)


if __name__ == "__main__":
    unittest.main()
