"""A benchmarked command in a child process: its wall time, output, and its tree's peak memory."""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SampledRun:
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    peak_pss_mb: float  # the largest summed PSS of the process and all its descendants, sampled


def run_sampled(command: list[str], cwd: Path | None = None, every: float = 0.25) -> SampledRun:
    """Run `command`, summing the proportional set size (PSS: pages shared between forked workers
    count once) of its whole process tree every `every` seconds; reading smaps is not free, so no
    more often than the measured command can spare."""
    import psutil

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = psutil.Popen(command, stdout=out, stderr=err, cwd=cwd, text=True)
        peak = 0
        while child.poll() is None:
            total = 0
            for process in [child, *child.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += process.memory_full_info().pss
            peak = max(peak, total)
            time.sleep(every)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return SampledRun(seconds, child.returncode, out.read(), err.read(), peak / 1e6)
