"""sockit connect --framed: a protocol console against sockit serve - JSON lines in, one
JSON line per received frame out, bodies by length or base64."""
import base64
import hashlib
import json
import os
import unittest

from sockit_test import Server, TempDir, run


class FramedConsole(unittest.TestCase):
    def test_console_session(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0") as srv:
            lines = [
                {"op": "hello", "id": 0, "versions": [1]},
                {"op": "put", "id": 1, "name": "c.txt", "hash": "md5", "_body": "console"},
                {"op": "end", "id": 1, "hash": hashlib.md5(b"console").hexdigest()},
                {"op": "ls", "id": 2, "path": ""},
                {"op": "bogus", "id": 3},
            ]
            stdin = ("\n".join(json.dumps(l) for l in lines) + "\nnot json\n").encode()
            r = run("connect", "--framed", "--base64", srv.endpoint, input=stdin)
            self.assertEqual(r.returncode, 0, r.stderr)
            frames = [json.loads(l) for l in r.stdout.decode().splitlines()]
            ops = [(f["header"]["op"], f["header"].get("id")) for f in frames]
            self.assertEqual(ops[0], ("hello", 0))
            self.assertEqual(ops[1], ("ok", 1))
            listing = frames[2]
            self.assertEqual(listing["header"]["op"], "ls")
            entry = json.loads(base64.b64decode(listing["body_base64"]).decode().splitlines()[0])
            self.assertEqual(entry["name"], "c.txt")
            self.assertEqual(frames[3]["header"]["code"], "protocol_error")
            self.assertIn(b"not a JSON object", r.stderr)

    def test_put_with_correct_md5_is_stored(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0") as srv:
            body = "framed body 中文"
            digest = hashlib.md5(body.encode()).hexdigest()
            stdin = "\n".join(json.dumps(l, ensure_ascii=False) for l in [
                {"op": "hello", "id": 0, "versions": [1]},
                {"op": "put", "id": 1, "name": "f.txt", "hash": "md5", "_body": body},
                {"op": "end", "id": 1, "hash": digest}]).encode()
            r = run("connect", "--framed", srv.endpoint, input=stdin)
            self.assertEqual(r.returncode, 0, r.stderr)
            frames = [json.loads(l) for l in r.stdout.decode().splitlines()]
            self.assertEqual(frames[1]["header"]["op"], "ok", frames)
            with open(os.path.join(d, "f.txt"), "rb") as f:
                self.assertEqual(f.read(), body.encode())


if __name__ == "__main__":
    unittest.main()
