"""sockit forward LISTEN TARGET: every connection relayed both ways, many at once, the
half-close passed on in each direction, spliced or buffered, TCP and Unix on either side; a
target that is down or silent; the caps; a prompt stop; and the same conversation through
socat's `UNIX-LISTEN:…,fork TCP:…` (the anchor) for comparison."""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from sockit_test import SOCKIT, Server, read_line, recv_until_eof, timeout, wait_until


class Target:
    """A real TCP (or Unix) server the relay connects to. Each connection: read until EOF,
    then answer the SHA-256 of what came, a newline and `reply_bytes` bytes, then close.
    With `talk_first`, it first sends `talk_first` bytes and half-closes, then reads."""

    def __init__(self, reply_bytes=0, unix_path=None, talk_first=None):
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            self.endpoint = "unix:" + unix_path
        else:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.endpoint = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.sock.listen(128)
        self.reply = os.urandom(reply_bytes)
        self.talk_first = talk_first
        self.accepted = 0
        self.received = []  # what each connection sent, in order of completion
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        with c:
            c.settimeout(timeout(30))
            try:
                if self.talk_first is not None:
                    c.sendall(self.talk_first)
                    c.shutdown(socket.SHUT_WR)
                data = recv_until_eof(c)
                with self.lock:
                    self.received.append(data)
                if self.talk_first is None:
                    c.sendall(hashlib.sha256(data).hexdigest().encode() + b"\n" + self.reply)
            except OSError:
                pass

    def close(self):
        self.sock.close()


def converse(address, family, data, timeout_s=30):
    """Sends `data`, half-closes, and returns all that comes back until EOF."""
    c = socket.socket(family, socket.SOCK_STREAM)
    c.settimeout(timeout(timeout_s))
    c.connect(address)
    with c:
        threading.Thread(target=lambda: (c.sendall(data), c.shutdown(socket.SHUT_WR)),
                         daemon=True).start()
        return recv_until_eof(c)


def silent_listener():
    """A listener that never accepts, its accept queue full: its kernel drops our SYN, so a
    connect to it hangs (on loopback, without any outside address). Close both after."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)
    fillers = []
    for _ in range(4):  # fill the accept queue (its length is the backlog plus one)
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(silent.getsockname())
        fillers.append(f)
    return silent, fillers


def syn_sent_to(port):
    """Whether some socket of this machine is connecting (SYN_SENT) to 127.0.0.1:port."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "02" and int(remote.split(":")[1], 16) == port:
                return True
    return False


def events_of(out):
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


