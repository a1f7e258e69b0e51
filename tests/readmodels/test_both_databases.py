"""The same batches through the SQLite store and the PostgreSQL store leave the same rows.

Each database has its own store class (sqlite.py, postgres.py: row by row and BEGIN IMMEDIATE there,
bulk statements, COPY and advisory locks here); the write path and the rows are meant to be one.
Both stores are fed the same batches, by the embedded projector and by the Kafka consumers' way of
calling the write path (dead letters, deferral and drain, an event cache and written views), and
every row of every table is compared, positions too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from events import Event
from projections.readmodels.caches import EventCache, WrittenViews
from projections.readmodels.postgres import PostgresReadModelStore
from projections.readmodels.projector import Projector
from projections.readmodels.sqlite import SQLiteReadModelStore
from projections.readmodels.store import ReadModelStore
from projections.readmodels.tables import DeadLetter
from projections.readmodels.writer import Batch, apply_batch, drain_pending, refresh_stale
from tests.readmodels.test_projector import streams_of
from tests.support.examples import example_events
from tests.support.postgres import postgres_url

pytestmark = pytest.mark.postgres

THROUGH = date(2026, 4, 30)


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[ReadModelStore, ReadModelStore]]:
    sqlite = SQLiteReadModelStore(tmp_path / "both.sqlite3")
    postgres = PostgresReadModelStore(postgres_url(), prefix=f"b{uuid.uuid4().hex[:8]}_")
    for store in (sqlite, postgres):
        store.create_tables()
    yield sqlite, postgres
    postgres.drop_tables()
    for store in (sqlite, postgres):
        store.close()


def same_rows(sqlite: ReadModelStore, postgres: ReadModelStore, consumer: str) -> None:
    rows = sqlite.dump()
    assert rows["episodes"] and rows["days"] and rows["timeline"]  # not equal by being empty
    assert rows == postgres.dump()
    assert sqlite.positions(consumer) == postgres.positions(consumer)
    assert sqlite.pending() == postgres.pending()


def kafka_like_batches(events: list[Event], size: int) -> list[Batch]:
    """Events in batches of `size` on one stream per source, positions counted per stream, a dead
    letter in every other batch."""
    offsets: dict[str, int] = {}
    batches = []
    for start in range(0, len(events), size):
        batch = Batch()
        for event in events[start : start + size]:
            stream = f"{event.source}:0"
            batch.starts.setdefault(stream, offsets.get(stream, 0))
            offsets[stream] = offsets.get(stream, 0) + 1
            batch.events.append(event)
            batch.positions[stream] = offsets[stream]
            batch.shard_of[event.episode_id] = 0
        if len(batches) % 2:
            batch.dead_letters.append(DeadLetter("letters:0", str(start), None, "does not fit", "{}"))
        batches.append(batch)
    return batches


def test_the_embedded_projector_writes_the_same_rows_on_both(both) -> None:  # type: ignore[no-untyped-def]
    sqlite, postgres = both
    events = example_events()
    for store in both:
        # Every event twice, in small batches: repeats, patients over several batches.
        Projector(store, streams_of(events, repeat=2), lambda: THROUGH, batch_size=4).catch_up()
    same_rows(sqlite, postgres, "embedded")


def test_the_consumers_way_writes_the_same_rows_on_both(both) -> None:  # type: ignore[no-untyped-def]
    sqlite, postgres = both
    events = example_events()
    batches = kafka_like_batches(events, size=9)
    for store in both:
        cache, written = EventCache(capacity=50), WrittenViews(capacity=5)
        for n, batch in enumerate(batches):
            apply_batch(store, batch, THROUGH, consumer="kafka", cache=cache, written=written, defer=n < 5)
        while drain_pending(store, THROUGH, cache, written, limit=3):
            pass
    same_rows(sqlite, postgres, "kafka")


def test_the_daily_refresh_writes_the_same_rows_on_both(both) -> None:  # type: ignore[no-untyped-def]
    sqlite, postgres = both
    events = example_events()
    for store in both:
        Projector(store, streams_of(events), lambda: date(2026, 3, 15), batch_size=50).catch_up()
        assert refresh_stale(store, THROUGH)
    same_rows(sqlite, postgres, "embedded")
