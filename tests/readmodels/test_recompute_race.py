"""Two consumer processes, one patient: a group computed before its lock is checked once it is held.

`recompute` on PostgreSQL (every writer's path) settles a patient's episodes first and only then
takes the patient's lock. An event that another consumer commits for that patient in between
must not be lost: the group is read and settled again under the lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import pytest

from events import Event
from projections.readmodels.postgres import PostgresReadModelStore
from projections.readmodels.store import PATIENT_LOCK, ReadModelStore
from projections.readmodels.writer import recompute
from tests.support.examples import example_events

pytestmark = pytest.mark.postgres

THROUGH = date(2026, 4, 30)


@pytest.fixture
def store_pair(pg_url: str) -> Iterator[tuple[ReadModelStore, ReadModelStore]]:
    url = pg_url
    prefix = f"r{uuid.uuid4().hex[:8]}_"
    mine, theirs = PostgresReadModelStore(url, prefix), PostgresReadModelStore(url, prefix)
    mine.create_tables()
    yield mine, theirs
    theirs.close()
    mine.drop_tables()
    mine.close()


def one_episode() -> list[Event]:
    """The example episode with the most events, in recorded order."""
    by_episode: dict[str, list[Event]] = {}
    for event in example_events():
        by_episode.setdefault(event.episode_id, []).append(event)
    return max(by_episode.values(), key=len)


def timeline_ids(store: ReadModelStore, episode_id: str) -> set[str]:
    with store.transaction() as cursor:
        cursor.execute("SELECT event_id FROM {p}timeline WHERE episode_id = ?", (episode_id,))
        return {row[0] for row in cursor.fetchall()}


def test_an_event_committed_before_the_patient_lock_is_in_the_views(store_pair, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = store_pair
    events = one_episode()
    first, late = events[:-1], events[-1]
    episode_id = first[0].episode_id
    with mine.transaction() as cursor:
        mine.insert_events(cursor, first)
    take_lock = mine.lock

    def lock_after_another_commit(cursor, kind, keys):  # type: ignore[no-untyped-def]
        keys = list(keys)
        if kind == PATIENT_LOCK:  # the other consumer commits its event for this patient first
            with theirs.transaction() as other:
                theirs.insert_events(other, [late])
        take_lock(cursor, kind, keys)

    monkeypatch.setattr(mine, "lock", lock_after_another_commit)
    with mine.transaction() as cursor:
        recompute(mine, cursor, [episode_id], THROUGH)

    assert timeline_ids(mine, episode_id) == {e.event_id for e in events}
