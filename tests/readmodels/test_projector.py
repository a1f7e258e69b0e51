"""The live read models: incremental, idempotent, crash-safe, and equal to a clean rebuild."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from events import Event
from projections.core.documents import episode_document
from projections.core.history import project_history, read_history
from projections.readmodels.postgres import PostgresReadModelStore
from projections.readmodels.projector import Projector
from projections.readmodels.sqlite import SQLiteReadModelStore
from projections.readmodels.store import ReadModelStore
from tests.support.examples import example_events
from tests.support.postgres import postgres_url
from tests.support.records import history_digests

THROUGH = date(2026, 4, 30)


class ListStream:
    """A service's contract events held in memory, numbered like a notification log."""

    def __init__(self, name: str, events: list[Event]) -> None:
        self.name = name
        self.events = events

    def contract_events(self, start: int = 1, limit: int | None = None) -> list[tuple[int, Event]]:
        end = len(self.events) if limit is None else start - 1 + limit
        return [(n, self.events[n - 1]) for n in range(start, min(end, len(self.events)) + 1)]


def streams_of(events: list[Event], repeat: int = 1) -> list[ListStream]:
    by_source: dict[str, list[Event]] = {}
    for event in events * repeat:
        by_source.setdefault(event.source, []).append(event)
    return [ListStream(source, items) for source, items in sorted(by_source.items())]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    created: list[ReadModelStore] = []

    def make(name: str) -> ReadModelStore:
        if request.param == "sqlite":
            store = SQLiteReadModelStore(tmp_path / f"{name}.sqlite3")
        else:
            store = PostgresReadModelStore(postgres_url(), prefix=f"t{uuid.uuid4().hex[:8]}_{name}_")
        created.append(store)
        return store

    yield make
    for store in created:
        if isinstance(store, PostgresReadModelStore):
            store.drop_tables()
        store.close()


def rebuilt(make_store, events: list[Event]) -> ReadModelStore:  # type: ignore[no-untyped-def]
    store = make_store("rebuild")
    Projector(store, streams_of(events), lambda: THROUGH, batch_size=100_000).catch_up()
    return store


def test_incremental_batches_equal_a_clean_rebuild(make_store) -> None:  # type: ignore[no-untyped-def]
    events = example_events()
    live = make_store("live")
    projector = Projector(live, streams_of(events), lambda: THROUGH, batch_size=3)
    batches = 0
    while projector.run_once():
        batches += 1
    assert batches > 10
    assert live.dump() == rebuilt(make_store, events).dump()


def test_read_models_equal_the_replay_of_the_same_events(make_store) -> None:  # type: ignore[no-untyped-def]
    events = example_events()
    store = rebuilt(make_store, events)
    lines = [json.dumps(json.loads(e.model_dump_json())) for e in events]
    views = project_history(read_history(lines), THROUGH)
    with store.transaction() as cursor:
        cursor.execute("SELECT episode_id, billable_days, status FROM {p}episodes")
        rows = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    assert rows == {view.episode_id: (view.billable_days, view.status) for view in views}
    assert store.digests() == history_digests(lines, THROUGH)
    assert all(episode_document(view)["days"] for view in views if view.status != "declined")


def test_events_delivered_twice_count_once(make_store) -> None:  # type: ignore[no-untyped-def]
    events = example_events()
    twice = make_store("twice")
    Projector(twice, streams_of(events, repeat=2), lambda: THROUGH, batch_size=7).catch_up()
    assert twice.dump() == rebuilt(make_store, events).dump()


class Crash(Exception):
    pass


def test_a_crash_between_write_and_commit_loses_nothing_and_counts_nothing_twice(make_store) -> None:  # type: ignore[no-untyped-def]
    events = example_events()
    live = make_store("crashy")
    projector = Projector(live, streams_of(events), lambda: THROUGH, batch_size=2)
    crashes = 0
    for n in range(10_000):

        def crash() -> None:
            raise Crash

        try:
            # Every third batch dies after writing its read models and positions, before commit.
            if not projector.run_once(before_commit=crash if n % 3 == 1 else None):
                break
        except Crash:
            crashes += 1
            live.close()  # a new process starts with a new connection
    assert crashes > 3
    assert live.dump() == rebuilt(make_store, events).dump()


def test_an_event_arriving_before_its_referral_waits_for_it(make_store) -> None:  # type: ignore[no-untyped-def]
    events = [e for e in example_events() if e.episode_id == "ep-basic"]
    referral = [e for e in events if e.event_type == "ReferralReceived"]
    others = [e for e in events if e.event_type != "ReferralReceived"]
    stream = ListStream("all", others)
    store = make_store("waiting")
    projector = Projector(store, [stream], lambda: THROUGH)
    projector.catch_up()
    assert store.digests() == {}
    stream.events = others + referral
    projector.catch_up()
    assert store.dump() == rebuilt(make_store, events).dump()
