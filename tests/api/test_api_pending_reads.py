"""Reads of an episode still pending answer from its stored events, not from its stale rows.

A Kafka consumer catching up stores events and marks their episodes pending, recomputing them once
it has caught up (projections.kafka.subscriber). Meanwhile the API, which only reads in that layout,
answers an episode's ledger and timeline by recomputing it from the stored events when the episode
is pending.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import pytest

from carecoord.api.db import read_model_store
from carecoord.api.readmodel import ReadSide, ledger_of
from carecoord.config import Settings
from events import Event
from projections.core.episode import project_patient
from projections.readmodels.store import ReadModelStore
from projections.readmodels.writer import Batch, apply_batch
from tests.support.examples import example_events
from tests.support.postgres import postgres_settings

THROUGH = date(2026, 4, 30)


def an_episode_and_a_late_event_that_changes_its_ledger() -> tuple[list[Event], Event]:
    """An example episode alone with its patient, and an event of it that changes its ledger."""
    by_episode: dict[str, list[Event]] = {}
    for event in example_events():
        by_episode.setdefault(event.episode_id, []).append(event)
    for events in sorted(by_episode.values(), key=len, reverse=True):
        for late in reversed(events[1:]):
            earlier = [e for e in events if e is not late]
            (before,) = project_patient({late.episode_id: earlier}, THROUGH)
            (after,) = project_patient({late.episode_id: events}, THROUGH)
            if before.days != after.days:
                return earlier, late
    raise AssertionError("no example event changes its episode's ledger")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ReadSide, ReadModelStore]]:
    """The API's read side alone (read models kept by consumers elsewhere), and its store."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            settings = Settings.embedded(tmp_path / "var")
        else:
            settings = stack.enter_context(postgres_settings(tmp_path))
        read_side = ReadSide(settings, [], inline=False, today=lambda: THROUGH)
        stack.callback(read_side.close)
        store = read_model_store(settings)
        stack.callback(store.close)
        yield read_side, store


def test_a_pending_episode_is_read_from_its_events(stored) -> None:  # type: ignore[no-untyped-def]
    read_side, store = stored
    earlier, late = an_episode_and_a_late_event_that_changes_its_ledger()
    episode_id = late.episode_id
    apply_batch(store, Batch(events=earlier), THROUGH, consumer="kafka")
    stale = read_side.ledger(episode_id, THROUGH)
    with store.transaction() as cursor:  # what a consumer catching up does with the late event
        store.insert_events(cursor, [late])
        store.defer(cursor, {episode_id: 0})

    (view,) = project_patient({episode_id: [*earlier, late]}, THROUGH)
    assert read_side.ledger(episode_id, THROUGH) == ledger_of(view, THROUGH) != stale
    timeline = read_side.timeline(episode_id)
    assert timeline is not None and late.event_id in [entry[4] for entry in timeline]

    with store.transaction() as cursor:  # no longer pending: the stored rows are the answer again
        cursor.execute("DELETE FROM {p}pending")
    assert read_side.ledger(episode_id, THROUGH) == stale
    timeline = read_side.timeline(episode_id)
    assert timeline is not None and late.event_id not in [entry[4] for entry in timeline]


def test_an_episode_known_only_as_pending_is_not_unknown(stored) -> None:  # type: ignore[no-untyped-def]
    read_side, store = stored
    earlier, late = an_episode_and_a_late_event_that_changes_its_ledger()
    episode_id = late.episode_id
    assert read_side.ledger(episode_id, THROUGH) is None
    assert read_side.timeline(episode_id) is None
    with store.transaction() as cursor:
        store.insert_events(cursor, [*earlier, late])
        store.defer(cursor, {episode_id: 0})

    (view,) = project_patient({episode_id: [*earlier, late]}, THROUGH)
    assert read_side.ledger(episode_id, THROUGH) == ledger_of(view, THROUGH)
    assert read_side.timeline(episode_id) == [
        (e.occurred_at, e.recorded_at, e.event_type, e.source, e.event_id, e.summary) for e in view.timeline
    ]
