"""`chat serve --web` in a real browser: two headless Chromium pages and an nc-style member
in one room. Each sees the others' lines; /nick, /me, /msg, /list and /join work as typed; a
private line reaches its target only; markup from a peer stays text; the page fits a phone's
screen, follows prefers-color-scheme, loads under the strict CSP without an error, and comes
back by itself (token, nick and all) after the server restarts on the same web port.
Waits are WebDriverWait and socket timeouts on readiness signals, never sleeps.

Needs Debian's python3-selenium, chromium and chromium-driver; skipped when one is missing.
SOCKIT_SCREENSHOT_DIR: where chat-web.png goes (else a temporary directory); the path is
printed. docs/images/chat-web.png is made with SOCKIT_SCREENSHOT_DIR=docs/images."""
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from sockit_test import SOCKIT, TempDir, read_line, timeout

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException, TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # Debian: apt-get install python3-selenium
    webdriver = None


def find_program(path, name):
    if os.access(path, os.X_OK):
        return path
    return shutil.which(name)


CHROMIUM = find_program("/usr/bin/chromium", "chromium")
CHROMEDRIVER = find_program("/usr/bin/chromedriver", "chromedriver")
MISSING = ("python3-selenium is not installed" if webdriver is None else
           "chromium is not installed" if CHROMIUM is None else
           "chromedriver (chromium-driver) is not installed" if CHROMEDRIVER is None else None)

WAIT = timeout(10)  # seconds for any one thing to show up
STAMP = re.compile(r"^\[\d\d:\d\d:\d\d\] ")


