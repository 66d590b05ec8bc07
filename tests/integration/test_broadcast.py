"""Broadcast and multicast (the seeds' 广播): `connect --udp --broadcast`, `connect --udp` to a
group (--iface, --multicast-ttl) and `listen --multicast GROUP:PORT [--iface]`.

Between two machines: two network namespaces joined by a veth pair, made and removed by this
test (the network rule: traffic only inside namespaces the test created). A broadcast from A
reaches a `listen -u` in B and B's reply, from its own address, is printed by A; without
--broadcast the send fails saying so; an IPv4 and an IPv6 group datagram reach the member
listeners in B, and a listener of another group on the same port hears nothing of it (the
first thing it hears is a marker sent to its own group afterwards). Needs root (ip netns);
skipped, saying so, without it. The checks of the options and a group on loopback run
without root."""
import json
import os
import pty
import select
import subprocess
import time
import unittest

from sockit_test import SOCKIT, parse_endpoint, read_line, run, timeout

TAG = f"sb{os.getpid() % 100000}"
NS_A, NS_B = f"{TAG}A", f"{TAG}B"
IF_A, IF_B = f"{TAG}a", f"{TAG}b"
A_IP, B_IP, BROADCAST = "10.231.8.1", "10.231.8.2", "10.231.8.255"
A_IP6, B_IP6 = "fd00:231:8::1", "fd00:231:8::2"


def ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)


def can_make_namespaces():
    if os.geteuid() != 0:
        return False
    r = ip("netns", "add", f"{TAG}probe")
    if r.returncode != 0:
        return False
    ip("netns", "del", f"{TAG}probe")
    return True


