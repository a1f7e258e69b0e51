"""Worklist benchmark: the CPU the item spans add to each recompute of a patient's episodes.

The live read model computes the spans with the ledger (`projections.core.records.record_patient`,
one settlement for both), so the baseline is `project_patient` on the same episodes. Figures are
CPU microseconds per episode over a generated history (benchmarks/generate.py, ~50 events an
episode), events parsed beforehand:
- spans: `worklist_spans` alone (it establishes the facts and settles the ledger itself);
- spans_given_ledger: `patient_spans` with facts and ledgers a shared settlement would hand it;
- direct: `worklist_items` for one day, as `carecoord worklist` computes it;
- offline: `carecoord worklist HISTORY --json` over replay's million-event history in a child process
  (events/s, wall time, peak memory), beside json.loads of the same lines, as replay's figure is.

`python -m benchmarks.worklist` prints the figures; `make bench` records them too.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.generate import history
from benchmarks.processes import run_sampled
from benchmarks.results import record
from events import Event
from projections.core.episode import project_patient
from projections.core.history import read_history
from projections.core.ledger import settle_patient
from projections.core.worklist import billing_horizon, establish_patient, worklist_items
from projections.core.worklist_spans import patient_spans, worklist_spans

TODAY = date(2026, 7, 1)  # generated episodes start between January and October 2026
Group = dict[str, list[Event]]


def patient_groups(events: int, episodes: int) -> list[Group]:
    read = read_history(list(history(events, episodes)))
    return [{e: read.events_of(e) for e in ids} for ids in read.episodes_by_patient().values()]


def cpu_per_episode(
    groups: Sequence[Any], work: Callable[[Any], object], episodes: int, rounds: int
) -> float:
    """The least CPU time of `rounds` passes over every group, in microseconds per episode."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for group in groups:
            work(group)
        best = min(best, time.process_time() - started)
    return best / episodes * 1e6


def measure(events: int = 200_000, episodes: int = 4_000, rounds: int = 3) -> dict[str, float]:
    groups = patient_groups(events, episodes)
    count = sum(len(group) for group in groups)
    settled = []
    for group in groups:
        patient = establish_patient(group)
        horizon = billing_horizon(patient)
        ledgers = settle_patient((e.facts for e in patient), horizon) if horizon else {}
        settled.append((patient, ledgers))
    spans = [span for group in groups for span in worklist_spans(group)]
    return {
        "project_patient": cpu_per_episode(groups, lambda g: project_patient(g, TODAY), count, rounds),
        "spans": cpu_per_episode(groups, worklist_spans, count, rounds),
        "spans_given_ledger": cpu_per_episode(settled, lambda s: patient_spans(*s), count, rounds),
        "direct": cpu_per_episode(groups, lambda g: worklist_items(g, TODAY), count, rounds),
        "spans_per_episode": len(spans) / count,
        "open_ended_spans_per_episode": sum(span.last is None for span in spans) / count,
        "episodes": count,
    }


def offline(workdir: Path, events: int = 1_000_000, episodes: int = 20_000) -> None:
    """`carecoord worklist` over the history `benchmarks.replay` replays, as a coordinator's
    command-line run would: the whole file read, every patient's worklist for one day."""
    from benchmarks.replay import ensure_history, json_decode_rate

    path = workdir / "replay-history.jsonl"
    count = ensure_history(path, events, episodes)
    run = run_sampled(
        [sys.executable, "-m", "carecoord.cli", "worklist", str(path), "--today", TODAY.isoformat(), "--json"]
    )
    if run.returncode:
        raise SystemExit(f"worklist failed with exit status {run.returncode}: {run.stderr[-2000:]}")
    baseline, _ = json_decode_rate(path)  # lines a second of wall time, as the run is timed
    context = {"events": count, "today": TODAY.isoformat(), "seconds": round(run.seconds, 2)}
    context["baseline"] = "json.loads of the same lines"
    record("worklist.offline_events_per_second", count / run.seconds, "events/s", baseline, **context)
    record("worklist.offline_peak_memory", run.peak_pss_mb, "MB", **context)


def run(workdir: Path) -> None:
    offline(workdir)
    figures = measure()
    context = {"episodes": figures["episodes"], "today": TODAY.isoformat()}
    baseline = figures["project_patient"]
    record("worklist.spans_cpu_us_per_episode", figures["spans"], "us", baseline, **context)
    record("worklist.spans_given_ledger_cpu_us_per_episode", figures["spans_given_ledger"], "us", **context)
    record("worklist.direct_cpu_us_per_episode", figures["direct"], "us", **context)
    record("worklist.spans_per_episode", figures["spans_per_episode"], "spans", **context)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--episodes", type=int, default=4_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for name, value in measure(args.events, args.episodes, args.rounds).items():
        print(f"{name}: {value:,.1f}")


if __name__ == "__main__":
    main()
