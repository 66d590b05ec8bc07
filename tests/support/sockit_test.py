"""Helpers for integration tests: run the real sockit binary, wait for its readiness line
(no sleeps), talk to it with plain stdlib sockets, stop it and check how it ended."""
import json
import os
import selectors
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

SOCKIT = os.environ.get("SOCKIT_BIN", "sockit")
SANITIZED = os.environ.get("SOCKIT_SANITIZED", "0") in ("1", "ON", "true")
# Sanitizers make everything slower; deadlines stretch, behaviour must not change.
SLOW = 4.0 if SANITIZED else 1.0


def timeout(seconds):
    return seconds * SLOW


def read_line(stream, deadline_s):
    """Reads one line from a pipe within deadline_s seconds, or raises TimeoutError."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    buf = b""
    end = time.monotonic() + deadline_s
    fd = stream.fileno()
    try:
        while not buf.endswith(b"\n"):
            left = end - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise TimeoutError(f"no line within {deadline_s}s (got {buf!r})")
            chunk = os.read(fd, 1)
            if not chunk:
                raise EOFError(f"stream closed (got {buf!r})")
            buf += chunk
    finally:
        sel.close()
    return buf.decode()


def parse_endpoint(text):
    """'tcp://127.0.0.1:5' -> ('tcp', '127.0.0.1', 5); 'unix:/p' -> ('unix', '/p', None)."""
    if text.startswith("unix:"):
        return ("unix", text[5:], None)
    scheme, rest = text.split("://", 1)
    host, port = rest.rsplit(":", 1)
    return (scheme, host.strip("[]"), int(port))


# `serve`, `put`, `get` and `ls` speak TLS with a token by default (docs/SECURITY.md). The
# tests written against the plaintext protocol (their Python peers speak it on the raw
# socket) run them with --plain; a test of TLS itself passes tls=True.
PLAIN_BY_DEFAULT = {"serve", "put", "get", "ls"}

# SOCKIT_TEST_OVER_TLS=1 runs those plaintext-protocol tests again over TLS (ctest's
# integration.*_over_tls): `serve` keeps its TLS default with a fixed test token, the CLI
# clients trust it on first use and take the token from SOCKIT_TOKEN, and Server.connect()
# hands the Python peers a TLS 1.3 socket, so every hostile byte goes through the TLS layer.
OVER_TLS = os.environ.get("SOCKIT_TEST_OVER_TLS", "0") == "1"
TEST_TOKEN = "5ec0de5ec0de5ec0de5ec0de5ec0de00"
if OVER_TLS:
    os.environ["SOCKIT_TOKEN"] = TEST_TOKEN


def _token_file():
    base = os.environ.get("XDG_CONFIG_HOME") or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    path = os.path.join(base, f"test-token-{os.getpid()}")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(TEST_TOKEN + "\n")
    return path


def with_plain(args, tls=False):
    args = list(args)
    if tls or not args or args[0] not in PLAIN_BY_DEFAULT or "--plain" in args:
        return args
    if OVER_TLS:
        if args[0] == "serve":
            return [args[0], "--token-file", _token_file(), *args[1:]]
        if "--help" in args:
            return args
        return [args[0], "--accept-new", *args[1:]]
    return [args[0], "--plain", *args[1:]]


class Server:
    """A sockit server process. Waits for `listening on ...` on stdout (or stderr)."""

    def __init__(self, *args, ready_on="stdout", json_mode=False, stdin=subprocess.DEVNULL,
                 env=None, preexec_fn=None, tls=False):
        self.args = [SOCKIT, *with_plain(args, tls)]
        # A plaintext-protocol test's `serve`, run over TLS (OVER_TLS): its peers wrap.
        self.over_tls = OVER_TLS and not tls and bool(args) and args[0] == "serve" and \
            "--plain" not in args
        self.token = TEST_TOKEN if self.over_tls else None
        self.proc = subprocess.Popen(self.args, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, preexec_fn=preexec_fn)
        stream = self.proc.stdout if ready_on == "stdout" else self.proc.stderr
        try:
            line = read_line(stream, timeout(10))
        except Exception:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"{self.args} did not become ready: {err.decode(errors='replace')}")
        if json_mode:
            event = json.loads(line)
            assert event["event"] == "listening", line
            self.endpoint = event["endpoint"]
            self.identity = event.get("identity")
            self.web = event.get("web")
        else:
            assert line.startswith("listening on "), line
            # "listening on ENDPOINT" or "listening on ENDPOINT (TLS, identity SHA256:...)"
            self.endpoint = line[len("listening on "):].split()[0]
            self.identity = line.split("identity ", 1)[1].split(",")[0].rstrip(")\n") \
                if "identity " in line else None
            # "... (web page URL)", "... (TLS, identity X, web page URL)": chat serve --web.
            self.web = line.split("web page ", 1)[1].rstrip(")\n") if "web page " in line else None
        self.kind, self.host, self.port = parse_endpoint(self.endpoint)

    @property
    def address(self):
        if self.kind == "unix":
            return self.host
        return (self.host, self.port)

    @property
    def family(self):
        if self.kind == "unix":
            return socket.AF_UNIX
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def connect(self, timeout_s=5):
        s = socket.socket(self.family, socket.SOCK_STREAM)
        s.settimeout(timeout(timeout_s))
        s.connect(self.address)
        if self.over_tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        return s

    def stop(self, sig=signal.SIGTERM, timeout_s=10):
        """Sends `sig` and returns (returncode, stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=timeout(timeout_s))
        return self.proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


