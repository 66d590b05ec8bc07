"""TLS beyond `serve`: `echo --tls`, `connect --tls`, `listen --tls` and `sockit cert`, with
the real binary and independent TLS peers: `openssl s_client` / `s_server`, `ncat --ssl`,
`socat OPENSSL` and Python's ssl module (docs/SECURITY.md)."""
import os
import shutil
import socket
import ssl
import subprocess
import time
import unittest

from sockit_test import SOCKIT, Server, TempDir, read_line, run, spawn, timeout
from test_tls import spki_fingerprint


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True,
                   timeout=timeout(30))


def make_ca_and_leaf(d, leaf_name):
    """A CA and a leaf certificate for `leaf_name` signed by it, made with the openssl tool."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test CA", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=" + leaf_name, cwd=d)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write(f"subjectAltName=DNS:{leaf_name}\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return (os.path.join(d, "ca.pem"), os.path.join(d, "leaf.pem"), os.path.join(d, "leaf.key"))


def config_env(d):
    """An environment whose sockit config directory (identity, known_hosts) is `d`."""
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = d
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EchoTls(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir()
        self.d = self.tmp.__enter__()

    def tearDown(self):
        self.tmp.__exit__(None, None, None)

    def test_listening_line_shows_the_stored_identity_and_cert_show_agrees(self):
        with Server("echo", "--tls", "127.0.0.1:0") as srv:
            self.assertRegex(srv.identity or "", r"^SHA256:[A-Za-z0-9+/]{43}$")
            shown = run("cert", "show")
            self.assertEqual(shown.returncode, 0, shown.stderr)
            self.assertIn(srv.identity, shown.stdout.decode())
            out = os.path.join(self.d, "sockit.pem")
            r = run("cert", "export", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out, "rb") as f:
                pem = f.read()
            self.assertNotIn(b"PRIVATE KEY", pem)
            self.assertEqual(spki_fingerprint(pem), srv.identity)

    def test_sockit_connect_pinned_gets_the_upper_cased_echo(self):
        with Server("echo", "--tls", "--upper", "127.0.0.1:0") as srv:
            r = run("connect", "--tls", "--pin", srv.identity, srv.endpoint, input=b"hello tls\n")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, b"HELLO TLS\n")

    def test_python_ssl_client_speaks_tls13_and_plaintext_client_is_told(self):
        with Server("echo", "--tls", "--upper", "127.0.0.1:0") as srv:
            plain = srv.connect()
            plain.sendall(b"hello\n")
            told = b""
            while not told.endswith(b"\n"):
                chunk = plain.recv(4096)
                if not chunk:
                    break
                told += chunk
            self.assertIn(b"speaks TLS", told)
            self.assertNotIn(b"HELLO", told)  # nothing it sent was echoed in the clear
            plain.close()
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with ctx.wrap_socket(srv.connect()) as t:
                self.assertEqual(t.version(), "TLSv1.3")
                t.sendall(b"still serving\n")
                got = b""
                while len(got) < 14:
                    got += t.recv(4096)
                self.assertEqual(got, b"STILL SERVING\n")

    def test_tls12_client_is_refused(self):
        with Server("echo", "--tls", "127.0.0.1:0") as srv:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                with ctx.wrap_socket(srv.connect()) as t:
                    t.sendall(b"x")
                    t.recv(1)

    def test_openssl_s_client(self):
        with Server("echo", "--tls", "--upper", "127.0.0.1:0") as srv:
            p = subprocess.Popen(["openssl", "s_client", "-quiet", "-connect",
                                  f"127.0.0.1:{srv.port}"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            try:
                p.stdin.write(b"from s_client\n")
                p.stdin.flush()
                self.assertEqual(read_line(p.stdout, timeout(10)), "FROM S_CLIENT\n")
            finally:
                p.kill()
                p.communicate(timeout=10)

    @unittest.skipUnless(shutil.which("ncat") and shutil.which("socat"), "ncat/socat missing")
    def test_ncat_and_socat_verify_the_exported_certificate(self):
        out = os.path.join(self.d, "sockit.pem")
        self.assertEqual(run("cert", "export", out).returncode, 0)
        with Server("echo", "--tls", "--upper", "127.0.0.1:0") as srv:
            n = subprocess.run(["ncat", "--ssl-verify", "--ssl-trustfile", out, "localhost",
                                str(srv.port)], input=b"ncat verified\n", capture_output=True,
                               timeout=timeout(20))
            self.assertEqual((n.returncode, n.stdout), (0, b"NCAT VERIFIED\n"), n.stderr)
            s = subprocess.run(["socat", "-", f"OPENSSL:localhost:{srv.port},cafile={out}"],
                               input=b"socat verified\n", capture_output=True,
                               timeout=timeout(20))
            self.assertEqual((s.returncode, s.stdout), (0, b"SOCAT VERIFIED\n"), s.stderr)
            # Another identity's certificate is not trusted by ncat.
            other = os.path.join(self.d, "other")
            os.mkdir(other)
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", "k.pem", "-out", "c.pem", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", cwd=other)
            bad = subprocess.run(["ncat", "--ssl-verify", "--ssl-trustfile",
                                  os.path.join(other, "c.pem"), "localhost", str(srv.port)],
                                 input=b"x\n", capture_output=True, timeout=timeout(20))
            self.assertNotEqual(bad.returncode, 0)
            self.assertEqual(bad.stdout, b"")

    def test_udp_with_tls_is_refused(self):
        r = run("echo", "--tls", "--udp", "127.0.0.1:0")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"not UDP", r.stderr)


class ConnectTls(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir()
        self.d = self.tmp.__enter__()

    def tearDown(self):
        self.tmp.__exit__(None, None, None)

    def test_first_use_refused_without_a_terminal_then_accept_new_then_a_change_is_fatal(self):
        client_cfg = os.path.join(self.d, "client")
        env = config_env(client_cfg)
        with Server("echo", "--tls", "127.0.0.1:0", env=config_env(os.path.join(self.d, "a"))) as a:
            r = run("connect", "--tls", a.endpoint, input=b"x\n", env=env)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"unknown server identity", r.stderr)
            self.assertEqual(r.stdout, b"")
            r = run("connect", "--tls", "--accept-new", a.endpoint, input=b"first\n", env=env)
            self.assertEqual((r.returncode, r.stdout), (0, b"first\n"), r.stderr)
            with open(os.path.join(client_cfg, "sockit", "known_hosts")) as f:
                self.assertIn(a.identity, f.read())
            r = run("connect", "--tls", a.endpoint, input=b"again\n", env=env)
            self.assertEqual((r.returncode, r.stdout), (0, b"again\n"), r.stderr)
            port = a.port
        # Another server (another identity) on the same endpoint.
        with Server("echo", "--tls", f"127.0.0.1:{port}",
                    env=config_env(os.path.join(self.d, "b"))) as b:
            self.assertNotEqual(b.identity, a.identity)
            for extra in ([], ["--accept-new"]):
                r = run("connect", "--tls", *extra, b.endpoint, input=b"secret\n", env=env)
                self.assertNotEqual(r.returncode, 0)
                self.assertIn(b"HAS CHANGED", r.stderr)
                self.assertEqual(r.stdout, b"")

    def test_wrong_pin_sends_nothing(self):
        with Server("echo", "--tls", "--json", "-v", "127.0.0.1:0", json_mode=True) as srv:
            wrong = "SHA256:" + "A" * 43
            r = run("connect", "--tls", "--pin", wrong, srv.endpoint, input=b"secret\n")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"not the pinned", r.stderr)
            code, out, _ = srv.stop()
            self.assertIn('"bytes":0', out.replace(" ", ""))

    def test_tls_to_a_plaintext_server_fails_clearly(self):
        with Server("echo", "127.0.0.1:0") as srv:
            r = run("connect", "--tls", "--accept-new", srv.endpoint, input=b"x\n")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"TLS handshake failed", r.stderr)

    def test_trust_options_need_tls(self):
        r = run("connect", "--pin", "SHA256:" + "A" * 43, "127.0.0.1:1")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"need --tls", r.stderr)

    def test_cafile_checks_the_chain_and_the_host_name_against_openssl_s_server(self):
        ca, leaf, key = make_ca_and_leaf(self.d, "localhost")
        port = free_port()
        srv = subprocess.Popen(["openssl", "s_server", "-quiet", "-cert", leaf, "-key", key,
                                "-accept", f"127.0.0.1:{port}", "-naccept", "3"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + timeout(10)
            while True:  # s_server prints nothing when ready: wait for the port to open
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    self.assertLess(time.monotonic(), deadline, "s_server did not start")
                    time.sleep(0.05)
            # That probe used up one of -naccept 3.
            good = run("connect", "--tls", "--cafile", ca, f"localhost:{port}",
                       input=b"to a real certificate\n")
            self.assertEqual(good.returncode, 0, good.stderr)
            # The name is checked: 127.0.0.1 is not in the certificate.
            r = run("connect", "--tls", "--cafile", ca, f"127.0.0.1:{port}", input=b"x\n")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"not trusted", r.stderr)
        finally:
            srv.kill()
            out, _ = srv.communicate(timeout=10)
        self.assertIn(b"to a real certificate", out)
        self.assertNotIn(b"x\n", out)

    def test_pin_and_cafile_are_one_or_the_other_and_cafile_needs_a_host(self):
        ca, _, _ = make_ca_and_leaf(self.d, "localhost")
        with Server("echo", "--tls", "127.0.0.1:0") as srv:
            r = run("connect", "--tls", "--cafile", ca, "--pin", srv.identity,
                    f"localhost:{srv.port}", input=b"x\n")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"give one", r.stderr)
            r = run("connect", "--tls", "--cafile", ca, f":{srv.port}", input=b"x\n")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"need a host name", r.stderr)
            self.assertEqual(r.stdout, b"")

    def test_system_ca_refuses_a_self_signed_server(self):
        with Server("echo", "--tls", "127.0.0.1:0") as srv:
            r = run("connect", "--tls", "--system-ca", f"localhost:{srv.port}", input=b"x\n")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"not trusted", r.stderr)


class ListenTls(unittest.TestCase):
    def test_sockit_connect_to_listen_tls_both_ways(self):
        lst = spawn("listen", "--tls", "127.0.0.1:0")
        try:
            line = read_line(lst.stderr, timeout(10))
            self.assertIn("(TLS, identity SHA256:", line)
            endpoint = line.split()[2]
            identity = line.split("identity ", 1)[1].rstrip(")\n")
            lst.stdin.write(b"from the listener\n")
            lst.stdin.close()
            lst.stdin = None  # communicate() must not flush it
            r = run("connect", "--tls", "--pin", identity, endpoint, input=b"from the client\n")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, b"from the listener\n")
            out, err = lst.communicate(timeout=timeout(10))
            self.assertEqual(out, b"from the client\n")
            self.assertEqual(lst.returncode, 0, err)
        finally:
            if lst.poll() is None:
                lst.kill()
                lst.communicate(timeout=10)

    @unittest.skipUnless(shutil.which("ncat"), "ncat missing")
    def test_ncat_ssl_client(self):
        lst = spawn("listen", "--tls", "127.0.0.1:0")
        try:
            line = read_line(lst.stderr, timeout(10))
            port = line.split()[2].rsplit(":", 1)[1]
            lst.stdin.write(b"hello ncat\n")
            lst.stdin.close()
            lst.stdin = None  # communicate() must not flush it
            n = subprocess.run(["ncat", "--ssl", "127.0.0.1", port], input=b"hello sockit\n",
                               capture_output=True, timeout=timeout(20))
            self.assertEqual((n.returncode, n.stdout), (0, b"hello ncat\n"), n.stderr)
            out, _ = lst.communicate(timeout=timeout(10))
            self.assertEqual(out, b"hello sockit\n")
        finally:
            if lst.poll() is None:
                lst.kill()
                lst.communicate(timeout=10)

    def test_plaintext_peer_of_listen_tls_gets_nothing(self):
        lst = spawn("listen", "--tls", "127.0.0.1:0")
        try:
            line = read_line(lst.stderr, timeout(10))
            endpoint = line.split()[2]
            lst.stdin.write(b"secret for TLS peers only\n")
            lst.stdin.close()
            lst.stdin = None  # communicate() must not flush it
            r = run("connect", endpoint, input=b"plain\n")
            self.assertNotIn(b"secret", r.stdout)
            out, err = lst.communicate(timeout=timeout(20))
            self.assertEqual(out, b"")
            self.assertIn(b"TLS handshake failed", err)
        finally:
            if lst.poll() is None:
                lst.kill()
                lst.communicate(timeout=10)


if __name__ == "__main__":
    unittest.main()
