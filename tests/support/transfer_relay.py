"""A test peer between a sockit client and sockit serve that forwards the client's bytes only
up to a cut point chosen from what it has seen (e.g. "the middle of the first put header",
"N bytes into the first put body"), then stops reading and sets `cut`. The test then SIGKILLs
the client at a known byte, with no sleeps. Replies from the server are always forwarded."""
import json
import socket
import struct
import threading

MAGIC = b"\x89SKT"


def frames(buf):
    """Complete frame headers in a native client's byte stream (after the magic): yields
    (start, header_length, header, body_start); bodies may be incomplete."""
    if not buf.startswith(MAGIC):
        return
    at = len(MAGIC)
    while at + 4 <= len(buf):
        (n,) = struct.unpack(">I", buf[at:at + 4])
        if at + 4 + n > len(buf):
            return
        header = json.loads(buf[at + 4:at + 4 + n])
        body_start = at + 4 + n
        yield at, n, header, body_start
        at = body_start + header.get("size", 0)


def in_put_header(buf):
    """Cut point: half-way through the first put frame's header."""
    for start, n, header, _ in frames(buf):
        if header.get("op") == "put":
            return start + 4 + n // 2
    return None


def in_put_body(offset):
    """Cut point: `offset` bytes into the first put frame's body."""
    def cut(buf):
        for _, _, header, body_start in frames(buf):
            if header.get("op") == "put":
                return body_start + offset
        return None
    return cut


class CutRelay:
    def __init__(self, upstream, cut_fn, deadline_s=30):
        self.upstream, self.cut_fn, self.deadline_s = upstream, cut_fn, deadline_s
        self.cut = threading.Event()
        self.forwarded = 0
        self.error = None
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(deadline_s)
        self.endpoint = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.client = self.server = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.client, _ = self.listener.accept()
            self.client.settimeout(self.deadline_s)
            self.server = socket.create_connection(self.upstream, timeout=self.deadline_s)
            threading.Thread(target=self._down, daemon=True).start()
            buf, cut = b"", None
            while not self.cut.is_set():
                chunk = self.client.recv(1 << 16)
                if not chunk:
                    raise EOFError(f"client closed after {len(buf)} bytes, before the cut")
                buf += chunk
                if cut is None:
                    cut = self.cut_fn(buf)
                end = len(buf) if cut is None else min(len(buf), cut)
                if end > self.forwarded:
                    self.server.sendall(buf[self.forwarded:end])
                    self.forwarded = end
                if cut is not None and self.forwarded == cut:
                    self.cut.set()  # and read no more: the client blocks or waits for replies
        except Exception as e:  # reported to the test through wait_cut()
            self.error = e
            self.cut.set()

    def _down(self):
        try:
            while True:
                data = self.server.recv(1 << 16)
                if not data:
                    break
                self.client.sendall(data)
        except OSError:
            pass

    def wait_cut(self):
        if not self.cut.wait(self.deadline_s):
            raise TimeoutError("the relay never reached its cut point")
        if self.error:
            raise self.error
        return self.forwarded

    def close(self):
        """Closes both sides; the server sees the connection end where the cut was."""
        for s in (self.server, self.client, self.listener):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