def run(*args, input=None, timeout_s=30, check=False, tls=False, env=None):
    """Runs sockit to completion; returns CompletedProcess with bytes output."""
    return subprocess.run([SOCKIT, *with_plain(args, tls)], input=input, capture_output=True,
                          timeout=timeout(timeout_s), check=check, env=env)


def recv_exactly(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"peer closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_until_eof(sock):
    buf = bytearray()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(buf)
        buf += chunk


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class TempDir:
    def __enter__(self):
        self._d = tempfile.TemporaryDirectory(prefix="sockit-test-")
        return self._d.name

    def __exit__(self, *exc):
        self._d.cleanup()


# --- helpers added for the echo/connect/listen/bench suites -------------------------------

def udp_socket(srv, timeout_s=5):
    """A UDP socket of the server's family, connected to it (replies from others dropped)."""
    s = socket.socket(srv.family, socket.SOCK_DGRAM)
    s.settimeout(timeout(timeout_s))
    s.connect(srv.address)
    return s


def raise_nofile(wanted):
    """Raises this process's RLIMIT_NOFILE soft limit towards `wanted`; returns the new one."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return max(new, soft)


def limit_nofile(limit):
    """A preexec_fn that lowers the HARD descriptor limit of the child (sockit raises its
    soft limit to the hard one, so only the hard limit bounds it)."""
    import resource

    def apply():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    return apply


def cpu_seconds(pid):
    """User + system CPU time of a process so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[11], fields[12] are utime and stime (stat fields 14 and 15) in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    """Resident memory of a process, in KiB, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def read_json_line(stream, deadline_s):
    return json.loads(read_line(stream, deadline_s))


def closed_by_peer(sock, deadline_s=5):
    """True when the peer closed (EOF or reset) within the deadline; False if still open."""
    sock.settimeout(timeout(deadline_s))
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def wait_until(predicate, deadline_s, interval_s=0.02):
    """Polls `predicate` (bounded in time); returns its last value."""
    end = time.monotonic() + timeout(deadline_s)
    while True:
        value = predicate()
        if value or time.monotonic() >= end:
            return value
        time.sleep(interval_s)


def spawn(*args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE):
    """Starts sockit without waiting for anything (for clients like `connect`)."""
    return subprocess.Popen([SOCKIT, *args], stdin=stdin, stdout=stdout, stderr=stderr)


class LinePeer:
    """A socket peer of a line server (a chat room): until(needle) returns the first whole
    line containing `needle`, skipping the others (bounded), with the socket's timeout."""

    def __init__(self, srv, timeout_s=10):
        self.sock = srv.connect(timeout_s)
        self.buf = b""

    def until(self, needle, limit=1000):
        for _ in range(limit):
            while b"\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise EOFError(self.buf)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            if needle in line:
                return line.decode()
        raise AssertionError(needle)


def line_socket(srv, rcvbuf=None, timeout_s=20):
    """A plain TCP socket to `srv`, with a small receive buffer when asked (so that the
    server's queue, not the kernel, holds what the peer does not read)."""
    s = socket.socket(srv.family, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout(timeout_s))
    s.connect(srv.address)
    return s


class LineSock:
    """Lines from a socket, as bytes, for the load tests: line() the next one, until(needle)
    the first containing `needle` (bounded), rest() all that is left until EOF."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError(self.buf[-200:])
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def until(self, needle, limit=1000000):
        for _ in range(limit):
            line = self.line()
            if needle in line:
                return line
        raise AssertionError(f"{needle!r} never came")

    def rest(self):
        """Everything until EOF (or a reset), as lines; the last may be unterminated."""
        data = self.buf
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        self.buf = b""
        return data.split(b"\n")
