"""Recompute benchmark: what one episode costs the write path (`projections.readmodels.writer.recompute`).

Every writer (the embedded projector, the API's inline projection, the Kafka consumers, rebuild and
verify) recomputes a touched episode with its patient's others through `recompute`: read the
events, settle the patient, write the rows. Over a generated history (benchmarks/generate.py, ~50
events an episode) stored in a fresh read-model store, this measures per episode:
- core_cpu_us: the pure core alone, from parsed events (what `recompute` calls per patient);
- first_write_us: `recompute` of every episode into empty rows (wall time), a chunk of patients
  per transaction, as a consumer catching up does; first_write_cpu_us its CPU in this process
  (on SQLite the database's too; on PostgreSQL the server's is not in it);
- refresh_us (refresh_cpu_us): the daily refresh on the next day (every episode recomputed).
On SQLite (a temporary file) and, with CARECOORD_TEST_POSTGRES_URL set, on PostgreSQL (a scratch
schema). `python -m benchmarks recompute` records them; the least of `rounds` runs is kept.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.generate import history
from benchmarks.results import record
from events import parse_event
from projections.readmodels.sqlite import SQLiteReadModelStore
from projections.readmodels.store import ReadModelStore
from projections.readmodels.writer import recompute

THROUGH = date(2026, 7, 1)  # generated episodes start between January and October 2026
PATIENTS_PER_TRANSACTION = 200


def _core() -> Callable[[Any, date], object]:
    """What the write path runs per patient (the whole live record where the shell writes one)."""
    try:
        from projections.core.records import record_patient

        return record_patient
    except ImportError:  # before the worklist and claims read models
        from projections.core.episode import project_patient

        return project_patient


@contextmanager
def _stores() -> Iterator[list[tuple[str, Callable[[], ReadModelStore]]]]:
    with tempfile.TemporaryDirectory() as folder:
        made = [("sqlite", lambda: SQLiteReadModelStore(Path(folder) / f"r{time.monotonic_ns()}.sqlite3"))]
        url = os.environ.get("CARECOORD_TEST_POSTGRES_URL")
        if not url:
            yield made
            return
        from projections.readmodels.postgres import PostgresReadModelStore

        made.append(("postgres", lambda: PostgresReadModelStore(url, f"bench_rc_{uuid.uuid4().hex[:8]}_")))
        yield made


def _timed_recompute(store: ReadModelStore, patients: list[str], through: date) -> tuple[float, float]:
    """Wall and CPU seconds (of this process: on SQLite, the database's work too) to recompute every
    episode of `patients`, a chunk per transaction. The machine is shared: CPU is the steadier."""
    started, cpu = time.perf_counter(), time.process_time()
    for first in range(0, len(patients), PATIENTS_PER_TRANSACTION):
        chunk = patients[first : first + PATIENTS_PER_TRANSACTION]
        with store.transaction() as cursor:
            episode_ids = [
                e for e, in cursor.execute(
                    "SELECT DISTINCT episode_id FROM {p}events WHERE patient_ref IN ("
                    + ", ".join("?" * len(chunk)) + ")", chunk
                ).fetchall()
            ]  # fmt: skip
            recompute(store, cursor, episode_ids, through)
    return time.perf_counter() - started, time.process_time() - cpu


def measure(events: int = 100_000, episodes: int = 2_000, rounds: int = 2) -> dict[str, float]:
    lines = list(history(events, episodes))
    parsed = [parse_event(line) for line in lines]
    groups: dict[str, dict[str, list[Any]]] = {}
    patient_of: dict[str, str] = {}
    for event in parsed:
        if event.event_type == "ReferralReceived":
            patient_of[event.episode_id] = event.data.patient_ref  # type: ignore[union-attr]
    for event in parsed:
        patient = patient_of[event.episode_id]
        groups.setdefault(patient, {}).setdefault(event.episode_id, []).append(event)
    count = len(patient_of)
    core = _core()
    figures: dict[str, float] = {"episodes": count}
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for group in groups.values():
            core(group, THROUGH)
        best = min(best, time.process_time() - started)
    figures["core_cpu_us"] = best / count * 1e6
    patients = sorted(groups)
    with _stores() as makers:
        for name, make in makers:
            best = {key: float("inf") for key in ("first_write", "first_write_cpu", "refresh", "refresh_cpu")}
            for _ in range(rounds):
                store = make()
                store.create_tables()
                with store.transaction() as cursor:
                    store.insert_events(cursor, parsed)
                times = {
                    "first_write": _timed_recompute(store, patients, THROUGH),
                    "refresh": _timed_recompute(store, patients, THROUGH + timedelta(days=1)),
                }
                for key, (wall, cpu) in times.items():
                    best[key] = min(best[key], wall)
                    best[f"{key}_cpu"] = min(best[f"{key}_cpu"], cpu)
                store.drop_tables()
                store.close()
            for key, seconds in best.items():
                figures[f"{name}.{key}_us"] = seconds / count * 1e6
    return figures


def run(workdir: Path) -> None:
    figures = measure()
    context = {"episodes": int(figures.pop("episodes")), "through": THROUGH.isoformat()}
    for name, value in figures.items():
        record(f"recompute.{name}_per_episode", value, "us", **context)


if __name__ == "__main__":
    for key, value in measure().items():
        print(f"{key}: {value:,.1f}")
