"""A benchmarked command in a child process: its wall time, output, and its tree's peak memory."""

from __future__ import annotations

import contextlib
import resource
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
    cpu_seconds: float = 0.0  # user + system CPU of the process and the descendants it waited for


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_sampled(command: list[str], cwd: Path | None = None, every: float = 0.25) -> SampledRun:
    """Run `command`, summing the proportional set size (PSS: pages shared between forked workers
    count once) of its whole process tree every `every` seconds; reading smaps is not free, so no
    more often than the measured command can spare."""
    import psutil

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started, cpu = time.perf_counter(), _children_cpu()
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
        cpu = _children_cpu() - cpu
        return SampledRun(seconds, child.returncode, out.read(), err.read(), peak / 1e6, cpu)
