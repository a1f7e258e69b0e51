"""Replay benchmark: a generated history of about a million events replayed into the ledger.

The replay runs as `carecoord replay --json` in a child process, so its wall time and peak
resident memory (getrusage of the child) are those an auditor sees. Beside it, the baseline is
the rate at which plain `json.loads` decodes the same lines: the floor any replay must pay.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.generate import history
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


def json_decode_rate(path: Path) -> float:
    started = time.perf_counter()
    count = 0
    with path.open("rb") as lines:
        for line in lines:
            json.loads(line)
            count += 1
    return count / (time.perf_counter() - started)


def run(workdir: Path, events: int = 1_000_000, episodes: int = 20_000) -> None:
    path = workdir / "replay-history.jsonl"
    print(f"replay: generating {events:,} events over {episodes:,} episodes (cached) ...")
    count = ensure_history(path, events, episodes)
    print(f"replay: {count:,} events, {path.stat().st_size / 1e6:,.0f} MB")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(os.devnull, "w") as sink:
        subprocess.run(
            [sys.executable, "-m", "carecoord.cli", "replay", str(path), "--through", THROUGH, "--json"],
            stdout=sink,
            check=True,
        )
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux
    if before.ru_maxrss > resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss:
        peak_mb = float("nan")
    baseline = json_decode_rate(path)
    record(
        "replay.events_per_second",
        count / elapsed,
        "events/s",
        baseline_value=baseline,
        events=count,
        seconds=round(elapsed, 2),
        baseline="json.loads of the same lines",
    )
    record("replay.peak_rss", peak_mb, "MB", events=count)
