"""sockit's address utilities against Python's ipaddress and socket modules.

Thousands of random and edge-case subnets (IPv4 and IPv6, every prefix length) go through one
`sockit ipcalc --json --stdin` and must agree with ipaddress on network, broadcast, host range
and count and every flag; `addr --aton` must agree with socket.inet_aton, strict parsing with
ipaddress.ip_address, `service` with socket.getservbyname/getservbyport. The ipaddress side
runs in tests/support/net_oracle.py under an interpreter that has the current IANA tables.
"""
import ipaddress
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import unittest

from sockit_test import SOCKIT, run

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = os.path.join(HERE, "..", "support", "net_oracle.py")
SEED = int(os.environ.get("SOCKIT_ORACLE_SEED", "20240501"))


def find_oracle_python():
    """The first interpreter whose ipaddress has the IANA exception tables."""
    candidates = [sys.executable, "/usr/bin/python3", shutil.which("python3.13"),
                  shutil.which("python3.12"), shutil.which("python3")]
    probe = "import ipaddress,sys; sys.exit(0 if hasattr(ipaddress._IPv4Constants, " \
            "'_private_networks_exceptions') else 1)"
    for exe in candidates:
        if exe and os.path.exists(exe):
            if subprocess.run([exe, "-c", probe]).returncode == 0:
                return exe
    return None


ORACLE_PYTHON = find_oracle_python()


def oracle(queries):
    lines = "".join(json.dumps(q) + "\n" for q in queries)
    out = subprocess.run([ORACLE_PYTHON, ORACLE], input=lines, capture_output=True, text=True,
                         check=True, timeout=600).stdout
    return [json.loads(l) for l in out.splitlines()]


def sockit_batch(args, inputs):
    proc = subprocess.run([SOCKIT, *args, "--json", "--stdin"], input="\n".join(inputs) + "\n",
                          capture_output=True, text=True, timeout=600)
    rows = [json.loads(l) for l in proc.stdout.splitlines()]
    assert len(rows) == len(inputs), (len(rows), len(inputs), proc.stderr[-2000:])
    return rows


# Blocks worth sampling densely: every special-purpose range and its edges.
V4_BLOCKS = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
             "172.16.0.0/12", "192.0.0.0/24", "192.0.0.8/29", "192.0.0.170/31", "192.0.2.0/24",
             "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
             "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
             "0.0.0.0/0"]
V6_BLOCKS = ["::/8", "::1/128", "::/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48",
             "100::/64", "2001::/23", "2001::/32", "2001:1::/48", "2001:2::/48", "2001:3::/32",
             "2001:4:112::/48", "2001:10::/28", "2001:20::/28", "2001:30::/28",
             "2001:db8::/32", "2002::/16", "3fff::/20", "fc00::/7", "fe80::/10", "fec0::/10",
             "ff00::/8", "fe00::/9", "2000::/3", "::/0"]


def random_in(rng, block, near_edges=True):
    n = ipaddress.ip_network(block)
    lo, size = int(n.network_address), n.num_addresses
    r = rng.random()
    if near_edges and r < 0.15:
        off = rng.randrange(min(size, 3))
    elif near_edges and r < 0.3:
        off = size - 1 - rng.randrange(min(size, 3))
    else:
        off = rng.randrange(size)
    return n.network_address + off


def subnet_cases(rng):
    cases = []
    for version, blocks, bits in ((4, V4_BLOCKS, 32), (6, V6_BLOCKS, 128)):
        for prefix in range(bits + 1):
            per = 24 if version == 4 else 12
            for _ in range(per):
                a = random_in(rng, rng.choice(blocks))
                cases.append(f"{a}/{prefix}")
            # A block's own boundaries at this prefix, so both ends straddle or sit inside.
            for block in blocks:
                n = ipaddress.ip_network(block)
                cases.append(f"{n.network_address}/{prefix}")
                cases.append(f"{n.broadcast_address}/{prefix}")
    # IPv4 also as ADDR/dotted-mask, which must mean the same thing.
    for _ in range(200):
        p = rng.randrange(33)
        a = random_in(rng, rng.choice(V4_BLOCKS))
        cases.append(f"{a}/{ipaddress.ip_network(f'0.0.0.0/{p}').netmask}")
    return cases


