"""Proxies, both sides. `sockit connect --proxy` through independent proxies: Debian's
dante-server (SOCKS5) and tinyproxy (HTTP CONNECT, with Basic credentials), each started
here on a loopback port and stopped here; credentials from SOCKIT_PROXY_AUTH or a file, never
argv. `sockit forward --socks5`, a SOCKS5 server, with curl's --socks5-hostname as its
independent client; sockit's client against it for the user/password method and remote
DNS; and hostile openings (no acceptable method, BIND, an unknown address type, a name with
control bytes, a client that says half a greeting and waits, a wrong password, a client
outside --allow)."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sockit_test import SOCKIT, Server, TempDir, read_line, run, timeout, wait_until

HAVE_DANTE = shutil.which("danted") is not None
HAVE_TINYPROXY = shutil.which("tinyproxy") is not None
HAVE_CURL = shutil.which("curl") is not None


class Target:
    """A TCP server on loopback. Each connection: send `banner` at once (a server that
    talks first, like SSH), then read until EOF and answer with the upper-cased bytes; or,
    `at_once`, answer each piece as it comes (for a proxy that does not pass a half-close
    on, as tinyproxy does not: it closes the tunnel)."""

    def __init__(self, banner=b"", at_once=False):
        self.at_once = at_once
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.banner = banner
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        with c:
            c.settimeout(timeout(10))
            try:
                if self.banner:
                    c.sendall(self.banner)
                data = b""
                while chunk := c.recv(65536):
                    if self.at_once:
                        c.sendall(chunk.upper())
                    else:
                        data += chunk
                c.sendall(data.upper())
            except OSError:
                pass

    def close(self):
        self.sock.close()


def free_port():
    """A loopback port free a moment ago, for a daemon that cannot bind port 0 and say which
    port it got (dante, tinyproxy). Its start is retried on another port if one is taken."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Daemon:
    """A third-party proxy started on a fresh loopback port: `config(port)` gives its
    configuration file's text, `argv(path)` its command line (in the foreground). Ready when
    the port accepts; stopped and reaped by stop()."""

    def __init__(self, tmp, name, config, argv):
        for _ in range(3):
            self.port = free_port()
            path = os.path.join(tmp, f"{name}.conf")
            with open(path, "w") as f:
                f.write(config(self.port))
            self.proc = subprocess.Popen(argv(path), stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
            if wait_until(lambda: accepts(self.port) or self.proc.poll() is not None, 10) and \
                    self.proc.poll() is None:
                return
            self.stop()
        raise AssertionError(f"{name} did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


def dante(tmp):
    def config(port):
        return f"""logoutput: stderr
internal: 127.0.0.1 port = {port}
external: 127.0.0.1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}
socks pass {{ from: 127.0.0.0/8 to: 127.0.0.0/8 }}
"""
    return Daemon(tmp, "danted", config, lambda p: ["danted", "-f", p, "-N", "1"])


def tinyproxy(tmp, auth=None):
    def config(port):
        text = f"Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nMaxClients 20\n"
        if auth:
            text += f"BasicAuth {auth[0]} {auth[1]}\n"
        return text
    return Daemon(tmp, "tinyproxy", config, lambda p: ["tinyproxy", "-d", "-c", p])


def connect(args, data, env_extra=None, timeout_s=20):
    env = dict(os.environ)
    env.pop("SOCKIT_PROXY_AUTH", None)
    env.update(env_extra or {})
    return subprocess.run([SOCKIT, "connect", *args], input=data, capture_output=True,
                          timeout=timeout(timeout_s), env=env)


def converse(args, data, expect, env_extra=None):
    """sockit connect with stdin held open until `expect` bytes have come back, then
    closed: for a proxy that ends the tunnel at the client's half-close."""
    env = dict(os.environ)
    env.pop("SOCKIT_PROXY_AUTH", None)
    env.update(env_extra or {})
    p = subprocess.Popen([SOCKIT, "connect", *args], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    got = b""
    try:
        p.stdin.write(data)
        p.stdin.flush()
        reader = threading.Thread(target=lambda: got_into.append(p.stdout.read(expect)))
        got_into = []
        reader.start()
        reader.join(timeout(10))
        got = got_into[0] if got_into else b""
    finally:
        p.stdin.close()
        try:
            p.wait(timeout=timeout(10))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        err = p.stderr.read()
        p.stdout.close()
        p.stderr.close()
    return got, p.returncode, err


def socks5_server(*extra):
    return Server("forward", "--socks5", "127.0.0.1:0", "--json", *extra, json_mode=True)


def events(srv, want, limit=50):
    """JSON events from the server's stdout until one whose `event` is `want`."""
    seen = []
    for _ in range(limit):
        e = json.loads(read_line(srv.proc.stdout, timeout(10)))
        seen.append(e)
        if e["event"] == want:
            return e, seen
    raise AssertionError(seen)


@unittest.skipUnless(HAVE_DANTE, "dante-server is not installed (scripts/install-deps)")
class ThroughDante(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sockit-dante-")
        cls.proxy = dante(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_a_stream_through_dante(self):
        t = Target()
        try:
            data = os.urandom(300_000)
            r = connect(["--proxy", f"127.0.0.1:{self.proxy.port}", "-v",
                         f"127.0.0.1:{t.port}"], data)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, data.upper())
        finally:
            t.close()

    def test_remote_dns_through_dante(self):
        t = Target()
        try:
            r = connect(["--proxy", f"127.0.0.1:{self.proxy.port}", "--proxy-dns",
                         f"localhost:{t.port}"], b"hello")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, b"HELLO")
        finally:
            t.close()

    def test_dante_refusing_a_target_is_reported(self):
        port = free_port()  # nothing listens there
        r = connect(["--proxy", f"127.0.0.1:{self.proxy.port}", f"127.0.0.1:{port}"], b"x")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"SOCKS5 proxy:", r.stderr)


@unittest.skipUnless(HAVE_TINYPROXY, "tinyproxy is not installed (scripts/install-deps)")
class ThroughTinyproxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sockit-tinyproxy-")
        cls.proxy = tinyproxy(cls.tmp, auth=("alice", "s3cret"))

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def args(self, port):
        return ["--proxy", f"127.0.0.1:{self.proxy.port}", "--proxy-type", "http",
                f"127.0.0.1:{port}"]

    def test_credentials_from_the_environment(self):
        t = Target(at_once=True)
        try:
            got, rc, err = converse(self.args(t.port), b"through http", 12,
                                    {"SOCKIT_PROXY_AUTH": "alice:s3cret"})
            self.assertEqual(got, b"THROUGH HTTP", err)
        finally:
            t.close()

    def test_credentials_from_a_file_and_a_target_that_talks_first(self):
        # The banner may arrive with the proxy's 200 in one segment: it must not be lost in
        # the reading of the response head, nor shown as part of it.
        t = Target(banner=b"SSH-2.0-test\r\n", at_once=True)
        with TempDir() as d:
            path = os.path.join(d, "auth")
            with open(path, "w") as f:
                f.write("alice:s3cret\n")
            try:
                got, rc, err = converse(["--proxy-auth-file", path, *self.args(t.port)], b"abc",
                                        17)
                self.assertEqual(got, b"SSH-2.0-test\r\nABC", err)
            finally:
                t.close()

    def test_no_credentials_is_a_clear_refusal(self):
        t = Target()
        try:
            r = connect(self.args(t.port), b"x")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"HTTP proxy: 407", r.stderr)
        finally:
            t.close()


class CurlHttp:
    """A loopback HTTP server with one page, for curl to fetch through the SOCKS5 server."""

    BODY = os.urandom(100_000).hex().encode()

    def __init__(self):
        body = self.BODY

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def curl(proxy_port, url, *extra):
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout(10)), "--socks5-hostname",
                           f"127.0.0.1:{proxy_port}", *extra, url], capture_output=True,
                          timeout=timeout(20))


