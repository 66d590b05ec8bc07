"""TLS, pinned identities and tokens on `sockit serve` / put / get / ls (docs/SECURITY.md),
with the real binary on both sides and independent peers: Python's ssl module (stdlib,
OpenSSL underneath but none of sockit's code) and `openssl s_client`."""
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import subprocess
import time
import unittest

from sockit_test import SOCKIT, Server, TempDir, read_line, run, timeout
from transfer_proto import MAGIC, Client


def spki_fingerprint(cert_pem):
    """SHA256:<base64 of SHA-256 of the DER public key>, computed with the openssl tool."""
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=cert_pem,
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         capture_output=True, check=True).stdout
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


class TlsServer:
    """`sockit serve DIR` with its defaults (TLS + a generated token), reading the token it
    prints once on stderr."""

    def __init__(self, directory, *extra):
        self.srv = Server("serve", directory, "127.0.0.1:0", *extra, tls=True)
        self.token = None
        if "--token-file" not in extra:
            deadline = time.monotonic() + timeout(10)
            while self.token is None and time.monotonic() < deadline:
                line = read_line(self.srv.proc.stderr, timeout(10))
                if line.startswith("token "):
                    self.token = line.split()[1]
            assert self.token, "no token printed"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.srv.__exit__(*exc)


def env_with(token=None, **more):
    env = dict(os.environ)
    env.pop("SOCKIT_TOKEN", None)
    if token is not None:
        env["SOCKIT_TOKEN"] = token
    env.update(more)
    return env


