"""Rows a projector knows it wrote are left alone; everything it writes still equals a full rewrite.

`ReadModelStore.replace_episodes` skips an episode whose stored digest is its record's, and with a
`WrittenViews` (the Kafka consumers and the embedded projector) rewrites only the sections (days,
claim lines, timeline, worklist spans, period claims) of a changed one that differ, as long as the
episode's stored digest is that of the record it remembers writing. Each case compares every row
with a store where the same record was written in full, and checks which rows were really
touched: by their own xmin on PostgreSQL, by the connection's count of changed rows on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pytest

from projections.core.ledger import LedgerDay
from projections.core.records import EpisodeRecord, record_patient
from projections.readmodels.caches import WrittenViews
from projections.readmodels.sqlite import SQLiteReadModelStore
from projections.readmodels.store import ReadModelStore
from tests.support.examples import example_events

THROUGH = date(2026, 4, 30)


@pytest.fixture
def stores(pg_store) -> tuple[ReadModelStore, ReadModelStore]:  # type: ignore[no-untyped-def]
    return pg_store("live"), pg_store("full")


def a_view() -> EpisodeRecord:
    """The example episode with the longest timeline, as the pure core records it."""
    events = example_events()
    by_episode: dict[str, list] = {}  # type: ignore[type-arg]
    for event in events:
        by_episode.setdefault(event.episode_id, []).append(event)
    episode_id = max(by_episode, key=lambda e: len(by_episode[e]))
    (record,) = record_patient({episode_id: by_episode[episode_id]}, THROUGH)
    assert len(record.view.days) > 10 and len(record.view.timeline) > 3
    assert record.spans and record.claims
    return record


def with_view(record: EpisodeRecord, **changes: object) -> EpisodeRecord:
    return replace(record, view=replace(record.view, **changes))


def section_of(record: EpisodeRecord, section: str) -> tuple[object, ...]:
    return getattr(record, section) if section in ("spans", "claims") else getattr(record.view, section)


def write(store: ReadModelStore, view: EpisodeRecord, written: WrittenViews | None) -> None:
    with store.transaction() as cursor:
        store.replace_episodes(cursor, [view], THROUGH, written)


def row_versions(store: ReadModelStore, table: str) -> list[str]:
    """Each row's xmin: the transaction that last wrote it."""
    with store.transaction() as cursor:
        cursor.execute(f"SELECT xmin::text FROM {{p}}{table} ORDER BY 1")
        return [row[0] for row in cursor.fetchall()]


def rows(store: ReadModelStore) -> dict[str, list[tuple[object, ...]]]:
    return {table: found for table, found in store.dump().items() if table != "events"}


def equals_full_rewrite(live: ReadModelStore, full: ReadModelStore, view: EpisodeRecord) -> bool:
    write(full, view, None)
    return rows(live) == rows(full)


@pytest.mark.postgres
def test_a_new_timeline_entry_rewrites_the_timeline_and_leaves_the_days(stores) -> None:  # type: ignore[no-untyped-def]
    live, full = stores
    written = WrittenViews()
    view = a_view()
    shorter = with_view(view, timeline=view.view.timeline[:-1])
    write(live, shorter, written)
    days_before, timeline_before = row_versions(live, "days"), row_versions(live, "timeline")

    write(live, view, written)

    assert row_versions(live, "days") == days_before  # the ledger was not touched
    assert row_versions(live, "timeline") != timeline_before
    assert equals_full_rewrite(live, full, view)


@pytest.mark.postgres
def test_a_changed_day_rewrites_the_days(stores) -> None:  # type: ignore[no-untyped-def]
    live, full = stores
    written = WrittenViews()
    view = a_view()
    write(live, view, written)
    days_before, timeline_before = row_versions(live, "days"), row_versions(live, "timeline")
    first = view.view.days[0]
    changed = with_view(view, days=(LedgerDay(first.date, "HOSPITAL_STAY"), *view.view.days[1:]))

    write(live, changed, written)

    assert row_versions(live, "days") != days_before
    assert row_versions(live, "timeline") == timeline_before
    assert equals_full_rewrite(live, full, changed)


