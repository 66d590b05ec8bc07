"""`chat serve --web`: the page and its WebSocket (RFC 6455) with python3-websockets as an
independent client, a raw-socket peer for every hostile case (unmasked, oversized, bad
UTF-8, long or fragmented control frames, bad handshakes, a foreign Origin, an endless
head, a silent head, an unanswered ping), all in one room with nc-style members, which keep
being served throughout."""
import asyncio
import base64
import hashlib
import os
import socket
import ssl
import struct
import unittest
import warnings

from sockit_test import LinePeer, Server, TempDir, timeout

try:
    import websockets
except ImportError:  # scripts/install-deps installs python3-websockets
    websockets = None

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Line(LinePeer):
    """An nc-style member: raw TCP, whole lines, str needles."""

    def until(self, needle, limit=200):
        return super().until(needle.encode(), limit)

    def send(self, text):
        self.sock.sendall(text.encode() + b"\n")

    def close(self):
        self.sock.close()


def client_frame(op, payload=b"", fin=True, masked=True, rsv=0, length=None):
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv | op])
    m = 0x80 if masked else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawWS:
    """A WebSocket client written from the RFC, to send what a real client never would."""

    def __init__(self, addr, origin=None, extra=b"", path="/ws", host=None):
        self.sock = socket.create_connection(addr, timeout=timeout(5))
        self.buf = b""
        self.key = base64.b64encode(os.urandom(16))
        host = host or "%s:%d" % addr
        head = (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() +
                b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
                self.key + b"\r\nSec-WebSocket-Version: 13\r\n")
        if origin:
            head += b"Origin: " + origin.encode() + b"\r\n"
        self.sock.sendall(head + extra + b"\r\n")
        self.status, self.headers = self.read_head()

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed in the head ({self.buf!r})")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {}
        for h in lines[1:]:
            k, v = h.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        return int(lines[0].split()[1]), headers

    def upgraded(self):
        want = base64.b64encode(hashlib.sha1(self.key + GUID).digest()).decode()
        return self.status == 101 and self.headers.get("sec-websocket-accept") == want

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed mid-frame")
            self.buf += chunk

    def frame(self):
        """(opcode, payload) of the server's next frame; server frames are never masked."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert b1 & 0x80 == 0, "a server frame was masked"
        assert b0 & 0x80, "a server frame was fragmented"
        n, at = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(at + n)
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        return b0 & 0x0F, payload

    def text_until(self, needle, limit=200):
        for _ in range(limit):
            op, p = self.frame()
            if op == 8:
                raise EOFError(f"closed: {p!r}")
            if op == 1 and needle in p.decode():
                return p.decode()
        raise AssertionError(f"{needle!r} not seen")

    def close_code(self, limit=200):
        """Reads up to the server's close frame: (code, reason); the TCP end follows."""
        for _ in range(limit):
            op, p = self.frame()
            if op == 8:
                code = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else None
                return code, p[2:].decode()
        raise AssertionError("no close frame")

    def send(self, data):
        self.sock.sendall(data)

    def ended(self):
        """The server closed its end: recv returns b'' (or the connection is reset)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def http_get(addr, request):
    s = socket.create_connection(addr, timeout=timeout(5))
    s.sendall(request)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode(), body


class ChatWebTest(unittest.TestCase):
    def setUp(self):
        warnings.simplefilter("ignore", ResourceWarning)  # peers left open on purpose

    def serve(self, *args):
        srv = Server("chat", "serve", "127.0.0.1:0", "--web", "127.0.0.1:0", *args)
        self.addCleanup(srv.__exit__)
        self.assertTrue(srv.web.startswith("http://127.0.0.1:"), srv.web)
        host, port = srv.web[len("http://"):].rstrip("/").rsplit(":", 1)
        srv.web_addr = (host, int(port))
        return srv

    def room_still_serves(self, srv, nc):
        """After a hostile peer: a new member is welcomed and talks with the old one."""
        other = Line(srv)
        other.until("welcome")
        other.send("still here")
        nc.until("still here")
        other.close()

    # --- The page ------------------------------------------------------------------------

    def test_page_is_served_with_its_security_headers(self):
        srv = self.serve()
        status, head, body = http_get(srv.web_addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(status, 200)
        self.assertIn(b"<!doctype html>", body.lower())
        self.assertIn("Content-Security-Policy: default-src 'none'; script-src 'self'", head)
        self.assertIn("X-Frame-Options: DENY", head)
        for path in (b"/chat.js", b"/chat.css", b"/index.html"):
            status, head, body = http_get(srv.web_addr, b"GET " + path + b" HTTP/1.1\r\n\r\n")
            self.assertEqual(status, 200, path)
            self.assertGreater(len(body), 100)
        self.assertEqual(http_get(srv.web_addr, b"GET /etc/passwd HTTP/1.1\r\n\r\n")[0], 404)
        self.assertEqual(http_get(srv.web_addr, b"GET /../chat.js HTTP/1.1\r\n\r\n")[0], 404)
        self.assertEqual(http_get(srv.web_addr, b"POST / HTTP/1.1\r\n\r\n")[0], 405)
        status, head, body = http_get(srv.web_addr, b"HEAD / HTTP/1.1\r\n\r\n")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(http_get(srv.web_addr, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")[0],
                         400)
        self.assertEqual(http_get(srv.web_addr, b"garbage\r\n\r\n")[0], 400)
        # /ws without an upgrade: 426, saying which protocol.
        status, head, _ = http_get(srv.web_addr, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(status, 426)
        self.assertIn("Sec-WebSocket-Version: 13", head)

    # --- An independent client, with nc members -------------------------------------------

    @unittest.skipIf(websockets is None, "python3-websockets is not installed "
                     "(scripts/install-deps installs it)")
    def test_websockets_client_and_nc_share_the_room(self):
        srv = self.serve("--history", "5")
        nc, watcher = Line(srv), Line(srv)
        nc.until("welcome")
        watcher.until("welcome")
        nc.send("before the browser")
        watcher.until("before the browser")  # in the history before the browser comes
        watcher.close()
        url = "ws://%s:%d/ws" % srv.web_addr
        origin = "http://%s:%d" % srv.web_addr

        async def browser():
            async with websockets.connect(url, origin=origin, open_timeout=timeout(5)) as ws:
                lines = []

                async def until(needle):
                    while True:
                        while lines:
                            line = lines.pop(0)
                            if needle in line:
                                return line
                        msg = await asyncio.wait_for(ws.recv(), timeout(5))
                        self.assertIsInstance(msg, str)
                        self.assertTrue(msg.endswith("\n"), msg)  # whole lines only
                        lines.extend(msg.splitlines())
                # History and the welcome, as an nc newcomer gets them.
                await until("welcome")
                await until("before the browser")
                nc.until("joined")
                await ws.send("/nick alice")
                nc.until("is now known as alice")
                await ws.send("hello from a browser, ünïcode ✓")
                self.assertIn("<alice> hello from a browser, ünïcode ✓", nc.until("hello from"))
                nc.send("/nick bob")
                await until("is now known as bob")
                nc.send("hi alice")
                self.assertIn("<bob> hi alice", await until("hi alice"))
                await ws.send("/msg bob a secret")
                self.assertIn("a secret", nc.until("a secret"))
                await ws.send("/me waves")
                self.assertIn("alice waves", nc.until("waves"))
                await ws.send("/join #side")
                await until("#side")
                nc.send("only the lobby hears this")
                await ws.send("/list")
                self.assertIn("1 in #side: alice", await until("in #side"))
                await ws.send("/rooms")
                self.assertIn("#lobby", await until("#lobby"))
                # Keepalive: the library answers our pings; it stays a member meanwhile.
                await ws.ping(b"are you there")
            # A clean close: 1000 echoed, the member leaves.
            self.assertEqual(ws.close_code, 1000)

        asyncio.run(asyncio.wait_for(browser(), timeout(20)))
        self.assertIn("alice left", nc.until("left"))
        self.room_still_serves(srv, nc)

    def test_close_handshake_and_ping_are_answered(self):
        srv = self.serve()
        ws = RawWS(srv.web_addr)
        self.assertTrue(ws.upgraded(), (ws.status, ws.headers))
        ws.text_until("welcome")
        ws.send(client_frame(0x9, b"ping-payload"))
        for _ in range(10):
            op, p = ws.frame()
            if op == 0xA:
                self.assertEqual(p, b"ping-payload")
                break
        else:
            self.fail("no pong")
        # Fragmented text, a ping between the fragments: one line in the room.
        nc = Line(srv)
        nc.until("welcome")
        ws.send(client_frame(0x1, b"frag", fin=False) + client_frame(0x9, b"") +
                client_frame(0x0, "mented ✓".encode(), fin=False) + client_frame(0x0, b"!"))
        self.assertIn("fragmented ✓!", nc.until("frag"))
        ws.send(client_frame(0x8, struct.pack("!H", 1000) + b"bye"))
        self.assertEqual(ws.close_code()[0], 1000)
        self.assertTrue(ws.ended())
        nc.until("left")

    # --- Hostile frames: each closed with the RFC's code; the room goes on -----------------

    def hostile(self, frames, code, *args):
        srv = self.serve(*args)
        nc = Line(srv)
        nc.until("welcome")
        ws = RawWS(srv.web_addr)
        self.assertTrue(ws.upgraded())
        ws.text_until("welcome")
        try:
            ws.send(frames)
        except (BrokenPipeError, ConnectionResetError):
            pass
        got, reason = ws.close_code()
        self.assertEqual(got, code, reason)
        self.assertTrue(ws.ended())
        nc.until("left")
        self.room_still_serves(srv, nc)
        return reason

    def test_unmasked_frame_is_a_protocol_error(self):
        self.assertIn("unmasked", self.hostile(client_frame(0x1, b"hi", masked=False), 1002))

    def test_oversized_message_is_refused_before_it_is_buffered(self):
        # Announces 1 GiB: refused from the header alone (1009), nothing buffered.
        self.hostile(client_frame(0x2, b"", length=1 << 30)[:14], 1009, "--max-line", "100")

    def test_oversized_fragments_are_refused(self):
        frag = client_frame(0x1, b"x" * 200, fin=False) + client_frame(0x0, b"x" * 200, fin=False)
        self.hostile(frag, 1009, "--max-line", "100")

    def test_invalid_utf8_is_refused(self):
        self.hostile(client_frame(0x1, b"bad \xc0\x80 text"), 1007)

    def test_long_control_frame_is_refused(self):
        self.hostile(client_frame(0x9, b"p" * 126), 1002)

    def test_fragmented_control_frame_is_refused(self):
        self.hostile(client_frame(0x9, b"p", fin=False), 1002)

    def test_reserved_bits_and_opcodes_are_refused(self):
        self.hostile(client_frame(0x1, b"x", rsv=0x40), 1002)

    def test_unknown_opcode_is_refused(self):
        self.hostile(client_frame(0x3, b"x"), 1002)

    def test_binary_message_is_refused(self):
        self.hostile(client_frame(0x2, b"\x00\x01"), 1003)

    def test_continuation_outside_a_message_is_refused(self):
        self.hostile(client_frame(0x0, b"x"), 1002)

    # --- Hostile handshakes ---------------------------------------------------------------

    def test_bad_handshakes_are_refused(self):
        srv = self.serve()
        nc = Line(srv)
        nc.until("welcome")
        a = srv.web_addr
        base = (b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Version: 13\r\n")
        key = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        cases = {
            "no key": base + b"\r\n",
            "short key": base + b"Sec-WebSocket-Key: c2hvcnQ=\r\n\r\n",
            "version 8": base.replace(b"13", b"8") + key + b"\r\n",
            "no upgrade token": base.replace(b"Upgrade: websocket\r\n", b"") + key + b"\r\n",
            "HTTP/1.0": base.replace(b"HTTP/1.1", b"HTTP/1.0") + key + b"\r\n",
        }
        for what, req in cases.items():
            status, head, _ = http_get(a, req)
            self.assertEqual(status, 426, what)
        self.assertEqual(http_get(a, base + key + key + b"\r\n")[0], 400)  # repeated key
        self.assertEqual(http_get(a, base + key + b"X: a\x01b\r\n\r\n")[0], 400)  # control
        self.assertEqual(http_get(a, base + key + b" folded\r\n\r\n")[0], 400)  # obs-fold
        self.room_still_serves(srv, nc)

    def test_foreign_origin_is_refused_unless_allowed(self):
        srv = self.serve("--web-origin", "https://chat.example")
        nc = Line(srv)
        nc.until("welcome")
        evil = RawWS(srv.web_addr, origin="https://evil.example")
        self.assertEqual(evil.status, 403)
        # Same origin (scheme + Host), no Origin (not a browser), an allowed one: in.
        same = RawWS(srv.web_addr, origin="http://%s:%d" % srv.web_addr)
        self.assertTrue(same.upgraded())
        self.assertTrue(RawWS(srv.web_addr).upgraded())
        self.assertTrue(RawWS(srv.web_addr, origin="https://chat.example").upgraded())
        # A look-alike: same host, other port or scheme.
        self.assertEqual(RawWS(srv.web_addr, origin="https://%s:%d" % srv.web_addr).status, 403)
        self.assertEqual(RawWS(srv.web_addr, origin="http://%s:1" % srv.web_addr[0]).status, 403)
        # DNS rebinding: a hostile name resolved to 127.0.0.1 is same-origin with itself, but
        # a loopback listener takes loopback Host names only (and --web-origin's).
        port = srv.web_addr[1]
        rebound = "rebound.example:%d" % port
        self.assertEqual(RawWS(srv.web_addr, host=rebound, origin="http://" + rebound).status, 403)
        self.assertTrue(RawWS(srv.web_addr, host="localhost:%d" % port,
                              origin="http://localhost:%d" % port).upgraded())
        self.assertTrue(RawWS(srv.web_addr, host="chat.example",  # a proxy on this machine
                              origin="https://chat.example").upgraded())
        same.text_until("welcome")
        self.room_still_serves(srv, nc)
        _, out, _ = srv.stop()
        self.assertIn("origin not allowed: https://evil.example", out)
        self.assertIn("host not allowed on a loopback listener: rebound.example", out)

    def test_endless_head_is_refused_at_8_kib(self):
        srv = self.serve()
        nc = Line(srv)
        nc.until("welcome")
        s = socket.create_connection(srv.web_addr, timeout=timeout(5))
        s.sendall(b"GET /ws HTTP/1.1\r\n")
        sent = 0
        try:
            while sent < 64 * 1024:
                s.sendall(b"X-Filler: " + b"a" * 1000 + b"\r\n")
                sent += 1012
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        self.assertTrue(data.startswith(b"HTTP/1.1 431 "), data[:80])
        self.room_still_serves(srv, nc)

    def test_silent_head_is_closed_after_the_handshake_timeout(self):
        srv = self.serve("--handshake-timeout", "0.5")
        nc = Line(srv)
        nc.until("welcome")
        s = socket.create_connection(srv.web_addr, timeout=timeout(5))
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        self.assertEqual(s.recv(100), b"")  # closed by the server, well before our timeout
        self.room_still_serves(srv, nc)

    def test_unanswered_ping_closes_the_browser(self):
        srv = self.serve("--web-ping-interval", "0.3")
        nc = Line(srv)
        nc.until("welcome")
        ws = RawWS(srv.web_addr)
        ws.text_until("welcome")
        op, _ = ws.frame()
        while op != 0x9:  # skips room lines until the ping
            op, _ = ws.frame()
        code, reason = ws.close_code()  # we never answer it
        self.assertEqual(code, 1001)
        self.assertIn("ping", reason)
        self.assertIn("left", nc.until("left"))
        # One that answers stays: two intervals and more, and it is still a member.
        ok = RawWS(srv.web_addr)
        ok.text_until("welcome")
        for _ in range(3):
            op, p = ok.frame()
            while op != 0x9:
                op, p = ok.frame()
            ok.send(client_frame(0xA, p))
        ok.send(client_frame(0x1, b"alive"))
        nc.until("alive")

    # --- HTTPS and WSS ----------------------------------------------------------------------

    def test_tls_serves_https_and_wss_and_bounds_the_handshake(self):
        srv = Server("chat", "serve", "127.0.0.1:0", "--web", "127.0.0.1:0", "--tls",
                     "--handshake-timeout", "0.5")
        self.addCleanup(srv.__exit__)
        self.assertTrue(srv.web.startswith("https://127.0.0.1:"), srv.web)
        host, port = srv.web[len("https://"):].rstrip("/").rsplit(":", 1)
        addr = (host, int(port))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the identity is checked by the TLS tests
        s = ctx.wrap_socket(socket.create_connection(addr, timeout=timeout(5)))
        self.assertEqual(s.version(), "TLSv1.3")
        s.sendall(b"GET / HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host.encode(), addr[1]))
        page = b""
        while not page.endswith(b"</html>\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            page += chunk
        self.assertTrue(page.startswith(b"HTTP/1.1 200 OK"), page[:40])
        # WSS: the raw client over TLS, origin https.
        ws = RawWS.__new__(RawWS)
        ws.sock = ctx.wrap_socket(socket.create_connection(addr, timeout=timeout(5)))
        ws.buf = b""
        ws.key = base64.b64encode(os.urandom(16))
        ws.sock.sendall(b"GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                        b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        b"Sec-WebSocket-Version: 13\r\nOrigin: https://%s:%d\r\n\r\n"
                        % (host.encode(), addr[1], ws.key, host.encode(), addr[1]))
        ws.status, ws.headers = ws.read_head()
        self.assertTrue(ws.upgraded())
        ws.text_until("welcome")
        # A client that never finishes its handshake is closed at the deadline.
        stall = socket.create_connection(addr, timeout=timeout(5))
        stall.sendall(b"\x16")  # a TLS record's first byte, and nothing more
        self.assertEqual(stall.recv(100), b"")
        # Plaintext HTTP to the HTTPS listener: told so, closed.
        status, _, body = http_get(addr, b"GET / HTTP/1.1\r\n\r\n")
        self.assertEqual(status, 400)
        self.assertIn(b"HTTPS", body)

    # --- Tokens and caps -----------------------------------------------------------------

    def test_private_room_token_is_the_first_message(self):
        with TempDir() as d:
            token = "0123456789abcdef0123456789abcdef"
            path = os.path.join(d, "token")
            with open(path, "w") as f:
                f.write(token + "\n")
            srv = self.serve("--token-file", path)
            ws = RawWS(srv.web_addr)
            ws.text_until("private")
            ws.send(client_frame(0x1, token.encode()))
            ws.text_until("welcome")
            ws.send(client_frame(0x1, b"inside"))
            bad = RawWS(srv.web_addr)
            bad.text_until("private")
            bad.send(client_frame(0x1, b"f" * 32))
            self.assertIn("wrong token", bad.text_until("wrong token"))
            bad.close_code()
            _, out, _ = srv.stop()
            self.assertIn("inside", out)
            self.assertNotIn(token, out)

    def test_max_clients_counts_browsers(self):
        srv = self.serve("--max-clients", "1")
        first = RawWS(srv.web_addr)
        first.text_until("welcome")
        second = RawWS(srv.web_addr)
        self.assertTrue(second.upgraded())
        self.assertIn("full", second.text_until("full"))
        second.close_code()
        nc = Line(srv)
        self.assertIn("full", nc.until("full"))
        first.send(client_frame(0x1, b"/list"))
        self.assertIn("1 in #lobby", first.text_until("in #lobby"))


if __name__ == "__main__":
    unittest.main()
