"""The floor per event of each stage a catch-up and a replay pay, measured apart, in one process.

On whole episodes (the first `events` lines of the replay benchmark's history, generated episode by
episode): read (the lines' bytes), json.loads (the baseline), parse (`parse_event`), store
(`insert_events` into PostgreSQL, 5,000 a transaction), recompute (`record_patient`), the digest,
write (`replace_episodes` into empty rows, 200 patients a transaction, then again unchanged), and
for replay `project_patient` and the episode's document as JSON. CPU time of this process per
event (PostgreSQL's is not in it; the wall time, which has it, is recorded beside): on a shared
machine CPU time is the steadier. Needs CARECOORD_TEST_POSTGRES_URL for the store and write stages.
"""

from __future__ import annotations

import gc
import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

from benchmarks.replay import ensure_history
from benchmarks.results import record
from events import Event, parse_event
from projections.core.documents import episode_document
from projections.core.episode import project_patient
from projections.core.records import EpisodeRecord, record_patient
from projections.readmodels.sections import episode_digest

THROUGH = date(2026, 12, 31)


def _timed(name: str, work: Callable[[], Any], count: int, context: dict[str, Any]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    record(
        f"stages.{name}_cpu_us_per_event",
        cpu / count * 1e6,
        "us",
        wall_us=round(wall / count * 1e6, 2),
        **context,
    )
    return result


def _groups(events: list[Event]) -> dict[str, dict[str, list[Event]]]:
    patient_of = {e.episode_id: e.data.patient_ref for e in events if e.event_type == "ReferralReceived"}  # type: ignore[union-attr]
    groups: dict[str, dict[str, list[Event]]] = {}
    for event in events:
        if event.episode_id in patient_of:
            groups.setdefault(patient_of[event.episode_id], {}).setdefault(event.episode_id, []).append(event)
    return groups


def _store_and_write(
    url: str, events: list[Event], records: list[EpisodeRecord], count: int, context: dict[str, Any]
) -> None:
    from projections.readmodels.postgres import PostgresReadModelStore

    store = PostgresReadModelStore(url, f"bench_st_{uuid.uuid4().hex[:6]}_")
    store.create_tables()
    try:

        def insert() -> None:
            for first in range(0, len(events), 5000):
                with store.transaction() as cursor:
                    store.insert_events(cursor, events[first : first + 5000])

        def write() -> None:
            for first in range(0, len(records), 200):
                with store.transaction() as cursor:
                    store.replace_episodes(cursor, records[first : first + 200], THROUGH)

        _timed("store", insert, len(events), context)
        _timed("write_first", write, count, context)
        _timed("write_unchanged", write, count, context)
    finally:
        store.drop_tables()
        store.close()


def run(workdir: Path, events: int = 100_000) -> None:
    path = workdir / "replay-history.jsonl"
    ensure_history(path, 1_000_000, 20_000)
    with path.open("rb") as lines:
        raw = list(islice(lines, events))
    gc.collect()
    gc.freeze()  # what is kept is not garbage: the collector need not walk it again and again
    context: dict[str, Any] = {"events": len(raw), "through": THROUGH.isoformat()}
    _timed("read", lambda: [bytes(line) for line in raw], len(raw), context)
    _timed("json_loads", lambda: [json.loads(line) for line in raw], len(raw), context)
    parsed = _timed("parse", lambda: [parse_event(line) for line in raw], len(raw), context)
    groups = _groups(parsed)
    count = sum(len(found) for group in groups.values() for found in group.values())
    records = _timed(
        "recompute", lambda: [r for g in groups.values() for r in record_patient(g, THROUGH)], count, context
    )
    _timed("digest", lambda: [episode_digest(r) for r in records], count, context)
    views = _timed(
        "replay_settle",
        lambda: [v for g in groups.values() for v in project_patient(g, THROUGH)],
        count,
        context,
    )
    _timed("replay_render", lambda: [json.dumps(episode_document(v)) for v in views], count, context)
    url = os.environ.get("CARECOORD_TEST_POSTGRES_URL")
    if url:
        _store_and_write(url, parsed, records, count, context)
    gc.unfreeze()


if __name__ == "__main__":
    run(Path("var/bench"))
