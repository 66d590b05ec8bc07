"""-x/--hexdump and -o/--output on connect, listen and forward: every byte each way is in
the record, in order, at the offsets its headers say (the hex dump is parsed back into the
two byte streams and compared with what the peers really sent), with the time and the peer;
the text form escapes control bytes; `-` is stderr; a file is created 0600; forward records
each client under its own name; and nothing a peer sends reaches the record raw."""
import os
import re
import socket
import stat
import subprocess
import threading
import unittest

from sockit_test import SOCKIT, Server, TempDir, read_line, run, timeout

HEADER = re.compile(r"^([<>]) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S+) offset (\d+) "
                    r"length (\d+)$")
HEX_LINE = re.compile(r"^([0-9a-f]{8})  ((?:[0-9a-f]{2} ){1,8}(?: (?:[0-9a-f]{2} ){0,8})?)\s*\|(.*)\|$")


def parse_hexdump(text):
    """{(who, '>'|'<'): bytes}, checking each record's offsets and lengths as it goes."""
    streams = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i]:
            i += 1
            continue
        m = HEADER.match(lines[i])
        assert m, f"not a header: {lines[i]!r}"
        direction, _, who, offset, length = m.groups()
        key = (who, direction)
        have = streams.setdefault(key, bytearray())
        assert int(offset) == len(have), (lines[i], len(have))
        chunk = bytearray()
        i += 1
        while len(chunk) < int(length):
            h = HEX_LINE.match(lines[i])
            assert h, f"not a hex line: {lines[i]!r}"
            assert int(h.group(1), 16) == len(have) + len(chunk), lines[i]
            chunk += bytes.fromhex(h.group(2).replace(" ", ""))
            i += 1
        assert len(chunk) == int(length)
        have += chunk
    return {k: bytes(v) for k, v in streams.items()}


def parse_text(text):
    """The same from the -o text form: undo \\\\ and \\xNN, drop the added final newline."""
    streams = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i]:
            i += 1
            continue
        m = HEADER.match(lines[i])
        assert m, f"not a header: {lines[i]!r}"
        direction, _, who, offset, length = m.groups()
        have = streams.setdefault((who, direction), bytearray())
        assert int(offset) == len(have)
        body = bytearray()
        i += 1
        while len(body) < int(length):
            line = lines[i]
            j = 0
            while j < len(line):
                if line[j] == "\\":
                    if line[j + 1] == "\\":
                        body.append(0x5C)
                        j += 2
                    else:
                        body.append(int(line[j + 2:j + 4], 16))
                        j += 4
                else:
                    body += line[j].encode()
                    j += 1
            i += 1
            if len(body) < int(length):
                body.append(0x0A)  # the line's own newline was a byte of the chunk
        have += body
    return {k: bytes(v) for k, v in streams.items()}


def no_control_bytes(text):
    return all(c in "\n\t" or (" " <= c and c != "\x7f") for c in text)


PAYLOAD = bytes(range(256)) * 40 + b"\x1b]0;title\x07\x1b[2J end\n"


class UpperEcho:
    """Reads to EOF, answers the upper-cased bytes, closes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                data = b""
                while chunk := c.recv(65536):
                    data += chunk
                c.sendall(data.upper())

    def close(self):
        self.sock.close()


class TrafficLog(unittest.TestCase):
    def test_connect_hexdump_and_text_both_directions(self):
        t = UpperEcho()
        try:
            with TempDir() as d:
                hx, txt = os.path.join(d, "dump.hex"), os.path.join(d, "dump.txt")
                r = run("connect", "-x", hx, "-o", txt, f"127.0.0.1:{t.port}", input=PAYLOAD)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, PAYLOAD.upper())
                for path in (hx, txt):
                    self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
                with open(hx) as f:
                    hex_text = f.read()
                with open(txt) as f:
                    plain = f.read()
                who = f"tcp://127.0.0.1:{t.port}"
                for streams in (parse_hexdump(hex_text), parse_text(plain)):
                    self.assertEqual(streams[(who, ">")], PAYLOAD)
                    self.assertEqual(streams[(who, "<")], PAYLOAD.upper())
                self.assertTrue(no_control_bytes(hex_text) and no_control_bytes(plain))
                self.assertIn("\\x1b]0;title\\x07", plain)
        finally:
            t.close()

    def test_listen_hexdump_to_stderr(self):
        with TempDir() as d:
            path = os.path.join(d, "in")
            with open(path, "wb") as f:
                f.write(b"from listen\n")
            with open(path, "rb") as stdin, Server("listen", "127.0.0.1:0", "-x", "-",
                                                    ready_on="stderr", stdin=stdin) as srv:
                with srv.connect() as s:
                    s.sendall(b"to listen\x00\x01")
                    s.shutdown(socket.SHUT_WR)
                    got = b""
                    while chunk := s.recv(4096):
                        got += chunk
                self.assertEqual(got, b"from listen\n")
                srv.proc.wait(timeout(10))  # without -k, it exits when the peer has gone
                rc, out, err = srv.stop()
        self.assertEqual(out, "to listen\x00\x01")
        streams = parse_hexdump(err)
        (who, _), = [k for k in streams if k[1] == "<"]
        self.assertTrue(who.startswith("tcp://127.0.0.1:"))
        self.assertEqual(streams[(who, "<")], b"to listen\x00\x01")
        self.assertEqual(streams[(who, ">")], b"from listen\n")

    def test_forward_records_each_client_under_its_name(self):
        t = UpperEcho()
        try:
            with TempDir() as d:
                hx = os.path.join(d, "fwd.hex")
                with Server("forward", "127.0.0.1:0", f"127.0.0.1:{t.port}", "-x", hx) as srv:
                    names = []
                    for n in range(3):
                        with srv.connect() as s:
                            names.append("tcp://%s:%d" % s.getsockname())
                            s.sendall(PAYLOAD + bytes([n]))
                            s.shutdown(socket.SHUT_WR)
                            got = b""
                            while chunk := s.recv(65536):
                                got += chunk
                            self.assertEqual(got, (PAYLOAD + bytes([n])).upper())
                    srv.stop()
                with open(hx) as f:
                    streams = parse_hexdump(f.read())
                for n, who in enumerate(names):
                    self.assertEqual(streams[(who, ">")], PAYLOAD + bytes([n]))
                    self.assertEqual(streams[(who, "<")], (PAYLOAD + bytes([n])).upper())
        finally:
            t.close()

    def test_refusals(self):
        r = run("listen", "127.0.0.1:0", "-x", "-", "--exec", "/bin/cat")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"the child has the socket", r.stderr)
        r = run("connect", "-x", "/nonexistent-dir/x", "127.0.0.1:9")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"cannot create /nonexistent-dir/x", r.stderr)
        for cmd in ("connect", "listen", "forward"):
            self.assertIn(b"--hexdump", run(cmd, "--help").stdout)


if __name__ == "__main__":
    unittest.main()