@pytest.mark.postgres
def test_an_equal_view_is_not_written_at_all(stores) -> None:  # type: ignore[no-untyped-def]
    live, full = stores
    written = WrittenViews()
    view = a_view()
    write(live, view, written)
    episodes_before = row_versions(live, "episodes")

    write(live, view, written)

    assert row_versions(live, "episodes") == episodes_before
    assert written.skipped == 1
    assert equals_full_rewrite(live, full, view)


@pytest.mark.postgres
def test_rows_rewritten_by_someone_else_are_not_trusted(stores) -> None:  # type: ignore[no-untyped-def]
    live, full = stores
    written = WrittenViews()
    view = a_view()
    shorter = with_view(view, timeline=view.view.timeline[:-1])
    write(live, view, written)
    # Another writer (a rebuild, another consumer process) puts different rows in place.
    other = with_view(view, days=tuple(replace(d, reason="NO_DELIVERY") for d in view.view.days))
    write(live, other, None)

    write(live, shorter, written)  # remembered days equal `shorter`'s, but the rows are `other`'s

    assert equals_full_rewrite(live, full, shorter)


@pytest.fixture
def sqlite_stores(tmp_path) -> Iterator[tuple[ReadModelStore, ReadModelStore]]:  # type: ignore[no-untyped-def]
    pair = (
        SQLiteReadModelStore(tmp_path / "live.sqlite3"),
        SQLiteReadModelStore(tmp_path / "full.sqlite3"),
    )
    for store in pair:
        store.create_tables()
    yield pair
    for store in pair:
        store.close()


def rows_changed(store: ReadModelStore, view: EpisodeRecord, written: WrittenViews) -> int:
    """How many rows writing `view` inserted or deleted (SQLite counts them per connection)."""
    before = store.datastore.connection().total_changes
    write(store, view, written)
    return int(store.datastore.connection().total_changes - before)


@pytest.mark.parametrize("section", ["timeline", "days", "spans", "claims"])
def test_on_sqlite_only_the_changed_section_is_rewritten(sqlite_stores, section) -> None:  # type: ignore[no-untyped-def]
    live, full = sqlite_stores
    written = WrittenViews()
    view = a_view()
    if section == "timeline":
        before = with_view(view, timeline=view.view.timeline[:-1])
    elif section == "days":
        first = view.view.days[0]
        before = with_view(view, days=(LedgerDay(first.date, "HOSPITAL_STAY"), *view.view.days[1:]))
    else:
        before = replace(view, **{section: section_of(view, section)[:-1]})
    write(live, before, written)

    changed = rows_changed(live, view, written)

    old, new = section_of(before, section), section_of(view, section)
    assert changed == 2 + len(old) + len(new)  # the episode row out and in, the section out and in
    assert equals_full_rewrite(live, full, view)


def test_on_sqlite_an_episode_whose_stored_digest_is_its_view_is_not_written(sqlite_stores) -> None:  # type: ignore[no-untyped-def]
    live, _ = sqlite_stores
    view = a_view()
    write(live, view, None)

    assert rows_changed(live, view, WrittenViews()) == 0


def test_an_equal_view_computed_through_a_later_day_is_stamped_with_it(sqlite_stores) -> None:  # type: ignore[no-untyped-def]
    # An ended episode's days stop changing; the daily refresh finds episodes by their `through`.
    live, _ = sqlite_stores
    view = a_view()
    write(live, view, WrittenViews())
    later = date(2026, 5, 31)

    with live.transaction() as cursor:
        live.replace_episodes(cursor, [view], later, WrittenViews())
        cursor.execute("SELECT through FROM {p}episodes WHERE episode_id = ?", (view.episode_id,))
        assert cursor.fetchall() == [(later.isoformat(),)]
