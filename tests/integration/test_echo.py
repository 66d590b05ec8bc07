"""sockit echo against stdlib clients written like the seeds' clients."""
import signal
import socket
import os
import unittest

from sockit_test import Server, TempDir, recv_exactly, recv_until_eof, timeout


class TcpEcho(unittest.TestCase):
    def test_upper_like_bytes_upper(self):
        with Server("echo", "127.0.0.1:0", "--upper") as srv:
            c = srv.connect()
            # ASCII letters change; digits, punctuation and UTF-8 bytes do not.
            msg = "hello, 世界 ÿ abc-XYZ 123\x00\xff".encode("utf-8") + bytes(range(256))
            c.sendall(msg)
            self.assertEqual(recv_exactly(c, len(msg)), msg.upper())
            c.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_until_eof(c), b"")  # the server closes when we do
            c.close()
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            self.assertIn("1 accepted", err)


if __name__ == "__main__":
    unittest.main()
