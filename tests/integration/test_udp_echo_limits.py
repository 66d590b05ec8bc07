"""sockit echo --udp against hostile senders (issue 11): no reply to privileged source ports
(where the classic echo/chargen loop lives, CVE-1999-0103) or to the server's own port,
replies limited per source address in datagrams (a small burst, then --udp-rate) and in
bytes (--udp-byte-rate) while other sources keep being served, and a datagram forged to
bounce between two echo servers dies after about a burst's worth of bounces.

Ordering, not sleeps: with --threads 1 the server reads one socket in order, so once a
marker datagram sent after the others is answered, every earlier one has been handled, and
a reply to any of them (loopback delivers a datagram before sendto returns) is already
waiting in its receiver's queue."""
import errno
import re
import socket
import struct
import time
import unittest

from sockit_test import Server, run, timeout

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
    """A source of its own whose answered ping proves the server handled all before it.
    Without a fixed `source`, each ping comes from another loopback address (127.3.x.y), so
    the pings never use up a bucket of their own nor share one with the test's senders."""

    def __init__(self, srv, source=None):
        self.srv = srv
        self.source = source
        self.sock = udp_from(source) if source else None
        self.n = 0

    def ping(self):
        self.n += 1
        msg = b"marker %d" % self.n
        sock = self.sock or udp_from(f"127.3.{self.n // 200}.{self.n % 200 + 1}")
        try:
            sock.sendto(msg, self.srv.address)
            data, addr = sock.recvfrom(65536)
        finally:
            if sock is not self.sock:
                sock.close()
        assert data == msg, (data, msg)
        return True

    def close(self):
        if self.sock:
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

    def test_no_reply_to_any_privileged_port(self):
        # Not only the five classic services: any port below 1024 may be one that answers.
        with Server("echo", "udp://127.0.0.1:0", "--threads", "1") as srv:
            loops = []
            for port in (1, 9, 53, 123, 514, 1023):
                try:
                    s = udp_from(OTHER, port)
                except OSError as e:  # taken by a real service, or not root
                    if e.errno in (errno.EADDRINUSE, errno.EACCES):
                        continue
                    raise
                s.sendto(b"would you loop?", srv.address)
                loops.append((port, s))
            if not loops:
                self.skipTest("cannot bind a privileged source port here")
            edge = udp_from(OTHER)  # ephemeral: answered, like 1024 and above
            edge.sendto(b"client", srv.address)
            marker = Marker(srv)
            self.assertTrue(marker.ping())
            self.assertEqual(pending(edge), [b"client"])
            for port, s in loops:
                self.assertEqual(pending(s), [], f"replied to source port {port}")
                s.close()
            edge.close()
            marker.close()
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            self.assertEqual(summary_count(err, "refused (loop ports)"), len(loops), err)

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
        rate, burst = 10, 5
        with Server("echo", "udp://127.0.0.1:0", "--threads", "1", "--udp-rate", str(rate),
                    "--udp-burst", str(burst)) as srv:
            marker = Marker(srv)
            flooder = udp_from("127.0.0.1")
            t0 = time.monotonic()
            replies, elapsed = self.flood(srv, marker, flooder, 100, 100)
            self.assertGreaterEqual(replies, burst, "the burst was not served")
            self.assertLessEqual(replies, burst + rate * elapsed + 1,
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
            self.assertLessEqual(both, burst + rate * (time.monotonic() - t0) + 1,
                                 "another port of the same address got a bucket of its own")
            flooder.close()
            second.close()
            marker.close()
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            self.assertGreaterEqual(summary_count(err, "rate-limited"), 100 - replies, err)

    def test_on_by_default_with_a_small_burst(self):
        with Server("echo", "udp://127.0.0.1:0", "--threads", "1") as srv:
            marker = Marker(srv)
            flooder = udp_from("127.0.0.1")
            flooder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            # The default: 16 at once, then 1000 a second. 100 sent at once (well within the
            # server's receive buffer) get about the burst, not all 100.
            replies, elapsed = self.flood(srv, marker, flooder, 100, 100)
            self.assertGreaterEqual(replies, 16)
            self.assertLessEqual(replies, 16 + 1000 * elapsed + 1,
                                 f"{replies} replies in {elapsed:.3f} s")
            self.assertLess(replies, 100, "every datagram of the burst was answered")
            # The rate still applies after the burst: a longer flood gets more.
            more, elapsed = self.flood(srv, marker, flooder, 1500, 50)
            self.assertLessEqual(more, 1000 * elapsed + 16 + 1, f"{more} in {elapsed:.3f} s")
            self.assertLess(more, 1500)
            flooder.close()
            marker.close()
            self.assertEqual(srv.stop()[0], 0)

    def test_bytes_are_limited_per_source(self):
        # 60000-byte datagrams: the default byte burst (128 KiB) holds two, then 1 MiB/s
        # (about 17 a second). Without a byte limit the 16-datagram burst alone would let a
        # victim get 16 x 64 KiB at once and 64 MiB/s after.
        size = 60000
        with Server("echo", "udp://127.0.0.1:0", "--threads", "1") as srv:
            marker = Marker(srv)
            flooder = udp_from("127.0.0.1")
            payload = b"x" * size
            replies = 0
            t0 = time.monotonic()
            for _ in range(30):  # one at a time: the receive buffers never overflow
                flooder.sendto(payload, srv.address)
                marker.ping()
                replies += len(pending(flooder))
            elapsed = time.monotonic() - t0
            self.assertGreaterEqual(replies, 2, "the byte burst was not served")
            self.assertLessEqual(replies * size, 128 * 1024 + (1 << 20) * elapsed,
                                 f"{replies} x {size} bytes in {elapsed:.3f} s")
            self.assertLess(replies, 30)
            # Another address has bytes of its own.
            other = udp_from(OTHER)
            other.sendto(payload, srv.address)
            marker.ping()
            self.assertEqual(pending(other), [payload])
            other.close()
            flooder.close()
            marker.close()
            rc, out, err = srv.stop()
            self.assertGreaterEqual(summary_count(err, "rate-limited"), 30 - replies, err)

    def test_byte_limit_options(self):
        # --udp-byte-rate 0 lifts the byte limit alone: 16 large datagrams (the datagram burst;
        # the default byte burst holds 2 of them), all answered.
        with Server("echo", "udp://127.0.0.1:0", "--threads", "1", "--udp-byte-rate", "0") as srv:
            marker = Marker(srv)
            flooder = udp_from("127.0.0.1")
            replies = 0
            for _ in range(16):
                flooder.sendto(b"y" * 60000, srv.address)
                marker.ping()
                replies += len(pending(flooder))
            self.assertEqual(replies, 16)
            flooder.close()
            marker.close()
            self.assertEqual(srv.stop()[0], 0)
        # A datagram over --udp-byte-burst is never answered; smaller ones are.
        with Server("echo", "udp://127.0.0.1:0", "--threads", "1", "--udp-byte-burst",
                    "1000") as srv:
            marker = Marker(srv)
            u = udp_from("127.0.0.1")
            u.sendto(b"z" * 1001, srv.address)
            u.sendto(b"z" * 1000, srv.address)
            marker.ping()
            self.assertEqual(pending(u), [b"z" * 1000])
            u.close()
            marker.close()
            self.assertEqual(srv.stop()[0], 0)
        for bad in (["--udp-burst", "0"], ["--udp-byte-burst", "0"], ["--udp-byte-rate", "-1"],
                    ["--udp-burst", "many"]):
            r = run("echo", "udp://127.0.0.1:0", *bad, timeout_s=10)
            self.assertEqual(r.returncode, 2, (bad, r.stderr))

    def test_zero_turns_the_limit_off(self):
        with Server("echo", "udp://127.0.0.1:0", "--threads", "1", "--udp-rate", "0") as srv:
            marker = Marker(srv)
            flooder = udp_from("127.0.0.1")
            replies, _ = self.flood(srv, marker, flooder, 1200, 50)
            self.assertEqual(replies, 1200)
            flooder.close()
            marker.close()
            self.assertEqual(srv.stop()[0], 0)


def udp_header(src_port, dst_port, payload):
    # Checksum 0: "no checksum", which IPv4 UDP allows; the kernel builds the IP header.
    return struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload


class ForgedLoop(unittest.TestCase):
    """One datagram sent to echo server A with its source forged as echo server B: A answers
    B, B answers A, and so on. Each answers the other only while its bucket for the other's
    address lasts, so the loop dies after about a burst of bounces (it was ~1000 each with
    the old burst of 1000)."""

    def bounce(self, *extra):
        try:
            raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
        except PermissionError:
            self.skipTest("a raw socket needs root (CAP_NET_RAW)")
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        with raw, Server("echo", "udp://127.0.0.1:0", "--threads", "1", *extra) as a, \
                Server("echo", "udp://127.0.0.1:0", "--threads", "1", *extra) as b:
            ports = {a.port, b.port}
            raw.sendto(udp_header(b.port, a.port, b"ping-pong"), ("127.0.0.1", 0))
            # The raw socket sees every UDP datagram on loopback: the loop has ended when none
            # passes between A and B for a while (a blocking read with a timeout, not a sleep).
            seen = 0
            quiet = timeout(0.5)
            deadline = time.monotonic() + timeout(20)
            raw.settimeout(quiet)
            while time.monotonic() < deadline:
                try:
                    pkt = raw.recv(65536)
                except socket.timeout:
                    break
                ihl = (pkt[0] & 0x0F) * 4
                sport, dport = struct.unpack("!HH", pkt[ihl:ihl + 4])
                if {sport, dport} == ports:
                    seen += 1
            else:
                self.fail(f"the loop still runs after {seen} datagrams")
            rc_a, _, err_a = a.stop()
            rc_b, _, err_b = b.stop()
            self.assertEqual((rc_a, rc_b), (0, 0), err_a + err_b)
            return summary_count(err_a, "datagrams"), summary_count(err_b, "datagrams"), seen

    def test_a_forged_datagram_bounces_about_a_burst(self):
        echoed_a, echoed_b, seen = self.bounce()
        self.assertGreaterEqual(echoed_a, 1, "the forged datagram never reached A")
        # 16 each, plus what the buckets refill at 1000/s while the loop runs (~0.1 token a
        # bounce on loopback); the old defaults gave ~1000 each.
        for name, n in (("A", echoed_a), ("B", echoed_b)):
            self.assertLessEqual(n, 48, f"{name} echoed {n} (seen {seen})")

    def test_the_burst_option_bounds_the_loop(self):
        echoed_a, echoed_b, seen = self.bounce("--udp-burst", "4")
        self.assertGreaterEqual(echoed_a, 1)
        self.assertLessEqual(echoed_a, 12, seen)
        self.assertLessEqual(echoed_b, 12, seen)


if __name__ == "__main__":
    unittest.main()