class Forward(unittest.TestCase):
    def check_round_trip(self, *extra):
        target = Target(reply_bytes=3 << 20)
        try:
            with Server("forward", "127.0.0.1:0", target.endpoint, "--json", *extra,
                        json_mode=True) as srv:
                data = os.urandom(8 << 20)
                got = converse(srv.address, srv.family, data)
                self.assertEqual(got, hashlib.sha256(data).hexdigest().encode() + b"\n" +
                                 target.reply)
                rc, out, err = srv.stop()
                self.assertEqual(rc, 0, err)
                events = events_of(out)
                closed = [e for e in events if e["event"] == "closed"]
                self.assertEqual(len(closed), 1, events)
                self.assertEqual(closed[0]["bytes_up"], len(data))
                self.assertEqual(closed[0]["bytes_down"], len(got))
                self.assertEqual(closed[0]["target"], "tcp://" + target.endpoint)
                self.assertNotIn("detail", closed[0])
                self.assertGreater(closed[0]["seconds"], 0)
                self.assertEqual(events[-1]["event"], "stopped")
                self.assertEqual(events[-1]["bytes_up"], len(data))
        finally:
            target.close()

    def test_both_ways_binary_safe_with_the_half_close_passed_on_spliced(self):
        # The client's EOF reaches the target (which answers only then), and the target's
        # reply and EOF reach the client.
        self.check_round_trip()

    def test_both_ways_binary_safe_with_the_half_close_passed_on_buffered(self):
        self.check_round_trip("--no-splice")

    def test_the_target_may_half_close_first_and_still_hear_the_client(self):
        target = Target(talk_first=b"hello from the target\n")
        try:
            with Server("forward", "127.0.0.1:0", target.endpoint) as srv:
                c = srv.connect(timeout_s=20)
                with c:
                    self.assertEqual(recv_until_eof(c), b"hello from the target\n")
                    # Our receiving side has ended; our sending side still reaches it.
                    c.sendall(b"after your EOF\n")
                    c.shutdown(socket.SHUT_WR)
                    self.assertTrue(wait_until(lambda: target.received, timeout(10)))
                self.assertEqual(target.received, [b"after your EOF\n"])
        finally:
            target.close()

    def test_many_connections_at_once(self):
        target = Target(reply_bytes=100000)
        try:
            with Server("forward", "127.0.0.1:0", target.endpoint, "-v") as srv:
                payloads = [os.urandom(256 * 1024 + k) for k in range(40)]
                results = [None] * len(payloads)

                def one(k):
                    try:
                        results[k] = converse(srv.address, srv.family, payloads[k])
                    except OSError as e:
                        results[k] = repr(e).encode()

                threads = [threading.Thread(target=one, args=(k,)) for k in range(len(payloads))]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout(60))
                for k, p in enumerate(payloads):
                    self.assertEqual(results[k], hashlib.sha256(p).hexdigest().encode() + b"\n" +
                                     target.reply, k)
                rc, out, err = srv.stop()
                self.assertIn("40 accepted", err)
                self.assertEqual(err.count("closed tcp://"), 40, err[-2000:])
        finally:
            target.close()

    def test_a_target_that_is_down_is_logged_the_client_closed_and_it_recovers(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now: connection refused
        with Server("forward", "127.0.0.1:0", "127.0.0.1:%d" % port, "--json",
                    json_mode=True) as srv:
            c = srv.connect(timeout_s=10)
            with c:
                self.assertEqual(recv_until_eof(c), b"")
            e = json.loads(read_line(srv.proc.stdout, timeout(10)))
            self.assertEqual(e["event"], "target_failed")
            self.assertEqual(e["target"], "tcp://127.0.0.1:%d" % port)
            self.assertIn("refused", e["detail"])
            # The target comes up: the next client is relayed.
            up = socket.socket()
            up.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            up.bind(("127.0.0.1", port))
            up.listen(1)
            with up:
                c = srv.connect(timeout_s=10)
                with c:
                    peer, _ = up.accept()
                    with peer:
                        c.sendall(b"ping")
                        peer.settimeout(timeout(10))
                        self.assertEqual(peer.recv(4), b"ping")
            rc, out, err = srv.stop()
            self.assertEqual(events_of(out)[-1]["target_failed"], 1)

    def test_a_silent_target_times_out(self):
        silent, fillers = silent_listener()
        try:
            with Server("forward", "127.0.0.1:0", "127.0.0.1:%d" % silent.getsockname()[1],
                        "--connect-timeout", "0.5", "--json", json_mode=True) as srv:
                start = time.monotonic()
                c = srv.connect(timeout_s=10)
                with c:
                    self.assertEqual(recv_until_eof(c), b"")
                e = json.loads(read_line(srv.proc.stdout, timeout(10)))
                self.assertEqual(e["event"], "target_failed")
                self.assertEqual(e["detail"], "timed out")
                self.assertGreaterEqual(time.monotonic() - start, 0.45)
        finally:
            for f in fillers:
                f.close()
            silent.close()

    def test_stop_is_prompt_while_a_connect_hangs(self):
        silent, fillers = silent_listener()
        try:
            with Server("forward", "127.0.0.1:0", "127.0.0.1:%d" % silent.getsockname()[1],
                        "--connect-timeout", "60") as srv:
                c = srv.connect(timeout_s=10)
                with c:
                    # The relay's connect is in flight: the kernel shows its SYN_SENT socket.
                    port = silent.getsockname()[1]
                    self.assertTrue(wait_until(lambda: syn_sent_to(port), timeout(10)))
                    start = time.monotonic()
                    rc, out, err = srv.stop(timeout_s=10)
                    self.assertEqual(rc, 0, err)
                    self.assertLess(time.monotonic() - start, timeout(5))
                    self.assertIn("stopped (SIGTERM): 1 accepted", err)
        finally:
            for f in fillers:
                f.close()
            silent.close()

    def test_per_address_cap(self):
        target = Target()
        try:
            with Server("forward", "127.0.0.1:0", target.endpoint, "--max-conns-per-ip", "2",
                        "--json", json_mode=True) as srv:
                held = [srv.connect(timeout_s=10) for _ in range(2)]
                self.assertTrue(wait_until(lambda: target.accepted == 2, timeout(10)))
                extra = srv.connect(timeout_s=10)
                with extra:
                    self.assertEqual(recv_until_eof(extra), b"")
                e = json.loads(read_line(srv.proc.stdout, timeout(10)))
                while e["event"] == "connected":
                    e = json.loads(read_line(srv.proc.stdout, timeout(10)))
                self.assertEqual(e["event"], "rejected")
                self.assertEqual(e["detail"], "over --max-conns-per-ip")
                self.assertEqual(target.accepted, 2)
                for h in held:
                    h.close()
        finally:
            target.close()

    def test_unix_on_either_side(self):
        d = tempfile.mkdtemp()
        try:
            target = Target(reply_bytes=1000, unix_path=os.path.join(d, "target.sock"))
            listen = "unix:" + os.path.join(d, "relay.sock")
            with Server("forward", listen, target.endpoint) as srv:
                got = converse(srv.address, srv.family, b"over unix\n")
                self.assertEqual(got, hashlib.sha256(b"over unix\n").hexdigest().encode() +
                                 b"\n" + target.reply)
            tcp_target = Target(reply_bytes=10)
            with Server("forward", listen, tcp_target.endpoint) as srv:
                got = converse(srv.address, srv.family, b"unix to tcp\n")
                self.assertTrue(got.startswith(hashlib.sha256(b"unix to tcp\n").hexdigest()
                                               .encode()))
            with Server("forward", "127.0.0.1:0", target.endpoint) as srv:
                got = converse(srv.address, srv.family, b"tcp to unix\n")
                self.assertTrue(got.startswith(hashlib.sha256(b"tcp to unix\n").hexdigest()
                                               .encode()))
            target.close()
            tcp_target.close()
        finally:
            shutil.rmtree(d)

    def test_udp_on_one_side_only_is_refused_plainly(self):
        r = subprocess.run([SOCKIT, "forward", "udp://127.0.0.1:0",
                            "127.0.0.1:9"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("UDP TARGET", r.stderr)

    @unittest.skipUnless(shutil.which("socat"), "socat is installed by scripts/install-deps")
    def test_the_same_conversation_as_through_socat(self):
        """The anchor: socat UNIX-LISTEN:…,fork TCP:… and sockit forward, the same target,
        the same client: the same bytes come back, and the target hears the same."""
        target = Target(reply_bytes=1 << 20)
        d = tempfile.mkdtemp()
        path = os.path.join(d, "socat.sock")
        socat = subprocess.Popen(["socat", f"UNIX-LISTEN:{path},fork",
                                  "TCP:" + target.endpoint], stderr=subprocess.PIPE)
        try:
            self.assertTrue(wait_until(lambda: os.path.exists(path), timeout(10)))
            data = os.urandom(2 << 20)
            via_socat = converse(path, socket.AF_UNIX, data)
            with Server("forward", "unix:" + os.path.join(d, "sockit.sock"),
                        target.endpoint) as srv:
                via_sockit = converse(srv.address, srv.family, data)
            self.assertEqual(via_sockit, via_socat)
            self.assertEqual(target.received, [data, data])
        finally:
            socat.kill()
            socat.wait(timeout=10)
            target.close()
            shutil.rmtree(d)


class UdpTarget:
    """A UDP server: answers each datagram with its upper-cased bytes and the sender's port,
    so a client can tell its flow's replies from another's."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.endpoint = "udp://127.0.0.1:%d" % self.port
        self.senders = set()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                data, addr = self.sock.recvfrom(65536)
            except OSError:
                return
            self.senders.add(addr)
            self.sock.sendto(data.upper() + b" via %d" % addr[1], addr)

    def close(self):
        self.sock.close()


def udp_client():
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.bind(("127.0.0.1", 0))
    c.settimeout(timeout(5))
    return c


def json_events(srv, want):
    seen = []
    while True:
        e = json.loads(read_line(srv.proc.stdout, timeout(10)))
        seen.append(e)
        if e["event"] == want:
            return e, seen


class ForwardUdp(unittest.TestCase):
    """socat's UDP-LISTEN:…,fork UDP:…: a flow per client address, each with its own socket
    to the target, ended by --idle-timeout; the caps count flows."""

    def test_each_client_gets_its_own_flow_and_replies(self):
        target = UdpTarget()
        try:
            with Server("forward", "-u", "127.0.0.1:0", "127.0.0.1:%d" % target.port,
                        "--json", json_mode=True) as srv:
                clients = [udp_client() for _ in range(5)]
                for round_ in range(3):
                    for i, c in enumerate(clients):
                        c.sendto(b"client %d round %d" % (i, round_), srv.address)
                    vias = set()
                    for i, c in enumerate(clients):
                        data, addr = c.recvfrom(65536)
                        self.assertEqual(addr, srv.address)
                        text, via = data.split(b" via ")
                        self.assertEqual(text, b"CLIENT %d ROUND %d" % (i, round_))
                        vias.add(via)
                    self.assertEqual(len(vias), 5)  # five flows, five sockets to the target
                self.assertEqual(len(target.senders), 5)
                rc, out, err = srv.stop()
                self.assertEqual(rc, 0, err)
                closed = [json.loads(l) for l in out.splitlines() if '"closed"' in l]
                self.assertEqual(len(closed), 5)
                self.assertTrue(all(e["bytes_up"] == 3 * 16 for e in closed), closed)
                for c in clients:
                    c.close()
        finally:
            target.close()

    def test_an_idle_flow_ends_and_the_next_datagram_opens_another(self):
        target = UdpTarget()
        try:
            with Server("forward", "udp://127.0.0.1:0", target.endpoint, "--json",
                        "--idle-timeout", str(timeout(0.2)), json_mode=True) as srv:
                with udp_client() as c:
                    c.sendto(b"one", srv.address)
                    first = c.recvfrom(100)[0].split(b" via ")[1]
                    e, _ = json_events(srv, "closed")
                    self.assertEqual(e["detail"], "idle")
                    c.sendto(b"two", srv.address)
                    self.assertEqual(c.recvfrom(100)[0].split(b" via ")[0], b"TWO")
                    e, _ = json_events(srv, "connected")
        finally:
            target.close()

    def test_caps_count_flows(self):
        target = UdpTarget()
        try:
            with Server("forward", "-u", "127.0.0.1:0", "127.0.0.1:%d" % target.port,
                        "--json", "--max-conns", "2", json_mode=True) as srv:
                clients = [udp_client() for _ in range(3)]
                for c in clients[:2]:
                    c.sendto(b"in", srv.address)
                    c.recvfrom(100)
                clients[2].sendto(b"over", srv.address)
                e, _ = json_events(srv, "rejected")
                self.assertEqual(e["detail"], "over --max-conns")
                clients[0].sendto(b"still", srv.address)  # the admitted go on
                self.assertTrue(clients[0].recvfrom(100)[0].startswith(b"STILL"))
                for c in clients:
                    c.close()
        finally:
            target.close()

    def test_a_target_port_that_is_closed_is_logged(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # closed at the end of this block: nothing listens
        with Server("forward", "-u", "127.0.0.1:0", "127.0.0.1:%d" % port, "--json",
                    json_mode=True) as srv:
            with udp_client() as c:
                c.sendto(b"anyone?", srv.address)
                e, _ = json_events(srv, "target_failed")
                self.assertIn("refused", e["detail"].lower())

    @unittest.skipUnless(shutil.which("socat"), "socat is installed by scripts/install-deps")
    def test_the_same_datagrams_as_through_socat(self):
        """The anchor: socat UDP-LISTEN:…,fork UDP:… and sockit forward -u: the same
        clients get the same answers (each from its own flow)."""
        target = UdpTarget()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            socat_port = s.getsockname()[1]
        # socat forks a child per client that lives until its -T idle time: its own
        # session, killed whole at the end, so none outlives the test (or holds its pipes).
        socat = subprocess.Popen(["socat", "-T", "10",
                                  f"UDP-LISTEN:{socat_port},bind=127.0.0.1,fork",
                                  f"UDP:127.0.0.1:{target.port}"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
        try:
            def answers(address):
                out = []
                for i in range(3):
                    with udp_client() as c:
                        for n in range(3):
                            c.sendto(b"c%d n%d" % (i, n), address)
                            out.append(c.recvfrom(100)[0].split(b" via ")[0])
                return out

            def socat_ready():
                with udp_client() as c:
                    c.settimeout(0.2)
                    c.sendto(b"ping", ("127.0.0.1", socat_port))
                    try:
                        return c.recvfrom(100)[0].startswith(b"PING")
                    except OSError:
                        return False
            self.assertTrue(wait_until(socat_ready, 10))
            via_socat = answers(("127.0.0.1", socat_port))
            with Server("forward", "-u", "127.0.0.1:0", "127.0.0.1:%d" % target.port) as srv:
                via_sockit = answers(srv.address)
            self.assertEqual(via_sockit, via_socat)
            self.assertEqual(len(via_sockit), 9)
        finally:
            os.killpg(socat.pid, signal.SIGKILL)
            socat.wait(timeout=10)
            target.close()


if __name__ == "__main__":
    unittest.main()