class IpcalcOracle(unittest.TestCase):
    def setUp(self):
        if ORACLE_PYTHON is None:
            self.skipTest("no Python with ipaddress's IANA exception tables (CVE-2024-4032 fix)")

    def test_thousands_of_subnets_agree_with_ipaddress(self):
        rng = random.Random(SEED)
        cases = subnet_cases(rng)
        self.assertGreater(len(cases), 5000)
        mine = sockit_batch(["ipcalc"], cases)
        theirs = oracle([{"kind": "ipcalc", "input": c} for c in cases])
        keys = ["version", "address", "prefix", "netmask", "hostmask", "network", "last_address",
                "broadcast", "first_host", "last_host", "hosts", "addresses", "address_flags",
                "network_flags"]
        failures = []
        for case, m, t in zip(cases, mine, theirs):
            self.assertNotIn("error", t, case)
            self.assertNotIn("error", m, case)
            for k in keys:
                if m[k] != t[k]:
                    failures.append(f"{case}: {k}: sockit {m[k]!r} != python {t[k]!r}")
        self.assertEqual(failures[:20], [], f"{len(failures)} disagreements")

    def test_single_invocations_match_the_batch(self):
        rng = random.Random(SEED + 1)
        cases = [f"{random_in(rng, rng.choice(V4_BLOCKS))}/{rng.randrange(33)}" for _ in range(25)]
        cases += [f"{random_in(rng, rng.choice(V6_BLOCKS))}/{rng.randrange(129)}" for _ in range(25)]
        batch = sockit_batch(["ipcalc"], cases)
        for case, b in zip(cases, batch):
            p = run("ipcalc", case, "--json")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(json.loads(p.stdout), b)


def address_texts(rng):
    """Valid addresses in many spellings, and mutations of them (mostly invalid)."""
    out = []
    for _ in range(1500):
        v6 = rng.random() < 0.6
        a = random_in(rng, rng.choice(V6_BLOCKS if v6 else V4_BLOCKS))
        s = str(a) if rng.random() < 0.5 else a.exploded
        if v6 and rng.random() < 0.3:
            s = s.upper()
        if v6 and rng.random() < 0.2 and a.ipv4_mapped is None:
            g = a.exploded.split(":")
            s = ":".join(g[:6]) + ":" + str(ipaddress.IPv4Address(int(a) & 0xffffffff))
        out.append(s)
        m = list(s)
        op = rng.randrange(8)
        pos = rng.randrange(len(m) + 1)
        if op == 0:
            m.insert(pos, rng.choice(":.0fgx-/% "))
        elif op == 1 and m:
            del m[min(pos, len(m) - 1)]
        elif op == 2:
            m.insert(pos, "0")
        elif op == 3:
            m = list(s.replace("::", ":::", 1) if "::" in s else s + "::")
        elif op == 4:
            m = list(s + ":1")
        elif op == 5:
            m = list(s.replace(".", "..", 1))
        elif op == 6:
            m = list("1:" + s)
        else:
            m = list(s.replace("0", "00", 1))
        mutated = "".join(m).strip()
        if mutated and "\n" not in mutated:
            out.append(mutated)
    out += ["1.2.3.4", "01.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "::", "::1",
            ":::", "1::2::3", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8:9", "12345::", "::ffff:1.2.3.4", "::ffff:1.2.3.04", "::1.2.3.4",
            "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "fe80::1%eth0", "[::1]", "0.0.0.0",
            "255.255.255.255", "1.2.3.4/24", "-1.2.3.4", "+1.2.3.4", "0x1.2.3.4", "1.2.3.4 "]
    return out


class ParseOracle(unittest.TestCase):
    def setUp(self):
        if ORACLE_PYTHON is None:
            self.skipTest("no Python with ipaddress's IANA exception tables")

    def test_strict_parsing_and_formatting_agree_with_ip_address(self):
        rng = random.Random(SEED + 2)
        texts = [t for t in address_texts(rng) if t == t.strip()]
        mine = sockit_batch(["addr", "--from", "text"], texts)
        theirs = oracle([{"kind": "parse", "input": t} for t in texts])
        failures = []
        accepted = 0
        for t, m, p in zip(texts, mine, theirs):
            if "error" in p:
                if "error" not in m:
                    failures.append(f"{t!r}: Python rejects ({p['error']}), sockit gives {m['address']}")
                continue
            accepted += 1
            if "error" in m:
                failures.append(f"{t!r}: Python accepts as {p['address']}, sockit: {m['error']}")
                continue
            for k in ("address", "integer", "packed_hex", "python_bytes", "reverse_pointer", "flags"):
                if m[k] != p[k]:
                    failures.append(f"{t!r}: {k}: sockit {m[k]!r} != python {p[k]!r}")
        self.assertEqual(failures[:20], [], f"{len(failures)} disagreements")
        self.assertGreater(accepted, 1000)
        self.assertGreater(len(texts) - accepted, 500)