class Room:
    """`sockit chat serve ... --web ...`: waits for its one listening line,
    `listening on tcp://H:P (web page http://H:P2/)`, and knows both addresses."""

    def __init__(self, *args):
        self.args = [SOCKIT, "chat", "serve", *args]
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        try:
            line = read_line(self.proc.stdout, timeout(10))
        except Exception:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"{self.args} did not start: {err.decode(errors='replace')}")
        m = re.match(r"^listening on tcp://(127\.0\.0\.1):(\d+) \(web page (http://127\.0\.0\.1:"
                     r"(\d+)/)\)$", line.rstrip("\n"))
        assert m, line
        self.address = (m.group(1), int(m.group(2)))
        self.url, self.web_port = m.group(3), int(m.group(4))

    def stop(self):
        """SIGTERM, as a user's Ctrl-C would; returns (returncode, stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=timeout(15))
        return self.proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


class Nc:
    """An nc-style member: raw TCP, whole lines (timestamps taken off), with a deadline."""

    def __init__(self, room, token=None):
        self.sock = socket.create_connection(room.address, timeout=WAIT)
        self.buf = b""
        if token:
            self.send(token)
        welcome = self.until("*** welcome to ")
        m = re.match(r"\*\*\* welcome to (#\S+), (\S+): ", welcome)
        assert m, welcome
        self.room, self.nick = m.group(1), m.group(2)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed (pending {self.buf!r})")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        text = line.decode()
        m = STAMP.match(text)
        return text[m.end():] if m else text

    def until(self, needle, limit=500):
        """The first line containing `needle`; the lines skipped on the way in self.skipped."""
        self.skipped = []
        for _ in range(limit):
            line = self.line()
            if needle in line:
                return line
            self.skipped.append(line)
        raise AssertionError(f"{needle!r} not in {self.skipped[-20:]}")

    def send(self, text):
        self.sock.sendall(text.encode() + b"\n")

    def close(self):
        self.sock.close()


# Every .line in #messages as [data-kind, textContent, className].
LINES_JS = ("return Array.from(document.querySelectorAll('#messages .line'),"
            " e => [e.dataset.kind, e.textContent, e.className]);")


class Page:
    """One headless Chromium with the chat page."""

    def __init__(self, name):
        self.name = name
        self.profile = tempfile.mkdtemp(prefix=f"sockit-chromium-{name}-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    f"--user-data-dir={self.profile}", "--window-size=1000,800",
                    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                    "--disable-sync", "--disable-background-networking",
                    "--disable-component-update", "--disable-domain-reliability",
                    "--disable-default-apps", "--disable-breakpad",
                    "--disable-features=Translate,MediaRouter,OptimizationHints",
                    # Both pages run at once, none in the background:
                    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                    "--disable-backgrounding-occluded-windows"):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        except Exception:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        self.driver.set_page_load_timeout(WAIT)
        self.driver.set_script_timeout(WAIT)

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, what, predicate, limit=WAIT):
        try:
            return WebDriverWait(self.driver, limit, poll_frequency=0.05).until(
                lambda d: predicate())
        except TimeoutException:
            status = self.text("status")
            raise AssertionError(f"{self.name}: no {what} within {limit}s; status {status!r}, "
                                 f"its lines: {[l[1] for l in self.lines()][-15:]}") from None

    def open(self, url):
        """Loads the page and waits until the room has welcomed it; returns its nick."""
        self.driver.get(url)
        return self.ready()

    def ready(self):
        self.wait("connected and welcomed", lambda: self.js(
            "const s = document.getElementById('status'), n = document.getElementById('nick');"
            "return s.dataset.state === 'connected' && n.textContent !== '' &&"
            " document.getElementById('room').textContent.startsWith('#');"))
        return self.nick()

    def text(self, element_id):
        return self.js("return document.getElementById(arguments[0]).textContent;", element_id)

    def nick(self):
        return self.text("nick")

    def lines(self):
        return self.js(LINES_JS)

    def line(self, needle, kind=None):
        """Waits for the first line whose text contains `needle` (and of this kind)."""
        def found():
            for k, text, cls in self.lines():
                if needle in text and (kind is None or k == kind):
                    return (k, text, cls)
            return None
        return self.wait(f"{kind or 'any'} line with {needle!r}", found)

    def has(self, needle):
        return any(needle in text for _, text, _ in self.lines())

    def say(self, text):
        """Types a line and Enter; waits until the page has sent it (the input is cleared)."""
        box = self.driver.find_element(By.ID, "input")
        box.send_keys(text + Keys.ENTER)
        self.wait(f"{text!r} sent", lambda: box.get_property("value") == "")

    def wait_nick(self, nick):
        self.wait(f"nick {nick!r}", lambda: self.nick() == nick)

    def members(self):
        return self.js("return Array.from(document.querySelectorAll('#members li'),"
                       " e => e.dataset.nick);")

    def wait_members(self, names):
        want = sorted(names)
        self.wait(f"members {want}", lambda: sorted(self.members()) == want)

    def severe_logs(self):
        return [e for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]


def screenshot_path():
    where = os.environ.get("SOCKIT_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="sockit-shot-")
    os.makedirs(where, exist_ok=True)
    return os.path.join(where, "chat-web.png")


@unittest.skipIf(MISSING, f"no browser to drive: {MISSING}")
class ChatInBrowser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = Page("a")
        try:
            cls.b = Page("b")
        except Exception:
            cls.a.quit()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.b.quit()
        cls.a.quit()

    def setUp(self):
        self.a.driver.set_window_size(1000, 800)
        for p in (self.a, self.b):
            p.driver.get_log("browser")  # what an earlier test left

    def tearDown(self):
        # Away from the page: it would keep trying to reconnect to the stopped server.
        for p in (self.a, self.b):
            p.driver.get("about:blank")

    def test_two_pages_and_nc_in_one_room(self):
        a, b = self.a, self.b
        with Room("127.0.0.1:0", "--web", "127.0.0.1:0") as room:
            nc = Nc(room)
            try:
                self.conversation(room, nc, a, b)
            finally:
                nc.close()
            code, out, err = room.stop()
            self.assertEqual(code, 0, err)

    def conversation(self, room, nc, a, b):
        # Arrivals: each sees the others come in.
        a0 = a.open(room.url)
        self.assertRegex(a0, r"^guest\d+$")
        self.assertEqual(a.text("room"), "#lobby")
        nc.until(f"*** {a0} joined #lobby")
        b0 = b.open(room.url)
        nc.until(f"*** {b0} joined #lobby")
        a.line(f"*** {b0} joined #lobby", "notice")
        a.wait_members([a0, b0, nc.nick])
        b.wait_members([a0, b0, nc.nick])

        # Nicks: the nc member's, then each page's /nick as typed, seen by everyone.
        nc.send("/nick sam")
        nc.until(f"*** {nc.nick} is now known as sam")
        a.line(f"{nc.nick} is now known as sam", "notice")
        b.line(f"{nc.nick} is now known as sam", "notice")
        a.say("/nick alice")
        self.assertEqual(nc.until("is now known as alice"), f"*** {a0} is now known as alice")
        a.wait_nick("alice")
        b.line(f"{a0} is now known as alice", "notice")
        b.say("/nick bob")
        self.assertEqual(nc.until("is now known as bob"), f"*** {b0} is now known as bob")
        b.wait_nick("bob")
        a.line(f"{b0} is now known as bob", "notice")
        a.wait_members(["alice", "bob", "sam"])
        b.wait_members(["alice", "bob", "sam"])

        # Messages: nc -> both pages, page -> nc and the other page, /me.
        nc.send("hi all, sam here on plain nc")
        for p in (a, b):
            kind, text, _ = p.line("hi all, sam here on plain nc", "message")
            self.assertRegex(text, r"^\d\d:\d\d:\d\d <sam> hi all, sam here on plain nc$")
        a.say("hello sam, alice in a browser")
        self.assertEqual(nc.until("alice in a browser"), "<alice> hello sam, alice in a browser")
        b.line("<alice> hello sam, alice in a browser", "message")
        _, _, cls = a.line("<alice> hello sam, alice in a browser", "message")
        self.assertIn("mine", cls)  # its own line, shown as the others see it
        b.say("/me waves from the other tab")
        self.assertEqual(nc.until("waves from"), "* bob waves from the other tab")
        a.line("* bob waves from the other tab", "action")
        b.line("* bob waves from the other tab", "action")
        nc.send("/me is on a terminal")
        a.line("* sam is on a terminal", "action")

        # /msg page -> page: the target and the sender's receipt; the nc member never.
        a.say("/msg bob just between us")
        b.line("*alice* just between us", "private")
        a.line("-> *bob* just between us", "private-sent")
        a.say("ok, back to everyone")
        nc.until("<alice> ok, back to everyone")
        self.assertFalse([l for l in nc.skipped if "just between us" in l], nc.skipped)
        b.line("<alice> ok, back to everyone", "message")
        # /msg page -> nc: the nc member only; the other page never (it has a later line).
        a.say("/msg sam psst, only for sam")
        self.assertEqual(nc.until("psst"), "*alice* psst, only for sam")
        a.line("-> *sam* psst, only for sam", "private-sent")
        a.say("anyone for tea?")
        b.line("<alice> anyone for tea?", "message")
        self.assertFalse(b.has("psst"), [l[1] for l in b.lines()])
        # nc -> page: likewise.
        nc.send("/msg alice tea sounds good")
        nc.until("-> *alice* tea sounds good")
        a.line("*sam* tea sounds good", "private")
        nc.send("count me in")
        b.line("<sam> count me in", "message")
        self.assertFalse(b.has("tea sounds good"), [l[1] for l in b.lines()])

        # /list as typed: the answer shows (the page's own /list at arrival does not).
        a.say("/list")
        a.line("*** 3 in #lobby: alice, bob, sam", "notice")
        self.assertEqual(a.text("member-count"), "(3)")
        a.wait("#lobby (3) in the room list", lambda: a.js(
            "const r = document.querySelector('#rooms li[data-room=\"#lobby\"]');"
            "return r !== null && r.classList.contains('here') &&"
            " r.querySelector('.count').textContent === '3';"))
        b.say("sure, bob is in")
        a.line("<bob> sure, bob is in", "message")

        # The picture: a few lines, nick changes, a /me, private lines, the member list.
        path = screenshot_path()
        self.assertTrue(a.driver.save_screenshot(path), path)
        print(f"\nscreenshot: {path}", file=sys.stderr)

        # Peer text is text: markup from the nc member and from a page stays literal.
        hostile = "<script>alert(1)</script> and <b>x</b>"
        nc.send(hostile)
        _, text, _ = a.line("alert(1)", "message")
        self.assertTrue(text.endswith(f"<sam> {hostile}"), text)
        b.say("<i>not italic</i> <img src=x>")
        _, text, _ = a.line("not italic", "message")
        self.assertTrue(text.endswith("<bob> <i>not italic</i> <img src=x>"), text)
        for p in (a, b):
            self.assertEqual(p.js("return document.querySelectorAll("
                                  "'#messages script, #messages b, #messages i, #messages img')"
                                  ".length;"), 0)
            self.assertEqual(p.js("return Array.from(document.querySelectorAll('#messages .text'))"
                                  ".filter(e => e.children.length > 0).length;"), 0)
            with self.assertRaises(NoAlertPresentException):
                p.driver.switch_to.alert.text
        nc.until("<bob> <i>not italic</i> <img src=x>")

        # /join as typed: away to another room and back.
        b.say("/join #side")
        b.wait("in #side", lambda: b.text("room") == "#side")
        nc.until("*** bob left for #side")
        a.line("*** bob left for #side", "notice")
        a.wait_members(["alice", "sam"])
        b.wait_members(["bob"])
        b.say("/join #lobby")
        b.wait("back in #lobby", lambda: b.text("room") == "#lobby")
        nc.until("*** bob joined #lobby")
        a.wait_members(["alice", "bob", "sam"])
        b.wait_members(["alice", "bob", "sam"])

        # Light or dark, as the system prefers.
        colours = {}
        for scheme in ("light", "dark"):
            a.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
                "features": [{"name": "prefers-color-scheme", "value": scheme}]})
            a.wait(f"{scheme} scheme", lambda: a.js(
                "return matchMedia('(prefers-color-scheme: dark)').matches;") == (scheme == "dark"))
            colours[scheme] = a.js("return [getComputedStyle(document.body).backgroundColor,"
                                   " getComputedStyle(document.body).color];")
        a.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        self.assertEqual(colours["light"], ["rgb(251, 251, 250)", "rgb(29, 31, 33)"])
        self.assertEqual(colours["dark"], ["rgb(15, 17, 21)", "rgb(227, 229, 232)"])

        # A phone-sized screen: one column, the input and the messages in view, nothing
        # wider than the screen; the people panel opens over the messages when asked for.
        a.driver.set_window_size(390, 844)
        a.wait("a narrow viewport, the side panel slid away", lambda: a.js(
            "return window.innerWidth <= 400 &&"
            " getComputedStyle(document.getElementById('side')).visibility === 'hidden';"))
        fits = a.js("""
            const box = (id) => document.getElementById(id).getBoundingClientRect();
            const inView = (r) => r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 &&
                r.right <= window.innerWidth && r.bottom <= window.innerHeight;
            const d = document.documentElement;
            return {input: inView(box('input')), messages: inView(box('messages')),
                    send: inView(box('send')), status: inView(box('status')),
                    scrollWidth: d.scrollWidth, clientWidth: d.clientWidth,
                    bodyScroll: document.body.scrollWidth,
                    messagesScroll: document.getElementById('messages').scrollWidth,
                    messagesClient: document.getElementById('messages').clientWidth,
                    side: getComputedStyle(document.getElementById('side')).visibility,
                    inputFont: parseFloat(getComputedStyle(document.getElementById('input')).fontSize)};
        """)
        self.assertTrue(fits["input"] and fits["messages"] and fits["send"] and fits["status"],
                        fits)
        self.assertLessEqual(fits["scrollWidth"], fits["clientWidth"], fits)
        self.assertLessEqual(fits["messagesScroll"], fits["messagesClient"], fits)
        self.assertEqual(fits["side"], "hidden", fits)
        self.assertGreaterEqual(fits["inputFont"], 16, fits)  # no zoom on focus
        self.assertTrue(a.driver.find_element(By.ID, "input").is_displayed())
        self.assertTrue(a.driver.find_element(By.ID, "messages").is_displayed())
        a.driver.find_element(By.ID, "side-toggle").click()
        a.wait("the people panel", lambda: a.driver.find_element(By.ID, "members").is_displayed())
        a.say("typed on a phone")
        nc.until("<alice> typed on a phone")
        a.driver.find_element(By.ID, "side-toggle").click()
        a.driver.set_window_size(1000, 800)

        # The page loaded and ran under the CSP without a single error.
        for p in (a, b):
            self.assertEqual(p.severe_logs(), [], p.name)

    def test_reconnects_after_the_server_restarts(self):
        """A private room: the page has the token from #token=..., sends it first, and after
        the server is stopped and started again on the same web port, it reconnects by
        itself (with backoff), gives the token again and takes its nick back."""
        p = self.b
        with TempDir() as d:
            # A "+" in it: the page must not read the address's "+" as a space.
            token = secrets.token_hex(16) + "+web"
            token_file = os.path.join(d, "token")
            with open(token_file, "w") as f:
                f.write(token + "\n")
            args = ["--token-file", token_file]
            with Room("127.0.0.1:0", "--web", "127.0.0.1:0", *args) as first:
                nc = Nc(first, token)
                p.open(first.url + "#token=" + token)
                self.assertEqual(p.js("return location.hash;"), "")  # out of the address bar
                p.say("/nick carol")
                nc.until("is now known as carol")
                p.wait_nick("carol")
                nc.close()
                code, _, err = first.stop()
                self.assertEqual(code, 0, err)
            p.wait("the connection lost", lambda: p.js(
                "return document.getElementById('status').dataset.state;") == "reconnecting")
            self.assertRegex(p.text("status"), r"^reconnecting in \d+s$")
            p.line("*** the room is closing (server shutting down), bye", "notice")
            p.line("connection lost", "notice")
            begun = time.monotonic()
            with Room("127.0.0.1:0", "--web", f"127.0.0.1:{first.web_port}", *args) as second:
                self.assertEqual(second.web_port, first.web_port)
                nc = Nc(second, token)
                # A new session's welcome (as a guest), then the page's own /nick carol.
                p.wait("a second welcome", lambda: sum(
                    "*** welcome to #lobby" in l[1] for l in p.lines()) == 2, limit=timeout(15))
                p.wait("back, as carol", lambda: p.nick() == "carol" and p.js(
                    "return document.getElementById('status').dataset.state;") == "connected")
                took = time.monotonic() - begun
                nc.send("/list")
                self.assertRegex(nc.until(" in #lobby: "),
                                 rf"^\*\*\* 2 in #lobby: (carol, {nc.nick}|{nc.nick}, carol)$")
                p.say("back again")
                self.assertEqual(nc.until("back again"), "<carol> back again")
                nc.close()
                code, _, err = second.stop()
                self.assertEqual(code, 0, err)
            print(f"\nreconnected {took:.1f}s after the new server started", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
