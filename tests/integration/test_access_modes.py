"""`sockit serve` access modes (docs/SECURITY.md): --read-only, --upload-only (a drop box)
and --allow/--deny subnets checked before TLS, with the real binary over TLS and plaintext,
and Python's ssl module as an independent TLS peer."""
import os
import socket
import ssl
import unittest

from sockit_test import Server, TempDir, run
from test_tls import TlsServer, env_with
from transfer_proto import Client, classic


class AccessModes(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir()
        self.d = self.tmp.__enter__()
        self.served = os.path.join(self.d, "served")
        os.mkdir(self.served)
        with open(os.path.join(self.served, "there.txt"), "wb") as f:
            f.write(b"already served\n")
        self.src = os.path.join(self.d, "new.txt")
        with open(self.src, "wb") as f:
            f.write(b"uploaded\n" * 100)
        self.out = os.path.join(self.d, "out")
        os.mkdir(self.out)

    def tearDown(self):
        self.tmp.__exit__(None, None, None)

    def client(self, s, *args):
        return run(*args[:1], "--pin", s.srv.identity, *args[1:], env=env_with(s.token), tls=True)

    def test_read_only_refuses_put_and_mkdir_but_serves_ls_and_get(self):
        with TlsServer(self.served, "--read-only") as s:
            r = self.client(s, "put", self.src, s.srv.endpoint)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"forbidden", r.stderr)
            tree = os.path.join(self.d, "tree")
            os.makedirs(os.path.join(tree, "sub"))
            r = self.client(s, "put", tree, s.srv.endpoint)
            self.assertNotEqual(r.returncode, 0)
            self.assertEqual(sorted(os.listdir(self.served)), ["there.txt"])
            r = self.client(s, "ls", s.srv.endpoint)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"there.txt", r.stdout)
            r = self.client(s, "get", "-o", self.out, "there.txt", s.srv.endpoint)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(self.out, "there.txt"), "rb") as f:
                self.assertEqual(f.read(), b"already served\n")

    def test_upload_only_takes_files_but_neither_lists_nor_sends_any(self):
        with TlsServer(self.served, "--upload-only") as s:
            r = self.client(s, "put", self.src, s.srv.endpoint)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(self.served, "new.txt"), "rb") as f:
                self.assertEqual(f.read(), b"uploaded\n" * 100)
            r = self.client(s, "ls", s.srv.endpoint)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"upload-only", r.stderr)
            self.assertNotIn(b"there.txt", r.stdout)
            r = self.client(s, "get", "-o", self.out, "there.txt", s.srv.endpoint)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"forbidden", r.stderr)
            self.assertEqual(os.listdir(self.out), [])

    def test_upload_only_refuses_stat_get_ls_on_the_wire_and_stays_in_step(self):
        with Server("serve", "--plain", "--upload-only", self.served, "127.0.0.1:0") as srv:
            c = Client.connect(srv)
            for i, op in enumerate(("stat", "get", "ls")):
                c.send({"op": op, "id": i + 1, "name": "there.txt", "path": ""})
                h, _ = c.recv()
                self.assertEqual((h["op"], h["id"], h["code"]), ("error", i + 1, "forbidden"))
            self.assertEqual(c.put("late.txt", b"x" * 1000)["op"], "ok")
            c.close()

    def test_read_only_put_body_is_drained_and_the_next_request_answered(self):
        with Server("serve", "--plain", "--read-only", self.served, "127.0.0.1:0") as srv:
            c = Client.connect(srv)
            r = c.put("no.txt", b"y" * 200000)
            self.assertEqual((r["op"], r["code"]), ("error", "forbidden"))
            c.send({"op": "mkdir", "id": 50, "name": "d"})
            h, _ = c.recv()
            self.assertEqual((h["id"], h["code"]), (50, "forbidden"))
            h = c.stat("there.txt")
            self.assertEqual(h["op"], "stat", h)
            self.assertEqual(sorted(os.listdir(self.served)), ["there.txt"])
            c.close()

    def test_read_only_refuses_the_classic_format(self):
        with Server("serve", "--plain", "--read-only", self.served, "127.0.0.1:0") as srv:
            s = srv.connect()
            s.sendall(classic("evil.txt", b"sneaked in\n"))
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096):
                pass
            s.close()
            _, _, err = srv.stop()
        self.assertEqual(sorted(os.listdir(self.served)), ["there.txt"])

    def test_upload_only_never_replaces_or_extends_anothers_file(self):
        with Server("serve", "--plain", "--upload-only", "--allow-overwrite", self.served,
                    "127.0.0.1:0") as srv:
            c = Client.connect(srv)
            r = c.put("there.txt", b"replaced", overwrite=True)
            self.assertEqual((r["op"], r["code"]), ("error", "forbidden"))
            r = c.put("there.txt", b"more", offset=15, prefix_hash="00" * 32)
            self.assertEqual((r["op"], r["code"]), ("error", "forbidden"))
            self.assertEqual(c.put("fresh.txt", b"new")["op"], "ok")
            c.close()
        with open(os.path.join(self.served, "there.txt"), "rb") as f:
            self.assertEqual(f.read(), b"already served\n")

    def test_deny_refuses_before_tls_with_an_access_denied_alert(self):
        with TlsServer(self.served, "--deny", "127.0.0.0/8", "-v") as s:
            r = self.client(s, "ls", s.srv.endpoint)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"access denied", r.stderr)
            self.assertIn(b"--allow/--deny", r.stderr)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with self.assertRaises((ssl.SSLError, ConnectionError)) as caught:
                with ctx.wrap_socket(s.srv.connect()):
                    pass
            if isinstance(caught.exception, ssl.SSLError):
                self.assertIn("ACCESS_DENIED", str(caught.exception))
            code, _, err = s.srv.stop()
            rejected = [l for l in err.splitlines() if l.startswith("rejected ")]
            self.assertEqual(len(rejected), 2, err)
            self.assertTrue(all("address not allowed" in l for l in rejected), err)
            self.assertIn("2 rejected", err)

    def test_allow_lists_admit_only_their_subnets(self):
        with TlsServer(self.served, "--allow", "10.0.0.0/8", "--allow", "192.168.0.0/16") as s:
            r = self.client(s, "ls", s.srv.endpoint)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"access denied", r.stderr)
        with TlsServer(self.served, "--allow", "10.0.0.0/8", "--allow", "127.0.0.1/32") as s:
            r = self.client(s, "ls", s.srv.endpoint)
            self.assertEqual(r.returncode, 0, r.stderr)
        with TlsServer(self.served, "--allow", "127.0.0.0/8", "--deny", "127.0.0.1/32") as s:
            r = self.client(s, "ls", s.srv.endpoint)
            self.assertNotEqual(r.returncode, 0)

    def test_plaintext_refusal_is_a_frame_and_unix_peers_are_not_filtered(self):
        with Server("serve", "--plain", "--deny", "127.0.0.0/8", self.served,
                    "127.0.0.1:0") as srv:
            r = run("ls", srv.endpoint)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"not allowed", r.stderr)
        path = os.path.join(self.d, "s.sock")
        with Server("serve", "--plain", "--allow", "10.0.0.0/8", self.served,
                    "unix:" + path) as srv:
            r = run("ls", srv.endpoint)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"there.txt", r.stdout)

    def test_bad_subnets_and_both_modes_are_usage_errors(self):
        for extra in (["--allow", "10.0.0.300/8"], ["--deny", "nonsense"],
                      ["--read-only", "--upload-only"]):
            r = run("serve", *extra, self.served, "127.0.0.1:0")
            self.assertEqual(r.returncode, 2, (extra, r.stderr))


if __name__ == "__main__":
    unittest.main()