class Socks5Server(unittest.TestCase):
    @unittest.skipUnless(HAVE_CURL, "curl is not installed (scripts/install-deps)")
    def test_curl_through_sockit(self):
        web = CurlHttp()
        try:
            with socks5_server() as srv:
                r = curl(srv.port, f"http://localhost:{web.port}/page")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, CurlHttp.BODY)
                e, _ = events(srv, "closed")
                self.assertEqual(e["requested"], f"localhost:{web.port}")  # resolved by us
                self.assertGreater(e["bytes_down"], len(CurlHttp.BODY))
        finally:
            web.close()

    @unittest.skipUnless(HAVE_CURL, "curl is not installed (scripts/install-deps)")
    def test_curl_with_a_password(self):
        web = CurlHttp()
        with TempDir() as d:
            users = os.path.join(d, "users")
            with open(users, "w") as f:
                f.write("# who may use the proxy\nbob:hunter2\nalice:pa:ss\n")
            os.chmod(users, 0o600)
            try:
                with socks5_server("--auth-file", users) as srv:
                    # curl's own test passwords on its argv are fine; sockit's are never.
                    r = curl(srv.port, f"http://127.0.0.1:{web.port}/", "--proxy-user",
                             "alice:pa:ss")
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(r.stdout, CurlHttp.BODY)
                    r = curl(srv.port, f"http://127.0.0.1:{web.port}/", "--proxy-user",
                             "alice:wrong")
                    self.assertNotEqual(r.returncode, 0)
                    e, _ = events(srv, "rejected")
                    self.assertIn("wrong user or password", e["detail"])
                    r = curl(srv.port, f"http://127.0.0.1:{web.port}/")  # no method 2 offered
                    self.assertNotEqual(r.returncode, 0)
            finally:
                web.close()

    def test_sockit_client_to_sockit_server(self):
        t = Target()
        with TempDir() as d:
            users = os.path.join(d, "users")
            with open(users, "w") as f:
                f.write("carol:x y z\n")
            os.chmod(users, 0o600)
            try:
                with socks5_server("--auth-file", users) as srv:
                    base = ["--proxy", f"127.0.0.1:{srv.port}"]
                    r = connect([*base, "--proxy-dns", f"localhost:{t.port}"], b"remote dns",
                                {"SOCKIT_PROXY_AUTH": "carol:x y z"})
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(r.stdout, b"REMOTE DNS")
                    e, _ = events(srv, "closed")
                    self.assertEqual(e["requested"], f"localhost:{t.port}")
                    # Without --proxy-dns the name is resolved here: the proxy sees an address.
                    r = connect([*base, f"localhost:{t.port}"], b"local dns",
                                {"SOCKIT_PROXY_AUTH": "carol:x y z"})
                    self.assertEqual(r.returncode, 0, r.stderr)
                    e, _ = events(srv, "closed")
                    self.assertFalse(e["requested"].startswith("localhost"), e)
                    r = connect([*base, f"127.0.0.1:{t.port}"], b"x")  # no credentials
                    self.assertNotEqual(r.returncode, 0)
                    self.assertIn(b"SOCKIT_PROXY_AUTH", r.stderr)
            finally:
                t.close()

    def test_a_target_that_is_down_gets_connection_refused(self):
        with socks5_server() as srv:
            r = connect(["--proxy", f"127.0.0.1:{srv.port}", f"127.0.0.1:{free_port()}"], b"x")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"SOCKS5 proxy: connection refused", r.stderr)
            e, _ = events(srv, "target_failed")
            self.assertIn("refused", e["detail"].lower())

    def raw(self, srv, greeting):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout(5))
        s.sendall(greeting)
        return s

    def reply_to(self, srv, request):
        with self.raw(srv, b"\x05\x01\x00") as s:
            self.assertEqual(s.recv(2), b"\x05\x00")
            s.sendall(request)
            return s.recv(10)

    def test_hostile_openings(self):
        with socks5_server("--handshake-timeout", str(timeout(1))) as srv:
            with self.raw(srv, b"\x05\x01\x80") as s:  # only a private method
                self.assertEqual(s.recv(2), b"\x05\xff")
                self.assertEqual(s.recv(1), b"")
            # BIND and UDP ASSOCIATE: command not supported (7).
            self.assertEqual(self.reply_to(srv, b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x15")[:2],
                             b"\x05\x07")
            self.assertEqual(self.reply_to(srv, b"\x05\x03\x00\x01\x7f\x00\x00\x01\x00\x15")[:2],
                             b"\x05\x07")
            # An unknown address type (8), a name with an escape sequence in it (4).
            self.assertEqual(self.reply_to(srv, b"\x05\x01\x00\x09\x00\x00")[:2], b"\x05\x08")
            self.assertEqual(self.reply_to(srv, b"\x05\x01\x00\x03\x05a\x1b[2Jb\x00\x50")[:2],
                             b"\x05\x04")
            # Half a greeting, then silence: closed after the handshake timeout.
            with self.raw(srv, b"\x05") as s:
                s.settimeout(timeout(5))
                self.assertEqual(s.recv(1), b"")
            details = []  # one refusal for each of the six openings above
            while len(details) < 6:
                e, _ = events(srv, "rejected")
                details.append(e["detail"])
            self.assertTrue(any("timeout" in d for d in details), details)
            self.assertTrue(any("BIND" in d for d in details), details)
            # Nothing raw reached the log: the name's bytes are not in any event.
            self.assertFalse(any("\x1b" in d for d in details), details)
            # And it still serves.
            t = Target()
            try:
                r = connect(["--proxy", f"127.0.0.1:{srv.port}", f"127.0.0.1:{t.port}"], b"ok")
                self.assertEqual(r.stdout, b"OK", r.stderr)
            finally:
                t.close()

    def test_a_client_outside_allow_is_closed_unanswered(self):
        with socks5_server("--allow", "10.0.0.0/8") as srv:
            with self.raw(srv, b"\x05\x01\x00") as s:
                s.settimeout(timeout(5))
                try:
                    self.assertEqual(s.recv(2), b"")
                except ConnectionResetError:
                    pass
            e, _ = events(srv, "rejected")
            self.assertIn("--allow", e["detail"])

    def test_usage(self):
        r = run("forward", "--socks5", "127.0.0.1:0", "127.0.0.1:9")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"--socks5 takes no TARGET", r.stderr)
        r = run("connect", "--proxy", "127.0.0.1:9", "-u", "127.0.0.1:9")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"not UDP", r.stderr)
        r = run("connect", "--proxy-dns", "127.0.0.1:9")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"need --proxy", r.stderr)
        for cmd, flag in (("connect", b"--proxy-auth-file"), ("forward", b"--socks5")):
            self.assertIn(flag, run(cmd, "--help").stdout)


if __name__ == "__main__":
    unittest.main()
