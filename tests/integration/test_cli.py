"""The CLI surface: --help of sockit and of every subcommand, --version, usage errors."""
import re
import unittest

from sockit_test import run


def subcommands(help_text):
    """Names listed under 'Subcommands:' in CLI11's help output."""
    names = []
    section = help_text.split("Subcommands:", 1)
    if len(section) < 2:
        return names
    for line in section[1].splitlines()[1:]:
        m = re.match(r"^  (\S+)\s{2,}", line)
        if m:
            names.append(m.group(1))
        elif line.strip() == "" and names:
            break
    return names


class Help(unittest.TestCase):
    def test_top_level_help(self):
        p = run("--help", timeout_s=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        self.assertIn("Usage:", out)
        for name in ("echo", "connect", "listen", "bench"):
            self.assertIn(name, subcommands(out))
        self.assertIn("unix:/path", out)  # the endpoint forms are documented

    def test_every_subcommand_help_exits_0(self):
        top = run("--help", timeout_s=10).stdout.decode()
        names = subcommands(top)
        self.assertGreaterEqual(len(names), 4)
        checked = 0
        for name in names:
            with self.subTest(subcommand=name):
                p = run(name, "--help", timeout_s=10)
                self.assertEqual(p.returncode, 0, p.stderr)
                out = p.stdout.decode()
                self.assertIn("Usage:", out)
                checked += 1
                for sub in subcommands(out):
                    with self.subTest(subcommand=f"{name} {sub}"):
                        q = run(name, sub, "--help", timeout_s=10)
                        self.assertEqual(q.returncode, 0, q.stderr)
                        self.assertIn("Usage:", q.stdout.decode())
                        checked += 1
        self.assertGreaterEqual(checked, 5)

    def test_issue_2_options_are_documented(self):
        expected = {
            ("echo",): ["--udp", "--upper", "--threads", "--max-conns", "--idle-timeout",
                        "--json"],
            ("connect",): ["--udp"],
            ("listen",): ["-k", "--json"],
            ("bench", "echo"): ["--connections", "--duration", "--size", "--pipeline", "--udp",
                                "--json"],
        }
        for cmd, options in expected.items():
            out = run(*cmd, "--help", timeout_s=10).stdout.decode()
            for opt in options:
                self.assertIn(opt, out, f"{' '.join(cmd)} --help lacks {opt}")

    def test_version(self):
        p = run("--version", timeout_s=10)
        self.assertEqual(p.returncode, 0)
        self.assertIn("sockit", p.stdout.decode())


class UsageErrors(unittest.TestCase):
    def test_no_subcommand(self):
        p = run(timeout_s=10)
        self.assertNotEqual(p.returncode, 0)

    def test_unknown_subcommand(self):
        p = run("no-such-command", timeout_s=10)
        self.assertNotEqual(p.returncode, 0)

    def test_missing_endpoint(self):
        for cmd in (["echo"], ["connect"], ["listen"], ["bench", "echo"]):
            with self.subTest(cmd=cmd):
                p = run(*cmd, timeout_s=10)
                self.assertEqual(p.returncode, 2)  # a usage error, as nc has it
                self.assertIn("endpoint", p.stderr.decode().lower())

    def test_negative_seconds_are_usage_errors(self):
        for args, option in ((["echo", ":0", "--idle-timeout", "-1"], b"--idle-timeout"),
                             (["connect", "--udp", "127.0.0.1:9", "-w", "-1"], b"--wait"),
                             (["listen", "--udp", "127.0.0.1:0", "--wait", "-1"], b"--wait")):
            with self.subTest(args=args):
                p = run(*args, timeout_s=10)
                self.assertEqual(p.returncode, 2)
                self.assertIn(option + b": must be 0 or more seconds", p.stderr)

    def test_bad_numbers(self):
        for args in (["echo", ":0", "--threads", "many"], ["echo", ":0", "--threads", "-1"],
                     ["echo", ":0", "--threads", "100000"], ["echo", ":0", "--max-conns", "-1"],
                     ["bench", "echo", "127.0.0.1:9", "--duration", "soon"],
                     ["bench", "echo", "127.0.0.1:9", "--duration", "-1"],
                     ["bench", "echo", "127.0.0.1:9", "--size", "-1"],
                     ["bench", "echo", "127.0.0.1:9", "--connections", "-1"]):
            with self.subTest(args=args):
                p = run(*args, timeout_s=10)
                self.assertIn(p.returncode, (1, 2))  # 2 when the parser catches it
                self.assertTrue(p.stderr.strip(), "no error message")
                self.assertNotIn(b"179769313486231570814527423731704356798", p.stderr)


if __name__ == "__main__":
    unittest.main()