def aton_texts(rng):
    def part(value, base):
        if base == 8:
            return "0" + format(value, "o")
        if base == 16:
            return rng.choice(["0x", "0X"]) + format(value, rng.choice(["x", "X"]))
        return str(value)

    out = []
    for _ in range(2500):
        n = rng.randrange(1, 5)
        limits = [256] * (n - 1) + [2 ** (32 - 8 * (n - 1))]
        values = []
        for lim in limits:
            v = rng.randrange(lim) if rng.random() < 0.85 else rng.randrange(lim, lim * 4 + 2)
            values.append(part(v, rng.choice([10, 10, 8, 16])))
        s = ".".join(values)
        r = rng.random()
        if r < 0.05:
            s += " trailing words"
        elif r < 0.08:
            s += "\tx"
        elif r < 0.12:
            s += rng.choice([".", "..1", "x", "8", "-", "0x", "g"])
        elif r < 0.15:
            s = s.replace(".", ". ", 1)
        out.append(s)
    out += ["127.1", "0x7f.1", "017.0.0.1", "08.1", "09", "0x", "0x.1", "1.2.3.4.5",
            "4294967295", "4294967296", "0xffffffff", "0x100000000", "1.16777215", "1.16777216",
            "1.2.65535", "1.2.65536", "00000000000000000000001", "0x00000000000000000001",
            "1..2", ".1", "1.", "1.2.3.", "256.1", "0377.0377.0377.0377", "0400.1.1.1",
            "1.2.3.4 5", "1 2", "\u0661.2.3.4", "1.2.3.4\u00a0"]
    return out


class AtonOracle(unittest.TestCase):
    def test_aton_agrees_with_socket_inet_aton(self):
        rng = random.Random(SEED + 3)
        texts = aton_texts(rng)
        mine = sockit_batch(["addr", "--aton"], texts)
        failures = []
        for t, m in zip(texts, mine):
            try:
                packed = socket.inet_aton(t)
            except (OSError, ValueError, UnicodeError):
                packed = None
            if packed is None:
                if "error" not in m:
                    failures.append(f"{t!r}: inet_aton rejects, sockit gives {m['address']}")
            elif "error" in m:
                failures.append(f"{t!r}: inet_aton gives {socket.inet_ntoa(packed)}, sockit: {m['error']}")
            else:
                if m["packed_hex"] != packed.hex() or m["python_bytes"] != repr(packed):
                    failures.append(f"{t!r}: {m['python_bytes']} != {packed!r}")
                if m["address"] != socket.inet_ntoa(packed):
                    failures.append(f"{t!r}: {m['address']} != {socket.inet_ntoa(packed)}")
        self.assertEqual(failures[:20], [], f"{len(failures)} disagreements")

    def test_ipv6_text_of_ones_is_not_binary(self):
        j = json.loads(run("addr", "--json", "1111:1111:1111:1111:1111:1111:1111:1111").stdout)
        self.assertEqual((j["version"], j["form"]), (6, "text"))
        j = json.loads(run("addr", "--json", "11000000.10101000.00000001.00000010").stdout)
        self.assertEqual((j["address"], j["form"]), ("192.168.1.2", "binary"))

    def test_leading_and_trailing_space_on_the_command_line(self):
        for t in (" 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n"):
            p = run("addr", "--aton", "--json", t)
            try:
                expected = socket.inet_aton(t).hex()
            except OSError:
                expected = None
            if expected is None:
                self.assertEqual(p.returncode, 1, t)
            else:
                self.assertEqual(json.loads(p.stdout)["packed_hex"], expected, t)

    def test_every_form_round_trips_through_addr(self):
        rng = random.Random(SEED + 4)
        for _ in range(40):
            a = random_in(rng, rng.choice(V4_BLOCKS + V6_BLOCKS))
            first = json.loads(run("addr", "--json", str(a)).stdout)
            for form in ("integer", "packed_hex", "python_bytes", "binary", "escaped_bytes"):
                value = first[form]
                if form == "packed_hex":
                    value = "0x" + value
                args = ["addr", "--json", value]
                if form == "integer" and a.version == 6:
                    args.append("-6")
                p = run(*args)
                self.assertEqual(p.returncode, 0, (a, form, p.stderr))
                self.assertEqual(json.loads(p.stdout)["address"], first["address"], (a, form))


