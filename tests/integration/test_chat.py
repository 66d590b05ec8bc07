"""sockit chat serve with Python sockets, nc and `sockit chat join` in one room: delivery
exactly once and in order, nicks, private messages, history, rooms, limits, shutdown."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import unittest

from sockit_test import SOCKIT, Server, TempDir, has_ipv6_loopback, read_line, timeout

STAMP = re.compile(r"^\[\d\d:\d\d:\d\d\] ")


class Member:
    """A Python chat client reading whole lines with a deadline."""

    def __init__(self, srv, rcvbuf=None):
        self.sock = socket.socket(srv.family, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout(10))
        self.sock.connect(srv.address)
        self.buf = b""
        welcome = self.line()
        m = re.search(r"welcome to (#\S+), (\S+):", welcome)
        assert m, welcome
        self.room, self.nick = m.group(1), m.group(2)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed (pending {self.buf!r})")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def text(self):
        """The next line without its timestamp."""
        line = self.line()
        self_check = STAMP.match(line)
        return line[self_check.end():] if self_check else line

    def until(self, pattern, limit=2000):
        """Lines up to and including the first matching `pattern`; fails after `limit`."""
        seen = []
        for _ in range(limit):
            t = self.text()
            seen.append(t)
            if re.search(pattern, t):
                return seen
        raise AssertionError(f"{pattern!r} not in {seen[-20:]}")

    def send(self, text):
        self.sock.sendall(text.encode() + b"\n" if isinstance(text, str) else text)

    def eof(self):
        """True when the server closes; lines before that are skipped."""
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.sock.close()


class Proc:
    """A line client process (nc or sockit chat join) on pipes."""

    def __init__(self, args):
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)

    def send(self, text):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def text(self):
        line = read_line(self.proc.stdout, timeout(10)).rstrip("\n")
        m = STAMP.match(line)
        return line[m.end():] if m else line

    def until(self, pattern, limit=2000):
        seen = []
        for _ in range(limit):
            t = self.text()
            seen.append(t)
            if re.search(pattern, t):
                return seen
        raise AssertionError(f"{pattern!r} not in {seen[-20:]}")

    def finish(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if not f.closed:
                f.close()


def messages(lines, sender):
    prefix = f"<{sender}> "
    return [l[len(prefix):] for l in lines if l.startswith(prefix)]


class ChatRoom(unittest.TestCase):
    def test_everyone_gets_every_message_once_in_order(self):
        with Server("chat", "serve", "127.0.0.1:0") as srv:
            py = [Member(srv) for _ in range(3)]
            nc = Proc(["nc", srv.host, str(srv.port)])
            self.assertIn("welcome to #lobby", nc.text())
            cli = Proc([SOCKIT, "chat", "join", srv.endpoint, "--nick", "joiner"])
            self.assertIn("welcome to #lobby", cli.text())
            self.assertIn("is now known as joiner", cli.text())
            # Everyone has seen the last arrival, so everyone is in the room.
            for m in py:
                m.until(r"is now known as joiner")
            nc.until(r"is now known as joiner")
            n = 30
            for i in range(n):
                for m in py:
                    m.send(f"{m.nick} says {i}")
                nc.send(f"nc says {i}")
                cli.send(f"joiner says {i}")
            senders = [m.nick for m in py] + ["guest4", "joiner"]  # nc is the fourth guest
            readers = [(m.nick, m) for m in py] + [("guest4", nc), ("joiner", cli)]
            for me, reader in readers:
                got = {}
                total = n * (len(senders) - 1)
                lines = []
                while sum(len(v) for v in got.values()) < total:
                    t = reader.text()
                    lines.append(t)
                    m = re.match(r"<(\S+)> (\S+) says (\d+)$", t)
                    if m:
                        got.setdefault(m.group(1), []).append(int(m.group(3)))
                self.assertNotIn(me, got, "a sender got its own message back")
                for nick, seq in got.items():
                    self.assertEqual(seq, list(range(n)), f"{me} from {nick}")
                self.assertEqual(len(got), len(senders) - 1)
            nc.finish()
            cli.finish()
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            self.assertIn(f"{5 * n} messages", err)

    def test_bursts_of_joins_and_leaves_are_announced_once_each_in_order(self):
        # Join and leave notices are sent in batches; each member must still hear of every
        # later arrival exactly once (never its own, never an earlier one), always before
        # that member's first line, and of every departure once.
        # 41 members from 127.0.0.1: more than the per-address default (32).
        with Server("chat", "serve", "127.0.0.1:0", "--quiet", "--max-conns-per-ip", "0") as srv:
            observer = Member(srv)
            n = 40
            raw = []
            for _ in range(n):  # connect and talk at once, without waiting for the welcome
                s = socket.socket(srv.family, socket.SOCK_STREAM)
                s.settimeout(timeout(10))
                s.connect(srv.address)
                s.sendall(b"hi\n")
                raw.append(s)
            closer = Member(srv)
            closer.send("end")
            views = {}
            for s in raw:
                r = Member.__new__(Member)
                r.sock, r.buf = s, b""
                welcome = r.text()
                nick = re.search(r"welcome to #lobby, (\S+):", welcome).group(1)
                views[nick] = r.until(rf"^<{closer.nick}> end$")
            views[observer.nick] = observer.until(rf"^<{closer.nick}> end$")
            order = [observer.nick] + [n for n in views if n != observer.nick] + [closer.nick]
            self.assertEqual(len(set(order)), n + 2)
            number = {nick: int(nick[len("guest"):]) for nick in order}
            for me, lines in views.items():
                joins = [m.group(1) for m in map(re.compile(r"^\*\*\* (\S+) joined #lobby$").match,
                                                  lines) if m]
                want = sorted((k for k in order if number[k] > number[me]), key=number.get)
                self.assertEqual(sorted(joins, key=number.get), want, f"joins seen by {me}")
                self.assertEqual(len(joins), len(set(joins)), f"a join twice for {me}")
                for k, line in enumerate(lines):
                    m = re.match(r"^<(\S+)> hi$", line)
                    if m and number[m.group(1)] > number[me]:
                        self.assertIn(f"*** {m.group(1)} joined #lobby", lines[:k],
                                      f"{me} heard {m.group(1)} before its arrival")
            # Everyone leaves at once: one notice each for those who stay.
            for s in raw:
                s.close()
            left = set()
            for _ in range(10 * n):
                if len(left) == n:
                    break
                # "closed", or "connection lost" when the close found lines unread (RST)
                m = re.match(r"^\*\*\* (\S+) left \(", observer.text())
                if m:
                    self.assertNotIn(m.group(1), left, "a leave announced twice")
                    left.add(m.group(1))
            self.assertEqual(left, set(views) - {observer.nick})
            closer.send("after")
            self.assertEqual(observer.until(r"after$")[-1], f"<{closer.nick}> after")
            observer.close()
            closer.close()

    def test_nicks_private_messages_actions(self):
        with Server("chat", "serve", "127.0.0.1:0") as srv:
            a, b, c = Member(srv), Member(srv), Member(srv)
            a.send("/nick Alice")
            a.until(r"is now known as Alice")
            b.until(r"is now known as Alice")
            b.send("/nick alice")  # nicks are unique regardless of case
            self.assertIn("already taken", b.until(r"already taken")[-1])
            b.send("/nick 1bad")
            self.assertIn("starts with a letter", b.until(r"starts with a letter")[-1])
            b.send("/nick bob")
            a.until(r"is now known as bob")
            c.until(r"is now known as bob")
            b.send("/msg alice just for you")
            self.assertEqual(b.until(r"^-> ")[-1], "-> *Alice* just for you")
            self.assertEqual(a.until(r"just for you")[-1], "*bob* just for you")
            b.send("/me waves")
            b.send("public")
            # c never sees the private line: the next relayed line after the rename is the action.
            relayed = [t for t in c.until(r"<bob> public") if not t.startswith("***")]
            self.assertEqual(relayed, ["* bob waves", "<bob> public"])
            b.send("/msg nobody hi")
            self.assertIn("no one called nobody", b.until(r"no one called")[-1])
            b.send("/frobnicate")
            self.assertIn("unknown command /frobnicate", b.until(r"unknown command")[-1])
            b.send("/list")
            self.assertEqual(b.until(r"in #lobby:")[-1],
                             f"*** 3 in #lobby: Alice, bob, {c.nick}")
            b.send("/help")
            self.assertIn("/msg NICK TEXT", "\n".join(b.until(r"/help ")))
            b.send("/quit gone fishing")
            self.assertIn("*** bye", b.until(r"bye")[-1])
            self.assertTrue(b.eof())
            self.assertEqual(a.until(r"bob left")[-1], "*** bob left (quit: gone fishing)")

    def test_one_packet_of_lines_and_commands_keeps_its_order(self):
        # The room hands out its lines once per flush pass; replies, private lines, nick
        # notices and the leave notice must still come in the order the sender wrote them.
        with Server("chat", "serve", "127.0.0.1:0") as srv:
            a, b, c = Member(srv), Member(srv), Member(srv)
            b.until(rf"{c.nick} joined")
            a.until(rf"{c.nick} joined")
            a.send(f"one\n/msg {b.nick} psst\ntwo\n/nick Zed\nthree\n/list\n/quit done\n")
            everyone = ["<{0}> one", "<{0}> two", "*** {0} is now known as Zed", "<Zed> three",
                        "*** Zed left (quit: done)"]
            everyone = [t.format(a.nick) for t in everyone]
            self.assertEqual(b.until(r"Zed left"), everyone[:1] + [f"*{a.nick}* psst"] + everyone[1:])
            self.assertEqual(c.until(r"Zed left"), everyone)
            self.assertEqual(a.until(r"bye"), [
                f"-> *{b.nick}* psst", f"*** {a.nick} is now known as Zed",
                f"*** 3 in #lobby: Zed, {b.nick}, {c.nick}", "*** bye"])
            self.assertTrue(a.eof())

    def test_history_is_replayed_to_newcomers(self):
        with Server("chat", "serve", "127.0.0.1:0", "--history", "2") as srv:
            a = Member(srv)
            watcher = Member(srv)
            for i in range(3):
                a.send(f"old {i}")
            watcher.until(r"old 2")  # all three relayed before the newcomer arrives
            b = Member(srv)
            self.assertEqual([b.text(), b.text()], [f"<{a.nick}> old 1", f"<{a.nick}> old 2"])

    def test_history_keeps_room_lines_only_and_notices_carry_timestamps(self):
        with Server("chat", "serve", "127.0.0.1:0", "--history", "5") as srv:
            a, b = Member(srv), Member(srv)
            join = a.line()  # b's arrival, as a raw line
            self.assertRegex(join, rf"^\[\d\d:\d\d:\d\d\] \*\*\* {b.nick} joined #lobby$")
            a.send(f"/msg {b.nick} just for you")
            b.until("just for you")
            a.send("/me waves")
            a.send("for everyone")
            b.until("for everyone")
            c = Member(srv)
            self.assertEqual([c.text(), c.text()], [f"* {a.nick} waves", f"<{a.nick}> for everyone"])
            c.send("/list")  # the next line is the reply: nothing private was replayed
            self.assertIn("3 in #lobby", c.text())

    def test_a_freed_slot_takes_the_next_member(self):
        with Server("chat", "serve", "127.0.0.1:0", "--max-clients", "1") as srv:
            a = Member(srv)
            with socket.create_connection(srv.address, timeout=timeout(10)) as s:
                self.assertIn(b"room is full", s.recv(4096))
            a.send("/quit")
            self.assertTrue(a.eof())
            for _ in range(100):  # the slot frees once the server has seen the quit
                b = socket.create_connection(srv.address, timeout=timeout(10))
                first = b.recv(4096)
                if b"welcome" in first:
                    break
                self.assertIn(b"room is full", first)
                b.close()
            else:
                self.fail("the slot never came back")
            b.close()

    def test_sigterm_with_a_member_that_never_reads_ends_within_the_grace(self):
        with Server("chat", "serve", "127.0.0.1:0", "--max-queue", "1048576") as srv:
            talker = Member(srv)
            stuck = socket.socket()
            stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stuck.connect(srv.address)
            talker.until("joined")
            # More than the stuck member's kernel buffers take (a 64 KiB send buffer, a few
            # KiB receive buffer), less than its 1 MiB queue: it is not dropped, and its
            # goodbye can never be written.
            for i in range(200):
                talker.send(f"filler {i} " + "f" * 1000)
            talker.send("/list")
            talker.until(r"2 in #lobby")
            start = time.monotonic()
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            took = time.monotonic() - start
            self.assertGreater(took, 1.5)  # the goodbye was given its 2 s close grace...
            self.assertLess(took, timeout(6))  # ...and no more
            self.assertIn("the room is closing", talker.until("closing")[-1])
            stuck.close()

    def test_leave_notice_when_a_client_vanishes(self):
        with Server("chat", "serve", "127.0.0.1:0") as srv:
            a, b = Member(srv), Member(srv)
            a.until(r"joined")
            # Abortive close (RST), like a crashed client.
            b.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            b.close()
            self.assertRegex(a.until(rf"{b.nick} left")[-1], rf"\*\*\* {b.nick} left \(")

    def test_rooms(self):
        with Server("chat", "serve", "127.0.0.1:0") as srv:
            a, b, c = Member(srv), Member(srv), Member(srv)
            b.send("/join #dev")
            self.assertIn("welcome to #dev", b.until(r"welcome to #dev")[-1])
            a.until(rf"{b.nick} left for #dev")
            c.send("/join #dev")
            b.until(rf"{c.nick} joined #dev")
            c.send("in dev")
            self.assertEqual(b.until(r"in dev")[-1], f"<{c.nick}> in dev")
            a.send("in lobby")
            a.send("/rooms")
            self.assertEqual(a.until(r"rooms:")[-1], "*** rooms: #dev (2) #lobby (1)")
            b.send("/join bad room")
            self.assertIn("starts with '#'", b.until(r"#")[-1])
            # Room names are case-insensitive, as on IRC; a room keeps its first spelling.
            b.send("/join #DEV")
            self.assertEqual(b.until(r"already in")[-1], "*** you are already in #dev")
            a.send("/join #Dev")
            welcome = a.until(r"welcome to")[-1]
            self.assertRegex(welcome, rf"^\*\*\* welcome to #dev, {a.nick}: 3 here\.")
            b.until(rf"{a.nick} joined #dev")
            a.send("/join #LOBBY")
            a.until(r"welcome to #lobby")
            b.until(rf"{a.nick} left for #lobby")
            a.send("/join #QA")
            a.send("/rooms")
            self.assertEqual(a.until(r"rooms:")[-1], "*** rooms: #dev (2) #lobby (0) #QA (1)")
            b.send("/list")
            self.assertIn(f"2 in #dev", b.until(r"in #dev:")[-1])
            # The lobby line never reached #dev.
            c.send("/list")
            self.assertFalse(any("in lobby" in t for t in c.until(r"in #dev:")))

    def test_max_clients_and_max_line(self):
        with Server("chat", "serve", "127.0.0.1:0", "--max-clients", "2", "--max-line", "10") as srv:
            a, b = Member(srv), Member(srv)
            s = socket.create_connection(srv.address, timeout=timeout(10))
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.assertIn(b"room is full", data)
            a.send("x" * 11)
            a.send("0123456789")
            self.assertIn("line too long (over 10 bytes)", a.until(r"too long")[-1])
            self.assertEqual(b.until(r"<")[-1], f"<{a.nick}> 0123456789")
            rc, out, err = srv.stop()
            self.assertIn("1 rejected", err)
            self.assertIn("1 lines too long", err)

    def test_line_framing_at_the_edges(self):
        """CRLF at exactly --max-line, a last line cut off by EOF, an over-long line ended by
        EOF, and lines that follow /quit in the same packet."""
        with Server("chat", "serve", "127.0.0.1:0", "--max-line", "10") as srv:
            watcher = Member(srv)
            a = Member(srv)
            a.send(b"0123456789\r\n" + b"x" * 11 + b"\r\n")
            self.assertEqual(watcher.until(r"^<")[-1], f"<{a.nick}> 0123456789")
            self.assertIn("line too long (over 10 bytes)", a.until(r"too long")[-1])
            # /quit, then more lines in the same packet: the member is gone, they go nowhere.
            a.send(b"/quit\nafter quit\n")
            seen = watcher.until(rf"{a.nick} left \(quit\)")
            self.assertTrue(a.eof())
            # A last line without a newline is still a line when the sender closes.
            d = Member(srv)
            d.sock.sendall(b"last words")
            d.sock.shutdown(socket.SHUT_WR)
            seen += watcher.until(rf"{d.nick} left \(closed\)")
            self.assertIn(f"<{d.nick}> last words", seen)
            # An over-long last line cut off by EOF: refused once, then a clean leave.
            e = Member(srv)
            e.sock.sendall(b"y" * 50)
            e.sock.shutdown(socket.SHUT_WR)
            seen += watcher.until(rf"{e.nick} left \(closed\)")
            replies = []
            try:
                while True:
                    replies.append(e.text())
            except EOFError:
                pass
            self.assertEqual(sum("line too long" in r for r in replies), 1, replies)
            # Everything the watcher got, up to a line said after all of that.
            z = Member(srv)
            z.send("the end")
            seen += watcher.until(r"^<.*> the end$")
            self.assertFalse([l for l in seen if "after quit" in l or "yyy" in l], seen)

    def test_idle_timeout_spares_members_who_talk(self):
        with Server("chat", "serve", "127.0.0.1:0", "--idle-timeout", "0.5") as srv:
            silent, talker = Member(srv), Member(srv)
            # The talker says something every 0.1 s, paced by waiting on the silent member's
            # socket, until the silent one is cut off (bounded: 60 rounds).
            silent.sock.settimeout(0.1)
            cut, said = False, 0
            for _ in range(60):
                try:
                    chunk = silent.sock.recv(65536)
                    if not chunk:
                        cut = True
                        break
                    silent.buf += chunk
                except socket.timeout:
                    talker.send(f"still here {said}")
                    said += 1
            self.assertTrue(cut, "the silent member was never disconnected")
            self.assertIn(b"nothing received for", silent.buf)
            self.assertGreaterEqual(said, 4)  # the talker outlived the 0.5 s timeout
            talker.send("/list")
            listing = talker.until(r"in #lobby:")[-1]
            self.assertIn(talker.nick, listing)
            self.assertNotIn(silent.nick, listing)

    def test_a_flooding_member_does_not_hold_up_the_room(self):
        with Server("chat", "serve", "127.0.0.1:0") as srv:
            flooder, b, c = Member(srv), Member(srv), Member(srv)
            b.until(rf"{c.nick} joined")
            # 16 MiB with no newline, then a line, in one stream: the room must read through
            # all of it by itself (nothing sent afterwards wakes it up).
            flood = b"z" * (16 << 20) + b"\nback to normal\n"
            done = []
            t = threading.Thread(target=lambda: done.append(flooder.sock.sendall(flood)))
            t.start()
            try:
                # Meanwhile the others still talk. The flood may end before, between or after
                # their lines (how long it takes depends on the machine and the sanitizer), so
                # its one line may come anywhere among theirs, but only once, and theirs in order.
                said = []
                for i in range(5):
                    b.send(f"fair {i}")
                    lines = [l for l in c.until(rf"^<{b.nick}> fair {i}$") if l.startswith("<")]
                    self.assertEqual(lines[-1], f"<{b.nick}> fair {i}")
                    said += lines
                back = f"<{flooder.nick}> back to normal"
                if back not in said:
                    said += [l for l in c.until(rf"^<{flooder.nick}>") if l.startswith("<")]
                self.assertEqual(said.count(back), 1, said)
                self.assertEqual([l for l in said if l != back],
                                 [f"<{b.nick}> fair {i}" for i in range(5)])
            finally:
                t.join(timeout(30))
            self.assertTrue(done and not t.is_alive(), "the flood was not taken in")
            self.assertEqual(sum("too long" in l for l in flooder.until("too long")), 1)

    def test_idle_timeout(self):
        with Server("chat", "serve", "127.0.0.1:0", "--idle-timeout", "0.3") as srv:
            a = Member(srv)
            self.assertIn("nothing received", a.until(r"disconnected")[-1])
            self.assertTrue(a.eof())

    def test_sigterm_tells_members_the_room_is_closing(self):
        with Server("chat", "serve", "127.0.0.1:0", "--json", json_mode=True) as srv:
            a, b = Member(srv), Member(srv)
            a.send("/nick ann")
            b.until(r"known as ann")
            a.send("hello json")
            b.until(r"hello json")
            srv.proc.send_signal(signal.SIGTERM)
            for m in (a, b):
                self.assertIn("the room is closing", m.until(r"closing")[-1])
                self.assertTrue(m.eof())
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            events = [json.loads(l) for l in out.splitlines()]
            kinds = [e["event"] for e in events]
            for k in ("joined", "nick_changed", "message", "closing", "left", "stopped"):
                self.assertIn(k, kinds)
            msg = next(e for e in events if e["event"] == "message")
            self.assertEqual((msg["nick"], msg["text"], msg["room"]), ("ann", "hello json", "#lobby"))
            self.assertRegex(msg["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    @unittest.skipUnless(has_ipv6_loopback(), "no IPv6 loopback")
    def test_ipv6(self):
        with Server("chat", "serve", "[::1]:0") as srv:
            self.assertTrue(srv.endpoint.startswith("tcp://[::1]:"))
            a, b = Member(srv), Member(srv)
            a.send("over v6")
            self.assertEqual(b.until(r"over v6")[-1], f"<{a.nick}> over v6")

    def test_unix_socket_and_join_json(self):
        with TempDir() as d:
            path = os.path.join(d, "chat.sock")
            with Server("chat", "serve", "unix:" + path) as srv:
                a = Member(srv)
                cli = Proc([SOCKIT, "chat", "join", "unix:" + path, "--json", "--nick", "jj"])
                first = json.loads(cli.text())
                self.assertEqual(first["event"], "notice")
                self.assertIn("welcome to #lobby", first["text"])
                a.send("hi \x1b[31mthere")
                a.send("/me nods")
                a.send("/msg jj secret")
                got = []
                while len(got) < 3:
                    e = json.loads(cli.text())
                    if e["event"] != "notice":
                        got.append(e)
                self.assertEqual(got[0]["event"], "message")
                self.assertEqual((got[0]["nick"], got[0]["text"]), (a.nick, "hi ^[[31mthere"))
                self.assertEqual((got[1]["event"], got[1]["text"]), ("action", "nods"))
                self.assertEqual((got[2]["event"], got[2]["nick"], got[2]["text"]),
                                 ("private", a.nick, "secret"))
                cli.proc.stdin.close()  # end of input: the client leaves, the server closes
                self.assertEqual(cli.proc.wait(timeout=timeout(10)), 0)
                cli.finish()
                a.until(r"jj left")
                rc, out, err = srv.stop()
                self.assertEqual(rc, 0, err)
            self.assertFalse(os.path.exists(path), "socket file left behind")

    def test_join_plain_lines_script(self):
        with Server("chat", "serve", "127.0.0.1:0") as srv:
            a = Member(srv)
            r = subprocess.run([SOCKIT, "chat", "join", srv.endpoint, "--nick", "bot"],
                               input=b"line one\nline two\n", capture_output=True,
                               timeout=timeout(20))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"welcome to #lobby", r.stdout)
            seen = a.until(r"<bot> line two")
            self.assertIn("<bot> line one", seen)

    def test_bad_options_name_the_option(self):
        for args, needle in ((["chat", "serve", "127.0.0.1:0", "--max-queue", "100"],
                              "--max-queue must hold at least one full line: 6208 bytes"),
                             (["chat", "serve", "127.0.0.1:0", "--idle-timeout", "-1"],
                              "--idle-timeout: must be 0 or more seconds"),
                             (["bench", "chat", "127.0.0.1:9", "--drain", "-1"],
                              "--drain: must be 0 or more seconds"),
                             (["bench", "chat", "127.0.0.1:9", "--drain", "inf"],
                              "--drain: must be 0 or more seconds"),
                             (["bench", "chat", "127.0.0.1:9", "--duration", "0"],
                              "--duration: must be a positive number of seconds"),
                             (["bench", "chat", "127.0.0.1:9", "--duration", "inf"],
                              "--duration: must be a positive number of seconds")):
            r = subprocess.run([SOCKIT, *args], capture_output=True, text=True,
                               timeout=timeout(10))
            self.assertEqual(r.returncode, 2, args)  # a usage error, whoever catches it
            self.assertIn(needle, r.stderr)
            self.assertEqual(r.stdout, "")

    def test_an_absurd_idle_timeout_means_never(self):
        # 1e300 seconds does not fit in milliseconds: it must mean "never", not overflow.
        with Server("chat", "serve", "127.0.0.1:0", "--idle-timeout", "1e300") as srv:
            a, b = Member(srv), Member(srv)
            a.send("still here")
            self.assertEqual(b.until(r"still here")[-1], f"<{a.nick}> still here")

    def test_join_unreachable_fails_clearly(self):
        # Bound but not listening, and held for the whole test: nobody else can take the
        # port, and a connection to it is refused.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            r = subprocess.run([SOCKIT, "chat", "join", f"127.0.0.1:{port}"],
                               capture_output=True, timeout=timeout(20))
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"sockit: error:", r.stderr)
        self.assertIn(b"refused", r.stderr.lower())


if __name__ == "__main__":
    unittest.main()
