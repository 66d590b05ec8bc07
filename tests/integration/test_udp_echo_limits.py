"""sockit echo --udp against hostile senders (issue 11): no reply to the source ports of the
classic echo/chargen loop (CVE-1999-0103) or to the server's own port, and replies limited
per source address (--udp-rate) while other sources keep being served.

Ordering, not sleeps: with --threads 1 the server reads one socket in order, so once a
marker datagram sent after the others is answered, every earlier one has been handled, and
a reply to any of them (loopback delivers a datagram before sendto returns) is already
waiting in its receiver's queue."""
import errno
import re
import socket
import time
import unittest

from sockit_test import Server, timeout

OTHER = "127.0.0.2"  # also loopback on Linux: a second source address


def udp_from(source, port=0, timeout_s=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout(timeout_s))
    s.bind((source, port))
    return s


def pending(sock):
    """Datagrams already queued on `sock`, read without waiting."""
    got = []
    saved = sock.gettimeout()
    sock.setblocking(False)
    try:
        while True:
            got.append(sock.recv(65536))
    except BlockingIOError:
        return got
    finally:
        sock.settimeout(saved)


class Marker:
    """A source of its own whose answered ping proves the server handled all before it."""

    def __init__(self, srv, source=OTHER):
        self.srv = srv
        self.sock = udp_from(source)
        self.n = 0

    def ping(self):
        self.n += 1
        msg = b"marker %d" % self.n
        self.sock.sendto(msg, self.srv.address)
        data, addr = self.sock.recvfrom(65536)
        assert data == msg, (data, msg)
        return True

    def close(self):
        self.sock.close()


def summary_count(err, label):
    m = re.search(r"(\d+) " + re.escape(label), err)
    return int(m.group(1)) if m else None


class LoopPorts(unittest.TestCase):
    def test_no_reply_to_echo_chargen_daytime_qotd_time_ports(self):
        with Server("echo", "udp://127.0.0.1:0", "--threads", "1") as srv:
            loops = []
            for port in (7, 19, 13, 17, 37):
                try:
                    s = udp_from("127.0.0.1", port)
                except OSError as e:  # taken by a real service, or not root
                    if e.errno in (errno.EADDRINUSE, errno.EACCES):
                        continue
                    raise
                s.sendto(b"would you loop?", srv.address)
                loops.append((port, s))
            if not any(p in (7, 19) for p, _ in loops):
                self.skipTest("cannot bind source ports 7 or 19 here")
            marker = Marker(srv, "127.0.0.1")  # an ordinary port, same address: answered
            self.assertTrue(marker.ping())
            for port, s in loops:
                self.assertEqual(pending(s), [], f"replied to source port {port}")
                s.close()
            marker.close()
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            self.assertEqual(summary_count(err, "refused (loop ports)"), len(loops), err)
            self.assertEqual(summary_count(err, "datagrams"), 1, err)

    def test_no_reply_to_the_servers_own_port(self):
        with Server("echo", "udp://127.0.0.1:0", "--threads", "1") as srv:
            # Another address, the server's own port number: another echo server on that
            # port would answer the reply, and the two would bounce it forever.
            twin = udp_from(OTHER, srv.port)
            twin.sendto(b"twin", srv.address)
            marker = Marker(srv)
            self.assertTrue(marker.ping())
            self.assertEqual(pending(twin), [], "replied to a source on the server's own port")
            twin.close()
            marker.close()
            rc, out, err = srv.stop()
            self.assertEqual(summary_count(err, "refused (loop ports)"), 1, err)


class RateLimit(unittest.TestCase):
    def flood(self, srv, marker, flooder, count, batch):
        """Sends `count` datagrams from `flooder` in batches (each confirmed handled by a
        marker ping, so the server's receive buffer never overflows); returns the replies
        the flooder got and the seconds it took."""
        replies = 0
        t0 = time.monotonic()
        for start in range(0, count, batch):
            for i in range(start, min(count, start + batch)):
                flooder.sendto(b"f%d" % i, srv.address)
            marker.ping()
            replies += len(pending(flooder))
        return replies, time.monotonic() - t0

    def test_a_flood_gets_the_buckets_worth_and_another_source_is_served(self):
        rate = 10
        with Server("echo", "udp://127.0.0.1:0", "--threads", "1", "--udp-rate", str(rate)) as srv:
            marker = Marker(srv)
            flooder = udp_from("127.0.0.1")
            t0 = time.monotonic()
            replies, elapsed = self.flood(srv, marker, flooder, 100, 100)
            self.assertGreaterEqual(replies, rate, "the burst was not served")
            self.assertLessEqual(replies, rate + rate * elapsed + 1,
                                 f"{replies} replies in {elapsed:.3f} s at {rate}/s")
            # The other source was served all along, and still is.
            for _ in range(5):
                self.assertTrue(marker.ping())
            # The flooder's other ports share its address's bucket.
            second = udp_from("127.0.0.1")
            for i in range(20):
                second.sendto(b"s%d" % i, srv.address)
            marker.ping()
            both = replies + len(pending(second))
            self.assertLessEqual(both, rate + rate * (time.monotonic() - t0) + 1,
                                 "another port of the same address got a bucket of its own")
            flooder.close()
            second.close()
            marker.close()
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            self.assertGreaterEqual(summary_count(err, "rate-limited"), 100 - replies, err)

    def test_on_by_default(self):
        with Server("echo", "udp://127.0.0.1:0", "--threads", "1") as srv:
            marker = Marker(srv)
            flooder = udp_from("127.0.0.1")
            flooder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            replies, elapsed = self.flood(srv, marker, flooder, 1500, 50)
            # The default: 1000 a second, as many at once.
            self.assertGreaterEqual(replies, 1000)
            self.assertLessEqual(replies, 1000 + 1000 * elapsed + 1,
                                 f"{replies} replies in {elapsed:.3f} s")
            self.assertLess(replies, 1500, "every datagram of the flood was answered")
            flooder.close()
            marker.close()
            self.assertEqual(srv.stop()[0], 0)

    def test_zero_turns_the_limit_off(self):
        with Server("echo", "udp://127.0.0.1:0", "--threads", "1", "--udp-rate", "0") as srv:
            marker = Marker(srv)
            flooder = udp_from("127.0.0.1")
            replies, _ = self.flood(srv, marker, flooder, 1200, 50)
            self.assertEqual(replies, 1200)
            flooder.close()
            marker.close()
            self.assertEqual(srv.stop()[0], 0)


if __name__ == "__main__":
    unittest.main()
