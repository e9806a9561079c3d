"""The default ULX3S bitstream, built beside the other tests.

The build (YoWASP Yosys + nextpnr, single-threaded WebAssembly) takes about a quarter of an hour
and most of the other tests leave one of the two cores idle, so conftest.py starts it as soon as
the test that checks it is collected and runs that test last. The build runs at the lowest CPU
priority so that it takes only the idle core and slows no other test. Its console output goes
to a file; the test reads `catsnn build --json`'s report from another.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

TEST = "tests/test_board_build.py::test_ulx3s_bitstream_meets_timing"
REPO = Path(__file__).resolve().parents[1]


class BackgroundBuild:
    def __init__(self, args: list[str], name: str):
        self.args, self.name = args, name
        self.proc: subprocess.Popen | None = None
        self.out = REPO / "build" / "tests" / f"{name}.json"
        self.err = REPO / "build" / "tests" / f"{name}.log"

    def start(self) -> None:
        if self.proc is not None:
            return
        self.out.parent.mkdir(parents=True, exist_ok=True)
        code = "import sys; from catsnn.cli import main; sys.exit(main(sys.argv[1:]))"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            # a process group of its own: stop() ends the tools it starts too
            self.proc = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", code,
                                          *self.args], stdout=out, stderr=err, cwd=REPO,
                                         start_new_session=True)
        self.t0 = time.time()

    def report(self, timeout_s: float) -> dict:
        """Waits at most timeout_s for the build; its --json report, or AssertionError naming
        what went wrong (with the end of the build's console output)."""
        self.start()          # the test run alone (no collection hook): build now
        try:
            rc = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"{self.name}: no result after {timeout_s:.0f} s "
                                 f"(console: {self.err})") from None
        text = self.out.read_text().strip()
        if not text:
            tail = "\n".join(self.err.read_text(errors="replace").splitlines()[-15:])
            raise AssertionError(f"{self.name}: exit status {rc}, no report; console:\n{tail}")
        r = json.loads(text.splitlines()[-1])
        r["wall_s"] = round(time.time() - self.t0)
        return r

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


ulx3s = BackgroundBuild(["build", "--board", "ulx3s", "--json"], "ulx3s-bitstream")
