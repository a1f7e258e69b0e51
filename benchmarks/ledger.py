"""Recompute micro-benchmark: the ledger by runs against today's day-by-day evaluator, same episodes.

Per patient of a generated history (benchmarks/generate.py, ~50 events an episode), from parsed
events and established facts, interleaved patient by patient so that both see the same machine:
- ledger: settling the patient's episodes as the write path does (`record_patient`: through the
  later of `through` and the billing horizon), by runs (projections.core.ledger) and day by day
  (tests/support/day_by_day.py, the evaluator the runs replaced, kept as the tests' reference);
- recompute: the whole of what the write path computes for the patient (`record_patient`: views,
  worklist spans, every period's claim, and each episode's digest), once with the ledger by runs
  and once with the day-by-day ledger in its place (its days cut into the same runs).
Each patient's time is the least of `rounds` tries (CPU time of this process), divided by its
episodes: median and p99 per episode over all patients, and the ratio of the medians.

The machine is shared and its speed varies by 2x from day to day: only the ratios, measured side by
side in one run, compare from one day to the next.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.generate import history
from benchmarks.results import record
from events import Event, parse_event
from projections.core import records
from projections.core.episode import establish_episodes
from projections.core.facts import EpisodeFacts
from projections.core.ledger import LedgerDay, LedgerRun, settle_patient
from projections.core.worklist import billing_horizon
from projections.core.worklist_facts import establish_worklist
from projections.readmodels.sections import episode_digest
from tests.support import day_by_day

THROUGH = date(2026, 7, 1)  # generated episodes start between January and October 2026


def patient_groups(events: int, episodes: int) -> list[dict[str, list[Event]]]:
    """The generated history's events, parsed, by patient and episode."""
    parsed = [parse_event(line) for line in history(events, episodes)]
    patient_of = {e.episode_id: e.data.patient_ref for e in parsed if e.event_type == "ReferralReceived"}  # type: ignore[union-attr]
    groups: dict[str, dict[str, list[Event]]] = {}
    for event in parsed:
        groups.setdefault(patient_of[event.episode_id], {}).setdefault(event.episode_id, []).append(event)
    return list(groups.values())


def runs_of(days: Sequence[LedgerDay]) -> list[LedgerRun]:
    """Days cut into runs of one reason and authorization (what the ledger by runs gives)."""
    runs: list[LedgerRun] = []
    for day in days:
        ordinal = day.date.toordinal()
        last = runs[-1] if runs else None
        if last and (last.reason, last.authorization) == (day.reason, day.authorization):
            runs[-1] = LedgerRun(last.first, ordinal, last.reason, last.authorization)
        else:
            runs.append(LedgerRun(ordinal, ordinal, day.reason, day.authorization))
    return runs


def settle_day_by_day(episodes: Iterable[EpisodeFacts], through: date) -> dict[str, list[LedgerRun]]:
    return {e: runs_of(days) for e, days in day_by_day.settle_patient(episodes, through).items()}


@contextmanager
def day_by_day_ledger() -> Iterator[None]:
    """`record_patient` with the day-by-day evaluator in place of the ledger by runs."""
    setattr(records, "settle_patient", settle_day_by_day)  # noqa: B010 (records' own name)
    try:
        yield
    finally:
        setattr(records, "settle_patient", settle_patient)  # noqa: B010


def furthest(facts_of: Mapping[str, EpisodeFacts], events_of: Mapping[str, list[Event]]) -> date:
    """How far `record_patient` settles the patient: through the later of THROUGH and the horizon."""
    patient = [establish_worklist(e, events_of[e], facts) for e, facts in facts_of.items()]
    horizon = billing_horizon(p for p in patient if p is not None)
    return max(THROUGH, horizon) if horizon is not None else THROUGH


def _cpu(work: Callable[..., object], *args: Any, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        work(*args)
        best = min(best, time.process_time() - started)
    return best


def _recompute(group: Mapping[str, list[Event]]) -> None:
    for episode in records.record_patient(group, THROUGH):
        episode_digest(episode)


def measure(events: int = 100_000, episodes: int = 2_000, rounds: int = 5) -> dict[str, Any]:
    groups = patient_groups(events, episodes)
    times: dict[str, list[float]] = {"ledger_runs": [], "ledger_day_by_day": [], "recompute_runs": [],
                                     "recompute_day_by_day": []}  # fmt: skip
    gc.collect()
    gc.freeze()  # the parsed history is not garbage: do not walk it again and again
    for group in groups:
        events_of, facts_of = establish_episodes(group)
        facts, until = list(facts_of.values()), furthest(facts_of, events_of)
        count = len(facts_of) or 1
        # Interleaved, patient by patient: both sides see the same machine.
        times["ledger_runs"].append(_cpu(settle_patient, facts, until, rounds=rounds) / count)
        day_by_day_time = _cpu(day_by_day.settle_patient, facts, until, rounds=rounds)
        times["ledger_day_by_day"].append(day_by_day_time / count)
        times["recompute_runs"].append(_cpu(_recompute, group, rounds=rounds) / count)
        with day_by_day_ledger():
            times["recompute_day_by_day"].append(_cpu(_recompute, group, rounds=rounds) / count)
    gc.unfreeze()
    figures: dict[str, Any] = {"patients": len(groups), "episodes": sum(len(g) for g in groups)}
    for name, found in times.items():
        ordered = sorted(found)
        figures[f"{name}.median_us"] = statistics.median(ordered) * 1e6
        figures[f"{name}.p99_us"] = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6
    for what in ("ledger", "recompute"):
        figures[f"{what}.ratio"] = figures[f"{what}_runs.median_us"] / figures[f"{what}_day_by_day.median_us"]
    return figures


def run(workdir: Path) -> None:
    figures = measure()
    context = {
        "patients": figures.pop("patients"),
        "episodes": figures.pop("episodes"),
        "through": THROUGH.isoformat(),
        "measured": "CPU time per episode, least of 5 tries per patient",
    }
    for what in ("ledger", "recompute"):
        ratio = figures.pop(f"{what}.ratio")
        for stat in ("median", "p99"):
            new, old = figures[f"{what}_runs.{stat}_us"], figures[f"{what}_day_by_day.{stat}_us"]
            baseline = "the same with the day-by-day evaluator (tests/support/day_by_day.py)"
            record(f"ledger.{what}_{stat}_us_per_episode", new, "us", old, baseline=baseline, **context)
        record(f"ledger.{what}_median_ratio", ratio, "ratio", **context)


if __name__ == "__main__":
    for key, value in measure().items():
        print(f"{key}: {value:,.3f}")
