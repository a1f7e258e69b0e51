"""Replay benchmark: a generated history of about a million events replayed into the ledger.

The replay runs as `carecoord replay --json` in a child process, so its wall time and peak
resident memory (getrusage of the child) are those an auditor sees. Beside it, the baseline is
the rate at which plain `json.loads` decodes the same lines: the floor any replay must pay.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

from benchmarks.generate import history
from benchmarks.processes import run_sampled
from benchmarks.results import record

THROUGH = "2026-12-31"


def ensure_history(path: Path, events: int, episodes: int) -> int:
    marker = path.with_suffix(f".{events}.{episodes}.done")
    if not marker.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as out:
            count = sum(out.write(line + "\n") > 0 for line in history(events, episodes))
        marker.write_text(str(count))
    return int(marker.read_text())


def json_decode_rate(path: Path) -> tuple[float, float]:
    """Lines per second of wall time and of CPU time."""
    started, cpu = time.perf_counter(), time.process_time()
    count = 0
    with path.open("rb") as lines:
        for line in lines:
            json.loads(line)
            count += 1
    return count / (time.perf_counter() - started), count / (time.process_time() - cpu)


def _run_measured(command: list[str]) -> tuple[float, float, float, float]:
    """Wall time, the largest single-process peak RSS, the peak total memory of the process
    tree (PSS, so pages shared between the forked workers count once), and its CPU time."""
    run = run_sampled(command)
    if run.returncode:
        raise SystemExit(f"replay failed with exit status {run.returncode}: {run.stderr[-2000:]}")
    peak_rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return run.seconds, peak_rss_kb / 1024, run.peak_pss_mb, run.cpu_seconds


def run(workdir: Path, events: int = 1_000_000, episodes: int = 20_000) -> None:
    path = workdir / "replay-history.jsonl"
    print(f"replay: generating {events:,} events over {episodes:,} episodes (cached) ...")
    count = ensure_history(path, events, episodes)
    print(f"replay: {count:,} events, {path.stat().st_size / 1e6:,.0f} MB")
    elapsed, peak_rss_mb, peak_pss_mb, _ = _run_measured(
        [sys.executable, "-m", "carecoord.cli", "replay", str(path), "--through", THROUGH, "--json"]
    )
    one_process, one_rss_mb, one_pss_mb, one_cpu = _run_measured(
        [
            sys.executable,
            "-m",
            "carecoord.cli",
            "replay",
            str(path),
            "--through",
            THROUGH,
            "--json",
            "--workers",
            "1",
        ]
    )
    baseline, baseline_cpu = json_decode_rate(path)
    record(
        "replay.events_per_second",
        count / elapsed,
        "events/s",
        baseline_value=baseline,
        events=count,
        seconds=round(elapsed, 2),
        baseline="json.loads of the same lines",
        workers=os.cpu_count(),
    )
    goal = "at least 30% of json.loads' rate, peak memory under 1 GB"
    _against_json("replay.events_per_second.one_process", count, one_process, baseline, goal=goal)
    # On a shared machine the wall-time rates swing with the load; CPU time far less.
    _against_json(
        "replay.cpu_events_per_second.one_process",
        count,
        one_cpu,
        baseline_cpu,
        measured="events per second of the one-process replay's CPU time (user + system)",
    )
    record(
        "replay.peak_memory.one_process",
        one_pss_mb,
        "MB",
        events=count,
        peak_rss_mb=round(one_rss_mb, 1),
        measured="peak proportional set size (PSS) of the one-process replay, every 250 ms",
    )
    record(
        "replay.peak_rss",
        peak_rss_mb,
        "MB",
        events=count,
        measured="largest resident set of the replay process or any of its workers (getrusage)",
    )
    record(
        "replay.peak_memory_all_processes",
        peak_pss_mb,
        "MB",
        events=count,
        measured="peak summed proportional set size (PSS) of the replay and its workers, every 250 ms",
    )


def _against_json(name: str, count: int, seconds: float, baseline: float, **context: str) -> None:
    """A rate beside json.loads' over the same lines (measured in the same way), with their ratio."""
    rate = count / seconds
    record(
        name,
        rate,
        "events/s",
        baseline_value=baseline,
        baseline="json.loads of the same lines",
        ratio=round(rate / baseline, 4),
        events=count,
        seconds=round(seconds, 2),
        **context,
    )
