"""sockit frag, probe, host, resolve and reverse end to end, checked against independent
sources: arithmetic done here, sockets this test opened on loopback, `ip -j addr`, and Python's
socket.gethostname/gethostbyname_ex/gethostbyaddr."""
import json
import random
import shutil
import socket
import subprocess
import threading
import unittest

from sockit_test import run, timeout


def js(*args):
    p = run(*args)
    assert p.returncode == 0, (args, p.stderr)
    return json.loads(p.stdout)


class Frag(unittest.TestCase):
    def test_the_seeds_example(self):
        j = js("frag", "--size", "5000", "--mtu", "1500", "--json")
        self.assertEqual([f["total_length"] for f in j["fragments"]], [1500, 1500, 1500, 560])
        self.assertEqual([f["offset_field"] for f in j["fragments"]], [0, 185, 370, 555])
        self.assertEqual([f["more_fragments"] for f in j["fragments"]], [True, True, True, False])
        self.assertEqual([f["ethernet_frame"] for f in j["fragments"]], [1518, 1518, 1518, 578])
        self.assertEqual(j["tcp_mss"], 1460)
        human = run("frag", "--size", "5000", "--mtu", "1500").stdout.decode()
        for n in ("1500", "560", "4440", "555", "MSS"):
            self.assertIn(n, human)

    def test_random_plans_reassemble(self):
        rng = random.Random(7)
        for _ in range(150):
            v6 = rng.random() < 0.3
            mtu = rng.randrange(1280 if v6 else 68, 9001)
            header = 40 + 8 * rng.randrange(3) if v6 else 20 + 4 * rng.randrange(11)
            size = rng.randrange(header, 65535 + (40 if v6 else 0) + 1)
            args = ["frag", "--size", str(size), "--mtu", str(mtu), "--header", str(header), "--json"]
            j = js(*args, *(["-6"] if v6 else []))
            frags = j["fragments"]
            if size <= mtu:
                self.assertEqual(len(frags), 1)
                self.assertEqual(frags[0]["total_length"], size)
                continue
            extra = 8 if v6 else 0
            offset = 0
            for i, f in enumerate(frags):
                self.assertLessEqual(f["total_length"], mtu, args)
                self.assertEqual(f["offset_bytes"], offset, args)
                self.assertEqual(f["offset_bytes"] % 8, 0)
                self.assertEqual(f["total_length"], header + extra + f["payload"])
                self.assertEqual(f["more_fragments"], i + 1 < len(frags))
                if i + 1 < len(frags):
                    # Every fragment but the last is as full as 8-byte units allow.
                    self.assertEqual(f["payload"], (mtu - header - extra) // 8 * 8, args)
                offset += f["payload"]
            self.assertEqual(offset, size - header, args)

    def test_dont_fragment(self):
        j = js("frag", "--size", "5000", "--mtu", "1500", "--df", "--json")
        self.assertTrue(j["dropped"])
        self.assertEqual(j["fragments"], [])
        self.assertIn("Fragmentation Needed", run("frag", "-s", "5000", "--df").stdout.decode())


class Probe(unittest.TestCase):
    def test_tcp_open_and_closed_ports(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        closed = socket.socket()  # bound but not listening: connect() is refused
        closed.bind(("127.0.0.1", 0))
        try:
            po, pc = listener.getsockname()[1], closed.getsockname()[1]
            p = run("probe", "127.0.0.1", f"{po},{pc}", "--json", "--timeout", "2")
            self.assertEqual(p.returncode, 0, p.stderr)
            rows = [json.loads(l) for l in p.stdout.decode().splitlines()]
            states = {r["port"]: r["state"] for r in rows if "port" in r}
            self.assertEqual(states, {po: "open", pc: "closed"})
            self.assertEqual(rows[-1]["event"], "summary")
            self.assertEqual((rows[-1]["open"], rows[-1]["closed"]), (1, 1))
            # Only closed ports: exit status 1, like nc -z.
            self.assertEqual(run("probe", "127.0.0.1", str(pc)).returncode, 1)
            human = run("probe", "127.0.0.1", f"{pc},{po}").stdout.decode()
            self.assertIn(f"{po}/tcp open", human)
            self.assertNotIn(f"{pc}/tcp", human)
        finally:
            listener.close()
            closed.close()

    def test_ranges_are_concurrent_and_bounded(self):
        listeners = []
        for _ in range(5):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen()
            listeners.append(s)
        try:
            ports = sorted(s.getsockname()[1] for s in listeners)
            lo, hi = ports[0], ports[0] + 300
            p = run("probe", "127.0.0.1", f"{lo}-{hi},{ports[-1]}", "--json", "-c", "16")
            rows = [json.loads(l) for l in p.stdout.decode().splitlines()]
            summary = rows[-1]
            self.assertEqual(summary["ports"], len(set(range(lo, hi + 1)) | {ports[-1]}))
            opened = {r["port"] for r in rows[:-1] if r["state"] == "open"}
            self.assertTrue(set(p for p in ports if p <= hi) <= opened, opened)
            self.assertLess(summary["seconds"], timeout(5))
        finally:
            for s in listeners:
                s.close()

    def test_udp_reply_refusal(self):
        server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        server.bind(("127.0.0.1", 0))
        server.settimeout(timeout(10))

        def answer():
            try:
                data, peer = server.recvfrom(100)
                server.sendto(b"hi", peer)
            except OSError:
                pass

        t = threading.Thread(target=answer)
        t.start()
        gone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        gone.bind(("127.0.0.1", 0))
        gone_port = gone.getsockname()[1]
        gone.close()  # nothing there now: the kernel answers ICMP port unreachable
        try:
            open_port = server.getsockname()[1]
            p = run("probe", "127.0.0.1", f"{open_port},{gone_port}", "--udp", "--json", "-t", "3")
            rows = [json.loads(l) for l in p.stdout.decode().splitlines()]
            states = {r["port"]: r["state"] for r in rows if "port" in r}
            self.assertEqual(states, {open_port: "open", gone_port: "closed"})
        finally:
            t.join()
            server.close()


class HostAndNames(unittest.TestCase):
    def test_host_matches_gethostname_and_ip_addr(self):
        j = js("host", "--json")
        self.assertEqual(j["hostname"], socket.gethostname())
        lo = [i for i in j["interfaces"] if i["name"] == "lo"]
        self.assertEqual(len(lo), 1)
        self.assertIn("LOOPBACK", lo[0]["flags"])
        addrs = {(a["address"], a["prefix"]) for a in lo[0]["addresses"]}
        self.assertIn(("127.0.0.1", 8), addrs)
        if shutil.which("ip"):
            ip = json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True,
                                           check=True).stdout)
            theirs = {i["ifname"]: i for i in ip}
            for iface in j["interfaces"]:
                other = theirs.get(iface["name"])
                if other is None:
                    continue
                self.assertEqual(iface["mtu"], other["mtu"], iface["name"])
                if other.get("address") and iface["mac"]:
                    self.assertEqual(iface["mac"], other["address"], iface["name"])
                mine = {(a["address"], a["prefix"]) for a in iface["addresses"]}
                expected = {(a["local"], a["prefixlen"]) for a in other.get("addr_info", [])}
                self.assertEqual(mine, expected, iface["name"])

    def test_resolve_localhost_like_python(self):
        j = js("resolve", "localhost", "--json")
        name, aliases, v4 = socket.gethostbyname_ex("localhost")
        self.assertTrue(set(v4) <= set(j["addresses"]))
        expected = {ai[4][0] for ai in socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)}
        self.assertEqual(set(j["addresses"]), expected)
        for a in aliases:
            self.assertIn(a, j["aliases"])
        j4 = js("resolve", "localhost", "-4", "--json", "--service", "http")
        self.assertTrue(all(":" not in a for a in j4["addresses"]))
        self.assertEqual(j4["port"], 80)

    def test_reverse_loopback_like_gethostbyaddr(self):
        name, aliases, _ = socket.gethostbyaddr("127.0.0.1")
        j = js("reverse", "127.0.0.1", "--json")
        self.assertEqual(j["name"], name)
        self.assertEqual(j["aliases"], aliases)
        self.assertEqual(j["pointer"], "1.0.0.127.in-addr.arpa")
        p = run("reverse", "not-an-address")
        self.assertEqual(p.returncode, 1)


if __name__ == "__main__":
    unittest.main()
