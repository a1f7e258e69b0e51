"""A command sees every referral stored before it, also when its look at the referrals stream rides in
its own transaction (PostgreSQL: referrals_fence.py) or is skipped because the referrals store did
not change (SQLite: sqlite_version.py). "Another process" is a second `Services` on the same stores,
whose referrals this one's directory has not read yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pytest
from eventsourcing.persistence import PersistenceError

from carecoord.bootstrap import Services
from carecoord.config import Settings
from events import Event
from services.common import application
from services.common.errors import AlreadyRecorded, EpisodeClosed
from services.common.referrals_fence import is_referrals_moved
from tests.support.services import assert_refused, assess, open_episode


@pytest.fixture
def other_process(settings: Settings) -> Iterator[Services]:
    with Services.from_config(settings) as built:
        yield built


def _assess(services: Services, assessment_id: str, on: date, episode_id: str = "ep-1") -> None:
    assess(services, episode_id, assessment_id, on, kind="reassessment")


def test_a_discontinuation_stored_elsewhere_refuses_the_next_command(
    services: Services, other_process: Services
) -> None:
    open_episode(other_process, "ep-1")
    _assess(services, "as-1", date(2026, 3, 5))  # this process now knows ep-1 as open
    other_process.referrals.discontinue_therapy("ep-1", discontinued_on=date(2026, 3, 10), reason="completed")
    assert_refused(
        services.assessments,
        lambda: _assess(services, "as-2", date(2026, 3, 20)),
        EpisodeClosed,
        "discontinued on 2026-03-10",
    )
    _assess(services, "as-3", date(2026, 3, 9))  # before the discontinuation: still accepted


def test_an_episode_received_elsewhere_is_known_to_the_next_command(
    services: Services, other_process: Services
) -> None:
    open_episode(other_process, "ep-1")
    _assess(services, "as-1", date(2026, 3, 5))
    open_episode(other_process, "ep-2")
    _assess(services, "as-2", date(2026, 3, 5), episode_id="ep-2")
    assert services.assessments.episodes.position == services.referrals.max_position()


def test_a_command_reads_the_referrals_only_when_they_moved(
    settings: Settings, other_process: Services
) -> None:
    """PostgreSQL: the fence tells; SQLite: the referrals store's data_version (sqlite_version.py)."""
    reads: list[int] = []
    with Services.from_config(settings) as services:
        read = services.referrals.contract_events

        def counted(start: int) -> list[tuple[int, Event]]:
            reads.append(start)
            return read(start)

        services.assessments.episodes._source = counted
        open_episode(other_process, "ep-1")
        _assess(services, "as-1", date(2026, 3, 5))  # ep-1 unknown here: read the stream, then run
        assert len(reads) == 2  # the events, then an empty read: caught up
        reads.clear()
        _assess(services, "as-2", date(2026, 3, 6))
        assert reads == [], "a command on a known episode read the referrals stream"
        other_process.referrals.record_authorization(
            "ep-1", auth_number="A-1", start_date=date(2026, 3, 2), end_date=date(2026, 4, 1), units=30
        )
        _assess(services, "as-3", date(2026, 3, 7))  # the fence sees the authorization: caught up
        assert reads and services.assessments.episodes.position == services.referrals.max_position()
        assert [e.data.assessment_id for _, e in services.assessments.contract_events()] == [  # type: ignore[union-attr]
            "as-1",
            "as-2",
            "as-3",
        ]


@pytest.mark.postgres
@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
@pytest.mark.parametrize("pool_size", [1, 2])
def test_on_postgres_a_save_the_fence_or_a_duplicate_refused_leaves_the_connection_usable(
    settings: Settings, other_process: Services, pool_size: int
) -> None:
    assert settings.postgres is not None
    pool = replace(settings, postgres=replace(settings.postgres, pool_size=pool_size))
    with Services.from_config(pool) as services:
        open_episode(other_process, "ep-1")
        services.assessments.episodes.catch_up()
        other_process.referrals.record_authorization(
            "ep-1", auth_number="A-1", start_date=date(2026, 3, 2), end_date=date(2026, 4, 1), units=30
        )
        # The first save on the connection is refused by the fence (statements prepared in the same
        # pipeline), then runs again; the next commands find every prepared statement where psycopg
        # remembers it.
        _assess(services, "as-1", date(2026, 3, 5))
        _assess(services, "as-2", date(2026, 3, 6))
        _assess(other_process, "as-3", date(2026, 3, 7))
        with pytest.raises(AlreadyRecorded):
            _assess(services, "as-3", date(2026, 3, 7))  # refused by the store before the fence ran
        _assess(services, "as-4", date(2026, 3, 8))
        other_process.referrals.record_authorization(
            "ep-1", auth_number="A-2", start_date=date(2026, 4, 2), end_date=date(2026, 5, 1), units=30
        )
        _assess(services, "as-5", date(2026, 3, 9))
        # Runs of saves, every sixth refused by the fence first: psycopg prepares a statement on its
        # sixth run, and when the fence went first in the pipeline the statement was skipped there
        # while psycopg took it for prepared (the demo month on two connections hit it).
        for n in range(6, 40):
            if n % 6 == 0:
                open_episode(other_process, f"ep-{n}")
            if n % 6 == 3:  # and a duplicate, which the store refuses with the fence still queued
                with pytest.raises(AlreadyRecorded):
                    _assess(services, f"as-{n - 1}", date(2026, 3, 10))
            _assess(services, f"as-{n}", date(2026, 3, 10))
        assert len(services.assessments.contract_events()) == 39


@pytest.mark.postgres
@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
def test_on_postgres_while_referrals_keep_arriving_commands_catch_up_first(
    settings: Settings, other_process: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused: list[PersistenceError] = []

    def counted(error: PersistenceError) -> bool:
        moved = is_referrals_moved(error)
        if moved:
            refused.append(error)
        return moved

    monkeypatch.setattr(application, "is_referrals_moved", counted)
    with Services.from_config(settings) as services:
        open_episode(other_process, "ep-1")
        _assess(services, "as-0", date(2026, 3, 5))
        for n in range(1, 8):
            other_process.referrals.record_authorization(
                "ep-1", auth_number=f"A-{n}", start_date=date(2026, 3, 2), end_date=date(2026, 4, 1), units=30
            )
            _assess(services, f"as-{n}", date(2026, 3, 5))
        assert len(refused) == 1, "each arriving referral cost a refused save"
        reads: list[int] = []
        read = services.referrals.contract_events

        def counted_read(start: int) -> list[tuple[int, Event]]:
            reads.append(start)
            return read(start)

        services.assessments.episodes._source = counted_read
        _assess(services, "as-8", date(2026, 3, 5))  # caught up first: nothing new, quiet again
        assert len(reads) == 1
        _assess(services, "as-9", date(2026, 3, 5))  # fenced: no read
        assert len(reads) == 1