class Processes:
    """Every process a test starts, stopped by tearDown."""

    def setUp(self):
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
            try:
                p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()

    def start(self, args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE):
        p = subprocess.Popen(args, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
        self.procs.append(p)
        return p

    def listener(self, args, json_mode=False):
        """A `sockit listen ...` (args after `listen`, with a prefix such as ip netns exec)
        and the port of its readiness line (stderr, printed once bound and joined)."""
        p = self.start(args)
        line = read_line(p.stderr, timeout(10))
        if json_mode:
            event = json.loads(line)
            self.assertEqual(event["event"], "listening", line)
            endpoint = event["endpoint"]
        else:
            self.assertTrue(line.startswith("listening on udp://"), line)
            endpoint = line.split()[2]
        return p, endpoint, parse_endpoint(endpoint)[2]


@unittest.skipUnless(can_make_namespaces(), "needs root and ip netns")
class TwoMachines(Processes, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        steps = [
            ("netns", "add", NS_A), ("netns", "add", NS_B),
            ("link", "add", IF_A, "type", "veth", "peer", "name", IF_B),
            ("link", "set", IF_A, "netns", NS_A),
            ("link", "set", IF_B, "netns", NS_B),
            ("-n", NS_A, "addr", "add", f"{A_IP}/24", "broadcast", BROADCAST, "dev", IF_A),
            ("-n", NS_B, "addr", "add", f"{B_IP}/24", "broadcast", BROADCAST, "dev", IF_B),
            ("-n", NS_A, "link", "set", IF_A, "up"),
            ("-n", NS_B, "link", "set", IF_B, "up"),
            ("-n", NS_A, "link", "set", "lo", "up"),
            ("-n", NS_B, "link", "set", "lo", "up"),
        ]
        for s in steps:
            r = ip(*s)
            if r.returncode != 0:
                cls.tearDownClass()
                raise AssertionError(f"ip {' '.join(s)}: {r.stderr}")
        # nodad: usable at once as the source of what A sends to an IPv6 group.
        cls.ipv6 = all(
            ip("-n", ns, "addr", "add", f"{addr}/64", "dev", dev, "nodad").returncode == 0
            for ns, addr, dev in ((NS_A, A_IP6, IF_A), (NS_B, B_IP6, IF_B)))
        # The link carries packets once the kernel has activated it (asynchronously, after
        # `up`): until then its queue discipline is noop, which drops them.
        end = time.monotonic() + timeout(10)
        for ns, dev in ((NS_A, IF_A), (NS_B, IF_B)):
            while True:
                out = ip("-n", ns, "-o", "link", "show", "dev", dev).stdout
                if "state UP" in out and "qdisc noop" not in out:
                    break
                if time.monotonic() > end:
                    cls.tearDownClass()
                    raise AssertionError(f"{dev} did not come up: {out}")
                time.sleep(0.01)

    @classmethod
    def tearDownClass(cls):
        ip("netns", "del", NS_A)
        ip("netns", "del", NS_B)

    def in_b(self, *args, **kw):
        return self.listener(["ip", "netns", "exec", NS_B, SOCKIT, "listen", *args], **kw)

    def send_from_a(self, *args, data, wait="0"):
        return subprocess.run(["ip", "netns", "exec", NS_A, SOCKIT, "connect", "-u", "-w", wait,
                               *args], input=data, capture_output=True, timeout=timeout(30))

    def test_a_broadcast_reaches_a_listener_and_its_reply_from_anywhere_is_printed(self):
        reply, w = os.pipe()
        os.write(w, b"pong\n")  # B's reply, sent once the first datagram picks the peer
        os.close(w)
        b = self.start(["ip", "netns", "exec", NS_B, SOCKIT, "listen", "-u", "-v", "0.0.0.0:0"],
                       stdin=reply)
        os.close(reply)
        line = read_line(b.stderr, timeout(10))
        port = parse_endpoint(line.split()[2])[2]
        r = self.send_from_a("-b", "-v", f"{BROADCAST}:{port}", data=b"ping\n",
                             wait=str(timeout(2)))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read_line(b.stdout, timeout(10)), "ping\n")
        self.assertIn(f"datagram from udp://{A_IP}:", read_line(b.stderr, timeout(10)))
        # The reply comes from B's own address, not the broadcast address: still printed.
        self.assertEqual(r.stdout, b"pong\n")
        self.assertIn(f"datagram from udp://{B_IP}:{port} (5 bytes)".encode(), r.stderr)
        self.assertIn(f"sending to udp://{BROADCAST}:{port} (broadcast)".encode(), r.stderr)

    def test_the_limited_broadcast_leaves_by_the_named_interface(self):
        b, _, port = self.in_b("-u", "0.0.0.0:0")
        # A has no default route: 255.255.255.255 goes out only where --iface says.
        r = self.send_from_a("-b", f"255.255.255.255:{port}", data=b"x\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"unreachable", r.stderr)
        r = self.send_from_a("-b", "--iface", IF_A, f"255.255.255.255:{port}", data=b"everyone\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read_line(b.stdout, timeout(10)), "everyone\n")

    def test_without_broadcast_the_send_fails_and_says_why(self):
        b, _, port = self.in_b("-u", "0.0.0.0:0")
        r = self.send_from_a(f"{BROADCAST}:{port}", data=b"lost\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"Permission denied", r.stderr)
        self.assertIn(b"--broadcast", r.stderr)
        r = self.send_from_a(f"{B_IP}:{port}", data=b"marker\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read_line(b.stdout, timeout(10)), "marker\n")  # nothing came before

    def check_groups(self, group1, group2, iface_args, zoned_group1=None):
        """A member of group1 hears group1's datagrams and a member of group2 on the same
        port does not: the first thing it hears is the marker sent to group2 afterwards."""
        l1, _, port = self.in_b("--multicast", "-v", f"{group1}:0", "--iface", IF_B)
        l2, endpoint, _ = self.in_b("--multicast", "--json", f"{group2}:{port}", "--iface", IF_B,
                                    json_mode=True)
        self.assertEqual(parse_endpoint(endpoint)[2], port)
        r = self.send_from_a(*iface_args, f"{group1}:{port}", data=b"to-group1\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.send_from_a(*iface_args, f"{group2}:{port}", data=b"marker\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        if zoned_group1:  # the interface named by the address's zone instead of --iface
            r = self.send_from_a(zoned_group1.format(port=port), data=b"second\n")
        else:
            r = self.send_from_a(*iface_args, f"{group1}:{port}", data=b"second\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read_line(l1.stdout, timeout(10)), "to-group1\n")
        self.assertEqual(read_line(l2.stdout, timeout(10)), "marker\n")
        self.assertEqual(read_line(l1.stdout, timeout(10)), "second\n")  # not the marker
        self.assertIn("datagram from udp://", read_line(l1.stderr, timeout(10)))

    def test_an_ipv4_group_reaches_its_members_only(self):
        self.check_groups("239.255.8.1", "239.255.8.2", ["--iface", IF_A, "--multicast-ttl", "1"])

    def test_an_ipv6_link_scope_group_reaches_its_members_only(self):
        if not self.ipv6:
            self.skipTest("no IPv6 in the namespaces")
        self.check_groups("[ff12::8:1]", "[ff12::8:2]", ["--iface", IF_A],
                          zoned_group1=f"[ff12::8:1%{IF_A}]:{{port}}")

    def test_a_group_without_a_route_or_interface_is_a_clear_error(self):
        r = subprocess.run(["ip", "netns", "exec", NS_B, SOCKIT, "listen", "--multicast",
                            "239.255.8.9:0"], capture_output=True, timeout=timeout(30))
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"cannot join 239.255.8.9", r.stderr)
        self.assertIn(b"name the interface", r.stderr)


class OnLoopback(Processes, unittest.TestCase):
    """What needs no second machine: option checks, and a group joined on lo."""

    def fails(self, *args):
        r = run(*args)
        self.assertNotEqual(r.returncode, 0, args)
        return r.stderr.decode()

    def test_help_shows_the_options(self):
        out = run("connect", "--help").stdout.decode()
        for flag in ("--broadcast", "--multicast-ttl", "--iface"):
            self.assertIn(flag, out)
        out = run("listen", "--help").stdout.decode()
        self.assertIn("--multicast", out)
        self.assertIn("--iface", out)

    def test_what_is_not_a_group_is_refused(self):
        self.assertIn("127.0.0.1 is not a multicast group", self.fails("listen", "--multicast",
                                                                       "127.0.0.1:0"))
        self.assertIn("GROUP:PORT", self.fails("listen", "--multicast", ":0"))
        self.assertIn("--iface is for --multicast", self.fails("listen", "-u", "--iface", "lo",
                                                               "127.0.0.1:0"))
        self.assertIn("no network interface called 'nosuch0'",
                      self.fails("listen", "--multicast", "--iface", "nosuch0", "239.255.9.1:0"))
        self.assertIn("--multicast only receives", self.fails("listen", "--multicast", "-k",
                                                              "239.255.9.1:0"))

    def test_sender_options_are_checked(self):
        self.assertIn("--multicast-ttl is for a multicast group",
                      self.fails("connect", "-u", "--multicast-ttl", "2", "127.0.0.1:9"))
        self.assertIn("255", self.fails("connect", "-u", "--multicast-ttl", "256", "239.1.1.1:9"))
        self.assertIn("--iface is for a multicast group or --broadcast",
                      self.fails("connect", "-u", "--iface", "lo", "127.0.0.1:9"))
        self.assertIn("no network interface called 'nosuch0'",
                      self.fails("connect", "-u", "--iface", "nosuch0", "239.1.1.1:9"))
        self.assertIn("are for UDP", self.fails("connect", "--broadcast", "127.0.0.1:9"))
        self.assertIn("IPv6 has no broadcast", self.fails("connect", "-u", "-b", "[::1]:9"))

    def test_a_group_on_loopback_and_its_bytes_escaped_on_a_terminal(self):
        master, slave = pty.openpty()
        try:
            p = self.start([SOCKIT, "listen", "--multicast", "239.255.9.1:0", "--iface", "lo"],
                           stdout=slave)
            line = read_line(p.stderr, timeout(10))
            self.assertTrue(line.startswith("listening on udp://239.255.9.1:"), line)
            port = parse_endpoint(line.split()[2])[2]
            r = run("connect", "-u", "-w", "0", "--iface", "lo", f"239.255.9.1:{port}",
                    input=b"\x1b[2Jhi\x07\n")
            self.assertEqual(r.returncode, 0, r.stderr)
            got = b""
            end = time.monotonic() + timeout(10)
            while b"\n" not in got and time.monotonic() < end:
                if select.select([master], [], [], max(0, end - time.monotonic()))[0]:
                    got += os.read(master, 4096)
            self.assertEqual(got, b"\\x1b[2Jhi\\x07\r\n")  # the terminal's onlcr adds \r
        finally:
            os.close(master)
            os.close(slave)


if __name__ == "__main__":
    unittest.main()