class TlsTransfer(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir()
        self.d = self.tmp.__enter__()
        self.served = os.path.join(self.d, "served")
        os.mkdir(self.served)
        self.src = os.path.join(self.d, "a.txt")
        with open(self.src, "wb") as f:
            f.write(b"over TLS\n" * 1000)

    def tearDown(self):
        self.tmp.__exit__(None, None, None)

    def test_default_is_tls_with_identity_and_token_and_a_pinned_put_get_ls_works(self):
        with TlsServer(self.served) as s:
            srv = s.srv
            self.assertIsNotNone(srv.identity)
            self.assertRegex(srv.identity, r"^SHA256:[A-Za-z0-9+/]{43}$")
            self.assertRegex(s.token, r"^[0-9a-f]{32}$")
            env = env_with(s.token)
            r = run("put", "--pin", srv.identity, self.src, srv.endpoint, env=env, tls=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(self.served, "a.txt"), "rb") as f:
                self.assertEqual(f.read(), b"over TLS\n" * 1000)
            r = run("ls", "--pin", srv.identity, srv.endpoint, env=env, tls=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"a.txt", r.stdout)
            out = os.path.join(self.d, "out")
            os.mkdir(out)
            r = run("get", "--pin", srv.identity, "-o", out, "a.txt", srv.endpoint, env=env,
                    tls=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(out, "a.txt"), "rb") as f:
                self.assertEqual(f.read(), b"over TLS\n" * 1000)

    def test_missing_and_wrong_tokens_are_refused_and_the_server_keeps_serving(self):
        with TlsServer(self.served) as s:
            srv = s.srv
            r = run("put", "--pin", srv.identity, self.src, srv.endpoint, env=env_with(), tls=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"requires a token", r.stderr)
            r = run("put", "--pin", srv.identity, self.src, srv.endpoint,
                    env=env_with("0" * 32), tls=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"wrong token", r.stderr)
            self.assertEqual(os.listdir(self.served), [])
            token_file = os.path.join(self.d, "token")
            with open(token_file, "w") as f:
                f.write(s.token + "\n")
            r = run("put", "--pin", srv.identity, "--token-file", token_file, self.src,
                    srv.endpoint, env=env_with(), tls=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(os.listdir(self.served), ["a.txt"])

    def test_no_option_takes_a_token_on_the_command_line(self):
        for cmd in (["serve", "--token", "x", self.served], ["put", "--token", "x", self.src, ":1"]):
            r = run(*cmd, tls=True)
            self.assertEqual(r.returncode, 2, r.stderr)  # CLI11: unknown option

    def test_trust_on_first_use_then_a_changed_identity_is_a_hard_failure(self):
        known = os.path.join(self.d, "known_hosts")
        with TlsServer(self.served) as s:
            srv, env = s.srv, env_with(s.token)
            r = run("ls", "--known-hosts", known, srv.endpoint, env=env, tls=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"unknown server identity", r.stderr)
            self.assertIn(srv.identity.encode(), r.stderr)
            self.assertFalse(os.path.exists(known))
            r = run("ls", "--known-hosts", known, "--accept-new", srv.endpoint, env=env, tls=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(known) as f:
                self.assertEqual(f.read(), f"{srv.endpoint} {srv.identity}\n")
            r = run("ls", "--known-hosts", known, srv.endpoint, env=env, tls=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            # Another key at the same endpoint (as an attacker in the middle would show).
            with open(known, "w") as f:
                f.write(f"{srv.endpoint} SHA256:{'A' * 43}\n")
            r = run("put", "--known-hosts", known, "--accept-new", self.src, srv.endpoint,
                    env=env, tls=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"HAS CHANGED", r.stderr)
            self.assertEqual(os.listdir(self.served), [])

    def test_the_identity_is_kept_across_restarts_and_matches_openssl(self):
        with TlsServer(self.served) as s:
            first = s.srv.identity
            out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{s.srv.port}",
                                  "-showcerts", "-brief"], input=b"", capture_output=True,
                                 timeout=timeout(20))
            self.assertIn(b"TLSv1.3", out.stdout + out.stderr)
        with TlsServer(self.served) as s:
            self.assertEqual(s.srv.identity, first)
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with socket.create_connection(("127.0.0.1", s.srv.port), timeout=timeout(10)) as raw:
                with ctx.wrap_socket(raw) as tls:
                    pem = ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True)).encode()
                    self.assertEqual(spki_fingerprint(pem), first)
                    self.assertEqual(tls.version(), "TLSv1.3")

    def test_python_ssl_peer_speaks_the_protocol_with_the_token(self):
        with TlsServer(self.served) as s:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            raw = socket.create_connection(("127.0.0.1", s.srv.port), timeout=timeout(10))
            with ctx.wrap_socket(raw) as tls:
                c = Client(tls)
                tls.sendall(MAGIC)
                c.send({"op": "hello", "id": 0, "versions": [1], "client": "py",
                        "auth": {"token": s.token}})
                reply, _ = c.recv()
                self.assertEqual((reply["op"], reply["auth"]), ("hello", "token"))
                self.assertEqual(c.put("p.txt", b"from python")["op"], "ok")
            with open(os.path.join(self.served, "p.txt"), "rb") as f:
                self.assertEqual(f.read(), b"from python")

    def test_a_truncated_upload_stores_nothing(self):
        with TlsServer(self.served, "-v") as s:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            raw = socket.create_connection(("127.0.0.1", s.srv.port), timeout=timeout(10))
            tls = ctx.wrap_socket(raw)
            c = Client(tls)
            tls.sendall(MAGIC)
            c.send({"op": "hello", "id": 0, "versions": [1], "auth": {"token": s.token}})
            self.assertEqual(c.recv()[0]["op"], "hello")
            head = json.dumps({"op": "put", "id": 1, "name": "cut.bin", "hash": "sha256",
                               "size": 100000}).encode()
            tls.sendall(struct.pack(">I", len(head)) + head + b"x" * 50000)
            # SSLSocket.shutdown() shuts the TCP connection down without TLS's close_notify
            # (that is unwrap()): truncated mid-body.
            tls.shutdown(socket.SHUT_RDWR)
            tls.close()
            # The server reports the connection closed; nothing got the name.
            deadline = time.monotonic() + timeout(10)
            line = ""
            while not line.startswith("closed") and time.monotonic() < deadline:
                line = read_line(s.srv.proc.stderr, timeout(10))
            self.assertTrue(line.startswith("closed"), line)
            self.assertFalse(os.path.exists(os.path.join(self.served, "cut.bin")))

    def test_a_handshake_that_stalls_is_dropped_at_the_header_timeout(self):
        with TlsServer(self.served, "--header-timeout", "1") as s:
            with socket.create_connection(("127.0.0.1", s.srv.port), timeout=timeout(10)) as raw:
                raw.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
                t0 = time.monotonic()
                self.assertEqual(raw.recv(100), b"")  # closed by the server
                self.assertLess(time.monotonic() - t0, timeout(8))
            # Others are still served.
            r = run("ls", "--pin", s.srv.identity, s.srv.endpoint, env=env_with(s.token), tls=True)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_plaintext_and_tls_mismatches_fail_clearly(self):
        with TlsServer(self.served) as s:
            r = run("ls", "--plain", s.srv.endpoint, env=env_with(s.token), tls=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"this server speaks TLS", r.stderr)
        with Server("serve", "--plain", self.served, "127.0.0.1:0", tls=True) as srv:
            r = run("ls", "--accept-new", srv.endpoint, env=env_with(), tls=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"--plain", r.stderr)
            r = run("ls", "--plain", srv.endpoint, env=env_with(), tls=True)
            self.assertEqual(r.returncode, 0, r.stderr)  # loopback: protected mode serves it

    def test_a_token_makes_the_classic_format_refused(self):
        token_file = os.path.join(self.d, "token")
        with open(token_file, "w") as f:
            f.write("t0ken\n")
        with Server("serve", "--plain", "--token-file", token_file, self.served, "127.0.0.1:0",
                    tls=True) as srv:
            run("put", "--classic", self.src, srv.endpoint, tls=True)  # no replies to check
            deadline = time.monotonic() + timeout(10)
            seen = ""
            while "cannot carry a token" not in seen and time.monotonic() < deadline:
                seen = read_line(srv.proc.stderr, timeout(10))
            self.assertIn("cannot carry a token", seen)
            self.assertEqual(os.listdir(self.served), [])
            r = run("put", "--plain", "--token-file", token_file, self.src, srv.endpoint,
                    tls=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(os.listdir(self.served), ["a.txt"])

if __name__ == "__main__":
    unittest.main()
