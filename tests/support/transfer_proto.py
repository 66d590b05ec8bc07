"""A native sockit protocol client written from docs/PROTOCOL.md alone (stdlib only), for
integration tests: frames, hello, put (sized and streamed), stat, get, ls, mkdir."""
import hashlib
import json
import socket
import struct

MAGIC = b"\x89SKT"


def frame(header, body=None):
    h = dict(header)
    if body is not None:
        h["size"] = len(body)
    raw = json.dumps(h, separators=(",", ":")).encode()
    return struct.pack(">I", len(raw)) + raw + (body if body is not None else b"")


def classic(name, data, md5=None):
    """The seeds' format: struct.pack('i', len(head)) + head + bytes."""
    head = json.dumps({"file_size": len(data), "file_name": name,
                       "md5": md5 if md5 is not None else hashlib.md5(data).hexdigest()}).encode()
    return struct.pack("i", len(head)) + head + data


def digest(data, algo="sha256"):
    return hashlib.new(algo, data).hexdigest()


class Client:
    def __init__(self, sock):
        self.sock = sock
        # A bytearray: deleting from its front is cheap in CPython, so tens of MB of pipelined
        # replies are read in linear time (bytes slicing copied the rest at every frame).
        self.buf = bytearray()
        self.next_id = 1

    @classmethod
    def connect(cls, srv, hello=True):
        c = cls(srv.connect())
        c.sock.sendall(MAGIC)
        if hello:
            # A `serve` run over TLS (sockit_test.OVER_TLS) requires the test token.
            auth = {"token": srv.token} if getattr(srv, "over_tls", False) else None
            c.send({"op": "hello", "id": 0, "versions": [1], "client": "py", "auth": auth})
            reply, _ = c.recv()
            assert reply["op"] == "hello" and reply["version"] == 1, reply
        return c

    def send(self, header, body=None):
        self.sock.sendall(frame(header, body))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError(f"closed with {len(self.buf)} of {n} bytes buffered")
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def recv(self):
        """One frame: (header dict, body bytes or None)."""
        (n,) = struct.unpack(">I", self._need(4))
        header = json.loads(self._need(n))
        body = self._need(header["size"]) if "size" in header else None
        return header, body

    def ident(self):
        i = self.next_id
        self.next_id += 1
        return i

    def put(self, name, data, algo="sha256", **extra):
        i = self.ident()
        self.send({"op": "put", "id": i, "name": name, "hash": algo, **extra}, data)
        self.send({"op": "end", "id": i, "hash": digest(data, algo)})
        return self.recv()[0]

    def put_stream(self, name, pieces, algo="sha256"):
        i = self.ident()
        self.send({"op": "put", "id": i, "name": name, "hash": algo, "stream": True})
        whole = b""
        for p in pieces:
            self.send({"op": "data", "id": i}, p)
            whole += p
        self.send({"op": "data", "id": i, "size": 0})
        self.send({"op": "end", "id": i, "hash": digest(whole, algo)})
        return self.recv()[0]

    def stat(self, name, algo="sha256"):
        self.send({"op": "stat", "id": self.ident(), "name": name, "hash": algo})
        return self.recv()[0]

    def get(self, name, algo="sha256", **extra):
        self.send({"op": "get", "id": self.ident(), "name": name, "hash": algo, **extra})
        head, body = self.recv()
        if head["op"] != "file":
            return head, None, None
        trailer, _ = self.recv()
        return head, body, trailer

    def ls(self, path="", recursive=False):
        """(the last reply frame, every entry). A long listing comes in several `ls` frames,
        all but the last with "more": true; each frame's `entries` counts its own lines."""
        self.send({"op": "ls", "id": self.ident(), "path": path, "recursive": recursive})
        return self.recv_listing()

    def recv_listing(self, first=None):
        """`first`: the reply's first frame, when the caller has already read it."""
        entries = []
        while True:
            head, body = first if first else self.recv()
            first = None
            if head["op"] != "ls":
                return head, []
            lines = [json.loads(line) for line in body.decode().splitlines() if line]
            assert len(lines) == head["entries"], (head, len(lines))
            entries += lines
            if not head.get("more"):
                return head, entries

    def close(self):
        self.sock.close()
