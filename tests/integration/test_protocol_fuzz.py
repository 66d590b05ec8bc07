"""Builds the libFuzzer frame-decoder target with clang + ASan + UBSan in a separate build
directory (codec sources only) and runs it for a bounded time. Runs in the Release test run
only: the fuzzer carries its own sanitizers, so the ASan run would only pay for it twice."""
import os
import pathlib
import shutil
import subprocess
import tempfile
import unittest

from sockit_test import SANITIZED, SOCKIT

ROOT = pathlib.Path(__file__).resolve().parents[2]
FUZZ_SECONDS = int(os.environ.get("SOCKIT_FUZZ_SECONDS", "20"))


@unittest.skipIf(SANITIZED, "the fuzz run is registered once, in the Release test run")
@unittest.skipUnless(shutil.which("clang++"), "clang++ is not installed (scripts/install-deps)")
class FrameFuzz(unittest.TestCase):
    def test_random_chunkings_match_one_shot_decode(self):
        # Next to the binary under test: build/<preset>/fuzz-run, reused between runs.
        build = pathlib.Path(SOCKIT).resolve().parents[2] / "fuzz-run"
        subprocess.run(["cmake", "-S", str(ROOT / "fuzz"), "-B", str(build), "-G", "Ninja",
                        "-DCMAKE_CXX_COMPILER=clang++", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
                       check=True, capture_output=True, timeout=120)
        r = subprocess.run(["cmake", "--build", str(build)], capture_output=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout.decode(errors="replace")[-3000:])
        with tempfile.TemporaryDirectory(prefix="sockit-fuzz-") as corpus:
            r = subprocess.run([str(build / "frame_fuzzer"), f"-max_total_time={FUZZ_SECONDS}",
                                "-rss_limit_mb=1024", "-timeout=10", corpus],
                               capture_output=True, timeout=FUZZ_SECONDS + 120)
            log = r.stderr.decode(errors="replace")
            self.assertEqual(r.returncode, 0, log[-4000:])
            self.assertIn("Done", log)


if __name__ == "__main__":
    unittest.main()
