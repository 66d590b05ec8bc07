"""Oracle for sockit's address utilities: Python's ipaddress and socket modules.

Run as a program under a Python whose ipaddress has the IANA exception tables
(CVE-2024-4032 fix: 3.11.10+, 3.12.4+, 3.13, Debian's patched 3.11). It reads JSON lines
{"kind": "ipcalc"|"parse", "input": TEXT} on stdin and writes Python's answers as JSON lines.

Python has moved since those releases; sockit follows CPython's current ipaddress, so the few
later changes are applied here on top of the interpreter's own module, and nothing else:
  * RFC 9637's 3fff::/20 is not globally reachable (CPython 3.14);
  * IPv4-mapped IPv6 addresses take every flag but is_site_local from their IPv4 address
    (gh-117566, gh-122792);
  * IPv4-mapped addresses print as ::ffff:a.b.c.d (gh-87799, RFC 5952 section 5).
"""
import ipaddress
import json
import sys

SUPPORTED = hasattr(ipaddress._IPv4Constants, "_private_networks_exceptions")

if SUPPORTED:
    _rfc9637 = ipaddress.IPv6Network("3fff::/20")
    if _rfc9637 not in ipaddress._IPv6Constants._private_networks:
        ipaddress._IPv6Constants._private_networks.append(_rfc9637)

SHARED = ipaddress.ip_network("100.64.0.0/10")
DOC = [ipaddress.ip_network(n) for n in
       ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")]
RFC1918 = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
ULA = ipaddress.ip_network("fc00::/7")


def text(a):
    if a.version == 6 and a.ipv4_mapped is not None:
        return "::ffff:" + str(a.ipv4_mapped)
    return str(a)


def inside(a, nets):
    return any(a.version == n.version and a in n for n in nets)


def address_flags(a):
    site_local = a.version == 6 and a.is_site_local
    if a.version == 6 and a.ipv4_mapped is not None:
        f = address_flags(a.ipv4_mapped)
        f["site_local"] = site_local
        return f
    return {
        "private": a.is_private,
        "global": a.is_global,
        "loopback": a.is_loopback,
        "link_local": a.is_link_local,
        "multicast": a.is_multicast,
        "reserved": a.is_reserved,
        "unspecified": a.is_unspecified,
        "site_local": site_local,
        "shared": inside(a, [SHARED]),
        "documentation": inside(a, DOC),
        "rfc1918": inside(a, RFC1918),
        "unique_local": inside(a, [ULA]),
    }


def network_flags(n):
    lo, hi = address_flags(n.network_address), address_flags(n.broadcast_address)
    f = {k: lo[k] and hi[k] for k in lo}
    # Python's network is_private/is_global read the tables directly (no IPv4-mapped rule).
    f["private"] = n.is_private
    f["global"] = n.is_global
    return f


def hosts(n):
    """First host, last host and count, straight from Python's hosts() where it is cheap."""
    if n.num_addresses <= 4096:
        h = list(n.hosts())
        return text(h[0]), text(h[-1]), str(len(h))
    it = n.hosts()
    first = next(iter(it))
    # Beyond /31 (/127) the last host is the broadcast address less one (IPv4) or the last
    # address (IPv6): hosts() is range(network + 1, broadcast [+ 1]).
    last = n.broadcast_address - 1 if n.version == 4 else n.broadcast_address
    count = n.num_addresses - (2 if n.version == 4 else 1)
    return text(first), text(last), str(count)


def ipcalc(s):
    iface = ipaddress.ip_interface(s)
    n = iface.network
    first, last, count = hosts(n)
    return {
        "version": n.version,
        "address": text(iface.ip),
        "prefix": n.prefixlen,
        "netmask": text(n.netmask),
        "hostmask": text(n.hostmask),
        "network": text(n.network_address),
        "last_address": text(n.broadcast_address),
        "broadcast": text(n.broadcast_address) if n.version == 4 else None,
        "first_host": first,
        "last_host": last,
        "hosts": count,
        "addresses": str(n.num_addresses),
        "address_flags": address_flags(iface.ip),
        "network_flags": network_flags(n),
    }


def parse(s):
    a = ipaddress.ip_address(s)
    return {"address": text(a), "integer": str(int(a)), "packed_hex": a.packed.hex(),
            "python_bytes": repr(a.packed), "reverse_pointer": a.reverse_pointer,
            "flags": address_flags(a)}


def main():
    if not SUPPORTED:
        print(json.dumps({"unsupported": sys.version}))
        return
    for line in sys.stdin:
        q = json.loads(line)
        try:
            out = {"ipcalc": ipcalc, "parse": parse}[q["kind"]](q["input"])
        except ValueError as e:
            out = {"error": str(e)}
        print(json.dumps(out))


if __name__ == "__main__":
    main()
