"""sockit bench echo against sockit echo, against Python stdlib echo servers (TCP and UDP), and
against deliberately corrupting servers, which it must catch (mismatches, exit 1)."""
import json
import os
import shutil
import socket
import socketserver
import subprocess
import threading
import time
import unittest

from sockit_test import Server, TempDir, run, timeout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, deadline_s=10):
    """A peer that prints nothing when ready (socat): wait until it accepts."""
    end = time.monotonic() + timeout(deadline_s)
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.02)


def bench(endpoint, *extra, duration="0.5", size="64"):
    p = run("bench", "echo", endpoint, "-c", "4", "-d", duration, "-s", size, "--json", *extra,
            timeout_s=60)
    lines = p.stdout.decode().strip().splitlines()
    result = json.loads(lines[-1]) if lines else None
    return p, result


class _TcpEcho(socketserver.BaseRequestHandler):
    corrupt = False

    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:  # the seeds' `if not data: break`
                break
            if self.corrupt:
                data = b"!" + data[1:]  # '!' is never in the benchmark's payload
            self.request.sendall(data)


class _CorruptTcpEcho(_TcpEcho):
    corrupt = True


class _UdpEcho(socketserver.BaseRequestHandler):
    corrupt = False

    def handle(self):
        data, sock = self.request
        if self.corrupt and data:
            data = data[:-1] + b"!"
        sock.sendto(data, self.client_address)


class _CorruptUdpEcho(_UdpEcho):
    corrupt = True


class PythonServer:
    """A stdlib echo server on a thread of this test process (an independent peer)."""

    def __init__(self, server_cls, handler):
        server_cls.allow_reuse_address = True
        server_cls.daemon_threads = True
        self.server = server_cls(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def endpoint(self, scheme):
        host, port = self.server.server_address
        return f"{scheme}://{host}:{port}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout(10))


class BenchAgainstSockit(unittest.TestCase):
    def test_tcp_upper_echo_no_mismatches(self):
        with Server("echo", "127.0.0.1:0", "--upper") as srv:
            p, r = bench(srv.endpoint)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(r["event"], "result")
            self.assertEqual(r["transport"], "tcp")
            self.assertEqual(r["connected"], 4)
            self.assertGreater(r["round_trips"], 100)
            self.assertEqual(r["mismatches"], 0)
            self.assertEqual(r["errors"], 0)
            lat = r["latency_us"]
            self.assertLessEqual(lat["p50"], lat["p90"])
            self.assertLessEqual(lat["p90"], lat["p99"])
            self.assertLessEqual(lat["p99"], lat["p99_9"])
            self.assertLessEqual(lat["p99_9"], lat["max"] * 1.02)
            self.assertGreater(r["round_trips_per_second"], 0)
            rc, out, err = srv.stop()
            self.assertIn("4 accepted", err)

    def test_tls_against_sockit_echo_and_socat_openssl(self):
        with Server("echo", "--tls", "--upper", "127.0.0.1:0") as srv:
            p, r = bench(srv.endpoint, "--tls")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual((r["tls"], r["connected"], r["errors"], r["mismatches"]),
                             (True, 4, 0, 0))
            self.assertGreater(r["round_trips"], 100)
            # Without --tls the TLS server's one-line notice is a mismatch, not an echo.
            p, r = bench(srv.endpoint)
            self.assertNotEqual(p.returncode, 0)
            self.assertGreater(r["mismatches"] + r["errors"], 0)
        if shutil.which("socat") is None:
            self.skipTest("socat missing")
        with TempDir() as d:
            env = dict(os.environ, XDG_CONFIG_HOME=d)
            pem = os.path.join(d, "sockit", "identity.pem")
            self.assertEqual(run("cert", "show", env=env).returncode, 0)  # makes the identity
            port = free_port()
            socat = subprocess.Popen(
                ["socat", f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={pem},"
                 "verify=0", "PIPE"], stderr=subprocess.DEVNULL)
            try:
                wait_for_port(port)
                p, r = bench(f"127.0.0.1:{port}", "--tls")
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual((r["connected"], r["errors"], r["mismatches"]), (4, 0, 0))
                self.assertGreater(r["round_trips"], 10)
            finally:
                socat.kill()
                socat.wait(timeout=10)

    def test_udp_echo_no_mismatches(self):
        # Unlimited, like scripts/bench/echo: bench's connections all come from 127.0.0.1,
        # far over the default per-source limit, and a dropped datagram stalls its pipeline.
        with Server("echo", "127.0.0.1:0", "--udp", "--udp-rate", "0") as srv:
            p, r = bench(srv.endpoint, "--udp", "-p", "4")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(r["transport"], "udp")
            self.assertGreater(r["round_trips"], 100)
            self.assertEqual(r["mismatches"], 0)

    def test_unix_echo_and_pipelining(self):
        with TempDir() as d:
            path = os.path.join(d, "b.sock")
            with Server("echo", f"unix:{path}") as srv:
                p, r = bench(f"unix:{path}", "-p", "8", size="4096")
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(r["transport"], "unix")
                self.assertEqual(r["mismatches"], 0)
                self.assertEqual(r["round_trips"] % 8, 0)

    def test_human_output(self):
        with Server("echo", "127.0.0.1:0") as srv:
            p = run("bench", "echo", srv.endpoint, "-c", "2", "-d", "0.3", timeout_s=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            out = p.stdout.decode()
            for word in ("round trips", "throughput", "p50", "p99.9", "mismatches 0",
                         "connected 2/2"):
                self.assertIn(word, out)


class BenchAgainstPython(unittest.TestCase):
    def test_python_tcp_echo(self):
        with PythonServer(socketserver.ThreadingTCPServer, _TcpEcho) as py:
            p, r = bench(py.endpoint("tcp"))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertGreater(r["round_trips"], 0)
            self.assertEqual(r["mismatches"], 0)
            self.assertEqual(r["errors"], 0)

    def test_python_udp_echo(self):
        with PythonServer(socketserver.UDPServer, _UdpEcho) as py:
            p, r = bench(py.endpoint("udp"))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(r["transport"], "udp")
            self.assertGreater(r["round_trips"], 0)
            self.assertEqual(r["mismatches"], 0)

    def test_corrupting_tcp_echo_is_caught(self):
        with PythonServer(socketserver.ThreadingTCPServer, _CorruptTcpEcho) as py:
            p, r = bench(py.endpoint("tcp"))
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertGreater(r["mismatches"], 0)

    def test_corrupting_udp_echo_is_caught(self):
        with PythonServer(socketserver.UDPServer, _CorruptUdpEcho) as py:
            p, r = bench(py.endpoint("udp"))
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertGreater(r["mismatches"], 0)
            self.assertEqual(r["round_trips"], 0)


class BenchErrors(unittest.TestCase):
    def test_nobody_listening_exits_1_with_errors(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        p, r = bench(f"127.0.0.1:{port}", duration="0.2")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(r["connected"], 0)
        self.assertEqual(r["errors"], 4)

    def test_udp_size_over_65507_is_refused(self):
        p = run("bench", "echo", "udp://127.0.0.1:9", "-s", "65508", "-d", "0.1", timeout_s=20)
        self.assertEqual(p.returncode, 1)
        self.assertIn("65507", p.stderr.decode())

    def test_zero_connections_is_refused(self):
        p = run("bench", "echo", "127.0.0.1:9", "-c", "0", "-d", "0.1", timeout_s=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--connections", p.stderr.decode())


if __name__ == "__main__":
    unittest.main()
