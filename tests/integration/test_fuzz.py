"""Builds every libFuzzer target (fuzz/<name>_fuzzer.cpp, clang + ASan + UBSan, the Asio-free
parser sources only) in one separate build directory and runs each for a bounded time on a
copy of its seed corpus fuzz/corpus/<name>/, two at a time. Any crash, sanitizer report or
broken property fails the test with the target's log and the input that did it.
SOCKIT_FUZZ_SECONDS sets the time per target (default 12); SOCKIT_FUZZ_SEED the random seed
(default 1, so a CI run explores the same inputs each time and a failure is a change in the
code, not luck; set it to 0 for a fresh seed when fuzzing by hand). Runs in the Release test run
only: the fuzzers carry their own sanitizers, so the ASan run would only pay for it twice."""
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
import unittest

from sockit_test import SANITIZED, SOCKIT

ROOT = pathlib.Path(__file__).resolve().parents[2]
FUZZ = ROOT / "fuzz"
FUZZ_SECONDS = int(os.environ.get("SOCKIT_FUZZ_SECONDS", "12"))
FUZZ_SEED = int(os.environ.get("SOCKIT_FUZZ_SEED", "1"))
PARALLEL = 2  # ctest gives this test 2 cores' worth of time
MAX_LEN = 8192


def target_names():
    return sorted(p.name[: -len("_fuzzer.cpp")] for p in FUZZ.glob("*_fuzzer.cpp"))


def tail(text, n):
    return text if len(text) <= n else "..." + text[-n:]


@unittest.skipIf(SANITIZED, "the fuzz run is registered once, in the Release test run")
@unittest.skipUnless(shutil.which("clang++"), "clang++ is not installed (scripts/install-deps)")
class Fuzz(unittest.TestCase):
    def test_every_target_has_a_seed_corpus(self):
        names = target_names()
        self.assertIn("frame", names)
        for name in names:
            seeds = FUZZ / "corpus" / name
            self.assertTrue(seeds.is_dir() and any(seeds.iterdir()),
                            f"fuzz/{name}_fuzzer.cpp has no seeds in fuzz/corpus/{name}/")

    def test_every_target_runs_clean(self):
        build = self.build()
        names = target_names()
        failures = []
        with tempfile.TemporaryDirectory(prefix="sockit-fuzz-") as tmp:
            pending = list(names)
            running = []  # (name, process, log path, artifact dir, started)
            # Bounded: each target is started once and each wait is bounded by a timeout.
            while pending or running:
                while pending and len(running) < PARALLEL:
                    running.append(self.start(build, pending.pop(0), pathlib.Path(tmp)))
                name, proc, log_path, artifacts, started = running.pop(0)
                try:
                    proc.wait(timeout=FUZZ_SECONDS + 120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                log = log_path.read_text(errors="replace")
                print(f"fuzz {name}: {time.monotonic() - started:.1f} s, "
                      f"{self.last_status(log)}", flush=True)
                if proc.returncode != 0 or "Done" not in log:
                    failures.append(self.describe(build, name, proc.returncode, log, artifacts))
        if failures:
            self.fail("\n\n".join(failures))

    def build(self):
        # Next to the binary under test: build/<preset>/fuzz-run, reused between runs.
        build = pathlib.Path(SOCKIT).resolve().parents[2] / "fuzz-run"
        configure = ["cmake", "-S", str(FUZZ), "-B", str(build), "-G", "Ninja",
                     "-DCMAKE_CXX_COMPILER=clang++", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"]
        if shutil.which("ccache"):
            configure.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
        started = time.monotonic()
        r = subprocess.run(configure, capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, tail((r.stdout + r.stderr).decode(errors="replace"), 3000))
        r = subprocess.run(["cmake", "--build", str(build), "--parallel", str(PARALLEL)],
                           capture_output=True, timeout=900)
        self.assertEqual(r.returncode, 0, tail(r.stdout.decode(errors="replace"), 4000))
        print(f"fuzz build: {time.monotonic() - started:.1f} s", flush=True)
        return build

    def start(self, build, name, tmp):
        work = tmp / name
        corpus = work / "corpus"
        artifacts = work / "artifacts"
        # A copy: libFuzzer adds what it finds to the corpus it is given, and the repo's
        # seeds must stay the small hand-written set.
        shutil.copytree(FUZZ / "corpus" / name, corpus)
        artifacts.mkdir()
        log_path = work / "log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [str(build / f"{name}_fuzzer"), f"-max_total_time={FUZZ_SECONDS}", f"-seed={FUZZ_SEED}",
                 f"-max_len={MAX_LEN}", "-rss_limit_mb=1024", "-timeout=10",
                 f"-artifact_prefix={artifacts}/", str(corpus)],
                stdout=log, stderr=subprocess.STDOUT, cwd=work)
        return name, proc, log_path, artifacts, time.monotonic()

    @staticmethod
    def last_status(log):
        lines = [l for l in log.splitlines() if l.startswith("#") and "cov:" in l]
        return lines[-1] if lines else "no status line"

    @staticmethod
    def describe(build, name, code, log, artifacts):
        text = [f"== {name}_fuzzer exited with {code}", tail(log, 4000)]
        for crash in sorted(artifacts.iterdir()):
            data = crash.read_bytes()
            text.append(f"-- {crash.name} ({len(data)} bytes): {data[:512]!r}")
            text.append(f"   reproduce: {build / (name + '_fuzzer')} <file with those bytes>")
        return "\n".join(text)


if __name__ == "__main__":
    unittest.main()