def services_file_names():
    names = set()
    try:
        with open("/etc/services") as f:
            for line in f:
                line = line.split("#", 1)[0].split()
                if len(line) >= 2 and "/" in line[1]:
                    names.add(line[0])
                    names.update(line[2:])
    except OSError:
        pass
    return sorted(names)


class ServiceOracle(unittest.TestCase):
    def test_names_agree_with_getservbyname(self):
        names = services_file_names() + ["mysql", "http", "no-such-service-x", "HTTP"]
        for proto in ("tcp", "udp"):
            mine = sockit_batch(["service", "-p", proto], names)
            for name, m in zip(names, mine):
                try:
                    port = socket.getservbyname(name, proto)
                except OSError:
                    port = None
                if port is None:
                    self.assertIn("error", m, (name, proto))
                else:
                    self.assertNotIn("error", m, (name, proto))
                    self.assertEqual(m["port"], port, (name, proto))
                    self.assertEqual(m["entries"][0]["protocol"], proto)

    def test_ports_agree_with_getservbyport(self):
        ports = [str(p) for p in list(range(0, 1100)) + list(range(1100, 65536, 97)) + [65535]]
        for proto in ("tcp", "udp"):
            mine = sockit_batch(["service", "-p", proto], ports)
            for port, m in zip(ports, mine):
                try:
                    name = socket.getservbyport(int(port), proto)
                except OSError:
                    name = None
                entries = m["entries"]
                self.assertEqual(entries[0]["name"] if entries else None, name, (port, proto))
                p = int(port)
                expected_range = "well-known" if p < 1024 else "registered" if p < 49152 else "dynamic"
                self.assertEqual(m["range"], expected_range)

    def test_without_protocol_like_python_defaults(self):
        p = run("service", "--json", "mysql")
        self.assertEqual(json.loads(p.stdout)["port"], socket.getservbyname("mysql"))
        p = run("service", "--json", "80")
        self.assertEqual(json.loads(p.stdout)["entries"][0]["name"], socket.getservbyport(80))


class Errors(unittest.TestCase):
    def test_clear_errors_not_guesses(self):
        cases = {
            ("ipcalc", "192.168.1.0/33"): "longer than an IPv4 address",
            ("ipcalc", "10.0.0.1", "255.0.255.0"): "not contiguous",
            ("ipcalc", "10.0.0.1/0.0.0.255"): "wildcard (host) mask",
            ("ipcalc", "256.1.1.1/24"): "more than 255",
            ("ipcalc", "::1/129"): "longer than an IPv6 address",
            ("ipcalc", "::1/ffff::"): "IPv6 takes a prefix length",
            ("ipcalc", "1.2.3.4/"): "missing prefix",
            ("ipcalc", "1.2.3.4/24/8"): "more than one '/'",
            ("addr", "01.2.3.4"): "leading zero",
            ("addr", "1.2.3"): "expected 4 octets",
            ("addr", "1::2::3"): "more than one '::'",
            ("addr", "fe80::1%eth0"): "zone index",
            ("addr", "0x1234"): "hex digits",
            ("addr", "--aton", "08.1"): "not an octal digit",
            ("ipcalc", "same", "10.0.0.1", "10.0.0.2"): "no mask",
            ("ipcalc", "split", "10.0.0.0/24", "--prefix", "16"): "larger than",
            ("frag", "--size", "70000"): "65535",
            ("frag", "--size", "5000", "--mtu", "60"): "below 68",
            ("frag", "--size", "5000", "--header", "22"): "steps of 4",
            ("service", "no-such-service-x"): "unknown service",
            ("probe", "127.0.0.1", "0"): "port 0",
            ("probe", "127.0.0.1", "10-5"): "backwards",
        }
        for args, words in cases.items():
            p = run(*args)
            self.assertNotEqual(p.returncode, 0, args)
            self.assertIn(words, p.stderr.decode(), args)
            self.assertNotIn(b"Traceback", p.stderr)


if __name__ == "__main__":
    unittest.main()
