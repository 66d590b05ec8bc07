"""sockit chat serve's flood control (issue 14): --rate takes a flooder's lines at a bounded
pace without holding anyone else; a member whose queue is full is dropped only once it has
read nothing for --drop-after (or fell twice --max-queue behind), and it is told why."""
import re
import threading
import time
import unittest

from sockit_test import LineSock, Server, line_socket as connect, timeout

MSG = re.compile(rb"^\[\d\d:\d\d:\d\d\] <(\S+)> m (\d+) ")


def lines_of(n, first=0, size=1000):
    pad = b"p" * (size - 20)
    return b"".join(b"m %d %s\n" % (i, pad) for i in range(first, first + n))


def send_in_background(sock, data):
    """sendall from a thread: the room takes a flood at its own pace, and the test's
    readers must keep reading meanwhile."""
    t = threading.Thread(target=sock.sendall, args=(data,), daemon=True)
    t.start()
    return t


class ChatFlood(unittest.TestCase):
    def test_the_rate_limit_slows_a_flooder_alone(self):
        """--rate 20 --burst 10: 50 lines in one packet reach everyone, in order, but the 40
        past the burst take at least two seconds; another member's line, said after the
        flood began, is not held behind it; nobody is dropped."""
        with Server("chat", "serve", "127.0.0.1:0", "--rate", "20", "--burst", "10") as srv:
            reader = LineSock(connect(srv))
            reader.line()
            flooder = LineSock(connect(srv))
            flooder.line()
            talker = LineSock(connect(srv))
            talker.line()
            reader.until(b"guest3 joined")
            start = time.monotonic()
            flooder.sock.sendall(b"".join(b"m %d flood\n" % i for i in range(50)))
            reader.until(b"<guest2> m 0 flood")  # the flood has begun
            talker.sock.sendall(b"not held behind the flood\n")
            got, talker_seen_at = [0], None
            while got[-1] != 49:
                line = reader.line()
                if b"not held behind the flood" in line:
                    talker_seen_at = len(got)
                m = MSG.match(line)
                if m:
                    self.assertEqual(m.group(1), b"guest2")
                    got.append(int(m.group(2)))
            elapsed = time.monotonic() - start
            self.assertEqual(got, list(range(50)))
            self.assertIsNotNone(talker_seen_at, "the talker's line never came")
            self.assertLess(talker_seen_at, 45, "the talker's line waited for the flood")
            # 40 lines past the burst at 20 a second: no faster than 2 s (less a token's
            # worth of rounding). A lower bound only: a loaded machine is slower, never faster.
            self.assertGreaterEqual(elapsed, 1.9)
            flooder.sock.sendall(b"/list\n")
            self.assertIn(b"3 in #lobby", flooder.until(b"in #lobby"))
            rc, out, err = srv.stop()
            self.assertIn("0 dropped", err)

    def test_a_flood_far_past_the_rate_is_dropped_as_excess_flood_and_told(self):
        """IRC's Excess Flood: 200 KB of short lines at --rate 10 would take hours to trickle
        out; the member, with far more waiting than the room holds, is dropped at once, is
        told why, and its address may come back."""
        with Server("chat", "serve", "127.0.0.1:0", "--rate", "10", "--burst", "5",
                    "--max-conns-per-ip", "3") as srv:
            reader = LineSock(connect(srv))
            reader.line()
            flooder = LineSock(connect(srv))
            flooder.line()
            reader.until(b"guest2 joined")
            send_in_background(flooder.sock, b"hi\n" * 70000)
            notice = reader.until(b"was dropped")
            self.assertRegex(notice, rb"\*\*\* guest2 was dropped \(excess flood\)$")
            tail = flooder.rest()
            self.assertIn(b"*** disconnected: excess flood", b"\n".join(tail))
            # Its place is free again: with the reader, two more from its address fit.
            for _ in range(2):
                again = LineSock(connect(srv))
                self.assertIn(b"welcome", again.line())
            rc, out, err = srv.stop()
            self.assertIn("1 dropped", err)
            self.assertIn("guest2 dropped from #lobby: excess flood", out)

    def test_a_full_member_is_kept_while_it_reads_and_dropped_with_a_goodbye_when_it_stops(self):
        """--max-queue 4 MiB, --drop-after 2 (s): a member that pauses while 6 MiB is said has a
        full queue, but resumes within the window and gets every line. When it pauses again
        for longer than the window it is dropped as not reading; once it reads, it finds
        whole lines, then its goodbye, then the end."""
        # The window stretches with the sanitizers (8 s there): the first pause lasts as long
        # as the flood takes to come out, plus half a second, and must stay inside it.
        args = ["chat", "serve", "127.0.0.1:0", "--rate", "0", "--max-queue", str(4 << 20),
                "--drop-after", str(timeout(2)), "--quiet"]
        with Server(*args) as srv:
            sender = LineSock(connect(srv))
            sender.line()
            fast = LineSock(connect(srv))
            fast.line()
            # A small receive buffer: the server's queue, not the kernel, holds the backlog.
            pausing = LineSock(connect(srv, rcvbuf=65536))
            pausing.line()
            fast.until(b"guest3 joined")
            sender.until(b"guest3 joined")
            n = 6 * 1024  # lines of 1000 bytes: 6 MiB, past --max-queue, short of twice it
            send_in_background(sender.sock, lines_of(n))
            # The fast reader keeps up with the room; the pausing one reads nothing until
            # it has all come out, and then half a second more (inside the window).
            fast.until(b"<guest1> m %d " % (n - 1))
            time.sleep(0.5)  # the pause under test, not a synchronisation
            pausing.sock.settimeout(timeout(20))
            got = []
            while not got or got[-1] != n - 1:
                m = MSG.match(pausing.line())
                if m:
                    got.append(int(m.group(2)))
            self.assertEqual(got, list(range(n)), "the member that resumed missed lines")

            # Second pause: past the window. The others hear it was dropped (not reading).
            send_in_background(sender.sock, lines_of(n, first=n))
            fast.until(b"<guest1> m %d " % (2 * n - 1))
            notice = sender.until(b"was dropped")
            self.assertRegex(notice, rb"\*\*\* guest3 was dropped \(not reading\)$")
            tail = pausing.rest()
            self.assertEqual(tail[-1], b"", "the last line was cut")
            self.assertRegex(tail[-2], rb"\*\*\* disconnected: you stopped reading")
            for line in tail[:-2]:
                self.assertRegex(line, MSG, "a line was cut by the drop")
            numbers = [int(MSG.match(l).group(2)) for l in tail[:-2]]
            self.assertEqual(numbers, list(range(n, n + len(numbers))))
            self.assertLess(len(numbers), n, "nothing waiting for it was discarded")
            rc, out, err = srv.stop()
            self.assertIn("1 dropped", err)

    def test_a_reader_slower_than_the_room_is_dropped_at_twice_the_queue_and_told(self):
        """A member that reads, but a little at a time, while the room says far more: its
        queue passes twice --max-queue and it is dropped as reading too slowly, however
        recently it read; the fast reader is unaffected."""
        args = ["chat", "serve", "127.0.0.1:0", "--rate", "0", "--max-queue", "65536",
                "--drop-after", "30"]
        with Server(*args) as srv:
            sender = LineSock(connect(srv))
            sender.line()
            fast = LineSock(connect(srv))
            fast.line()
            slow = connect(srv, rcvbuf=4096)
            fast.until(b"guest3 joined")
            stop = threading.Event()
            slow_got = [b""]

            def trickle():  # 1 KiB every 10 ms: about 100 KB/s
                try:
                    while not stop.is_set():
                        chunk = slow.recv(1024)
                        if not chunk:
                            return
                        slow_got[0] += chunk
                        stop.wait(0.01)
                except OSError:
                    pass

            t = threading.Thread(target=trickle)
            t.start()
            n = 4096  # 4 MiB of lines
            send_in_background(sender.sock, lines_of(n))
            fast.until(b"<guest1> m %d " % (n - 1))
            notice = sender.until(b"was dropped")
            self.assertRegex(notice, rb"guest3 was dropped \(reading too slowly\)$")
            stop.set()
            t.join(timeout(10))
            rc, out, err = srv.stop()
            self.assertIn("guest3 dropped from #lobby: reading too slowly", out)
            self.assertIn("1 dropped", err)


if __name__ == "__main__":
    unittest.main()
