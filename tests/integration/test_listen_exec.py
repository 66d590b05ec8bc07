"""sockit listen --exec / --sh-exec (ncat -e / -c): each peer talks to its own child process,
whose stdin and stdout are the socket; SOCKIT_PEER; -k with --max-children; a peer that
resets ends its child; a stop ends them all; the plain refusals."""
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import unittest

from sockit_test import SOCKIT, Server, read_line, recv_until_eof, timeout


def exchange(srv, data, timeout_s=10):
    c = srv.connect(timeout_s)
    with c:
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        return recv_until_eof(c)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too, only not yet reaped by its parent.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


class ListenExec(unittest.TestCase):
    def test_exec_without_a_shell_serves_one_peer_and_exits_with_its_status(self):
        with Server("listen", "127.0.0.1:0", "--exec", "/bin/cat", ready_on="stderr") as srv:
            data = os.urandom(300000)
            self.assertEqual(exchange(srv, data), data)
            self.assertEqual(srv.proc.wait(timeout=timeout(10)), 0)

    def test_sh_exec_is_the_upper_casing_echo_server_with_the_peer_in_the_environment(self):
        with Server("listen", "127.0.0.1:0", "-k", "--sh-exec",
                    'echo "peer $SOCKIT_PEER"; tr a-z A-Z', ready_on="stderr") as srv:
            for text in (b"hello\n", b"second peer\n"):
                c = srv.connect(10)
                with c:
                    me = "tcp://127.0.0.1:%d" % c.getsockname()[1]
                    c.sendall(text)
                    c.shutdown(socket.SHUT_WR)
                    got = recv_until_eof(c)
                self.assertEqual(got, b"peer " + me.encode() + b"\n" + text.upper())
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)

    def test_the_childs_exit_status_is_the_listeners(self):
        with Server("listen", "127.0.0.1:0", "--sh-exec", "exit 3", ready_on="stderr") as srv:
            self.assertEqual(exchange(srv, b""), b"")
            self.assertEqual(srv.proc.wait(timeout=timeout(10)), 3)

    def test_a_command_that_cannot_run_says_so_and_exits_127(self):
        with Server("listen", "127.0.0.1:0", "--exec", "/nonexistent/cmd",
                    ready_on="stderr") as srv:
            self.assertEqual(exchange(srv, b""), b"")  # data it never read would be a reset
            self.assertEqual(srv.proc.wait(timeout=timeout(10)), 127)
            self.assertIn(b"cannot run /nonexistent/cmd", srv.proc.stderr.read())

    def test_a_peer_that_resets_ends_its_child_and_the_listener_goes_on(self):
        with Server("listen", "127.0.0.1:0", "-k", "-v", "--exec", "sleep 30",
                    ready_on="stderr") as srv:
            c = srv.connect(10)
            started = read_line(srv.proc.stderr, timeout(10))
            pid = int(re.search(r"started pid (\d+)", started).group(1))
            self.assertTrue(alive(pid))
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()  # a reset
            ended = read_line(srv.proc.stderr, timeout(10))
            self.assertIn("killed by signal 15", ended)
            self.assertFalse(alive(pid))
            # The listener still serves.
            c2 = srv.connect(10)
            self.assertIn("started pid", read_line(srv.proc.stderr, timeout(10)))
            c2.close()
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)

    def test_max_children_keeps_the_next_peer_waiting_and_a_stop_ends_them_all(self):
        with Server("listen", "127.0.0.1:0", "-k", "-v", "--max-children", "1", "--exec",
                    "/bin/cat", ready_on="stderr") as srv:
            first = srv.connect(10)
            pid = int(re.search(r"started pid (\d+)",
                                read_line(srv.proc.stderr, timeout(10))).group(1))
            second = srv.connect(10)  # in the backlog: nobody serves it yet
            second.sendall(b"second\n")
            second.settimeout(0.3)
            with self.assertRaises(socket.timeout):
                second.recv(100)
            first.sendall(b"first\n")
            first.settimeout(timeout(10))
            self.assertEqual(first.recv(100), b"first\n")
            first.shutdown(socket.SHUT_WR)  # its cat ends; the second peer's turn
            self.assertEqual(recv_until_eof(first), b"")
            first.close()
            second.settimeout(timeout(10))
            self.assertEqual(second.recv(100), b"second\n")
            log = read_line(srv.proc.stderr, timeout(10)) + read_line(srv.proc.stderr, timeout(10))
            self.assertIn("exited with status 0", log)
            second_pid = int(re.search(r"started pid (\d+)", log).group(1))
            self.assertFalse(alive(pid))
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            self.assertIn("ended (stopping)", err)
            self.assertFalse(alive(second_pid))
            second.close()

    def test_over_a_unix_socket(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "exec.sock")
            with Server("listen", "unix:" + path, "--sh-exec", "tr a-z A-Z",
                        ready_on="stderr") as srv:
                self.assertEqual(exchange(srv, b"over unix\n"), b"OVER UNIX\n")
                self.assertEqual(srv.proc.wait(timeout=timeout(10)), 0)
            self.assertFalse(os.path.exists(path))

    def test_plain_refusals(self):
        for args, needle in ((["--exec", "cat", "--sh-exec", "cat"], "excludes"),
                             (["--exec", "cat", "--udp"], "not UDP"),
                             (["--exec", "cat", "--tls"], "do not take --tls")):
            r = subprocess.run([SOCKIT, "listen", "127.0.0.1:0", *args], capture_output=True,
                               text=True, timeout=10, env={**os.environ,
                                                           "XDG_CONFIG_HOME": tempfile.gettempdir()})
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(needle, r.stderr)

    def test_help_says_plainly_that_the_peer_gets_the_command(self):
        r = subprocess.run([SOCKIT, "listen", "--help"], capture_output=True, text=True,
                           timeout=10)
        self.assertIn("GIVES THE PEER THE COMMAND", r.stdout)
        self.assertIn("SOCKIT_PEER", r.stdout)


if __name__ == "__main__":
    unittest.main()
