"""The visits service: nursing visits and logged doses, and the commands it refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from carecoord.bootstrap import Services
from events import DoseAdministered, VisitCompleted
from services.common.errors import (
    AlreadyRecorded,
    EpisodeClosed,
    EpisodeUnknown,
    InvalidCommand,
    NotFound,
    RuleViolated,
)
from tests.support.services import assert_refused, at, event_types, open_episode, receive

PACIFIC = timezone(timedelta(hours=-8), "PST")


def test_visits_and_doses(services: Services) -> None:
    open_episode(services, "ep-1")
    visits = services.visits
    visits.schedule_visit("ep-1", visit_id="v-1", scheduled_for=date(2026, 3, 2), kind="start_of_care")
    visits.complete_visit(
        "ep-1",
        visit_id="v-1",
        started_at=at("2026-03-02", 13),
        ended_at=at("2026-03-02", 16, 5),
        administered=True,
        nurse="RN Dana Whitfield",
    )
    visits.schedule_visit("ep-1", visit_id="v-2", scheduled_for=date(2026, 3, 9), kind="follow_up")
    visits.miss_visit("ep-1", visit_id="v-2", reason="patient in hospital")
    visits.complete_visit(
        "ep-1",
        visit_id="v-3",
        kind="line_care",
        started_at=at("2026-03-10", 9),
        ended_at=at("2026-03-10", 10),
        administered=False,
        nurse="RN Lee",
    )
    visits.void_visit("ep-1", visit_id="v-3", reason="charted on the wrong episode")
    visits.log_dose("ep-1", administered_on=date(2026, 3, 3), by="patient")

    assert event_types(visits) == [
        "VisitScheduled",
        "VisitCompleted",
        "VisitScheduled",
        "VisitMissed",
        "VisitCompleted",
        "VisitVoided",
        "DoseAdministered",
    ]
    events = [e for _, e in visits.contract_events()]
    soc = events[1]
    assert isinstance(soc.data, VisitCompleted)
    assert soc.data.kind == "start_of_care"  # the scheduled kind
    assert soc.data.visit_date == date(2026, 3, 2)
    assert (soc.data.started_at, soc.data.ended_at) == (
        "2026-03-02T13:00:00-05:00",
        "2026-03-02T16:05:00-05:00",
    )
    assert soc.occurred_at == soc.data.ended_at  # by default, the visit occurred when it ended
    dose = events[-1].data
    assert isinstance(dose, DoseAdministered) and (dose.administered_on, dose.by) == (
        date(2026, 3, 3),
        "patient",
    )
    assert visits.get_visits("ep-1").start_of_care == date(2026, 3, 2)


def test_the_visit_date_is_the_local_date_of_the_start(services: Services) -> None:
    open_episode(services, "ep-1")
    # 22:30 in California on March 2 is already March 3 in UTC.
    started = datetime(2026, 3, 2, 22, 30, tzinfo=PACIFIC)
    services.visits.complete_visit(
        "ep-1",
        visit_id="v-1",
        kind="follow_up",
        started_at=started,
        ended_at=started + timedelta(hours=1),
        administered=True,
        nurse="RN Lee",
    )
    ((_, event),) = services.visits.contract_events()
    assert isinstance(event.data, VisitCompleted)
    assert started.astimezone(UTC).date() == date(2026, 3, 3)
    assert event.data.visit_date == date(2026, 3, 2)


def test_a_second_start_of_care_is_refused_until_the_first_is_voided(services: Services) -> None:
    open_episode(services, "ep-1")
    _complete(services, "v-1", kind="start_of_care")
    assert_refused(
        services.visits,
        lambda: _complete(services, "v-2", kind="start_of_care"),
        AlreadyRecorded,
        "episode ep-1 already had its start of care on 2026-03-02",
    )
    services.visits.void_visit("ep-1", visit_id="v-1", reason="wrong date")
    _complete(services, "v-2", kind="start_of_care", day="2026-03-03")
    assert services.visits.get_visits("ep-1").start_of_care == date(2026, 3, 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"ended_at": at("2026-03-02", 12)},
            "visit v-1: ended_at 2026-03-02T12:00:00-05:00 is not after started_at 2026-03-02T13:00:00-05:00",
        ),
        ({"ended_at": at("2026-03-02", 13)}, "is not after started_at"),
        ({"ended_at": at("2026-03-04", 13)}, "visit v-1: lasts more than 24 hours"),
        ({"started_at": datetime(2026, 3, 2, 13)}, "started_at must carry a UTC offset"),
        ({"ended_at": "2026-03-02T15:00:00-05:00"}, "ended_at must be a datetime"),
        ({"kind": None}, "visit v-1 was not scheduled: its kind is required"),
        (
            {"kind": "social_call"},
            "kind must be one of discharge, follow_up, line_care, start_of_care, teaching",
        ),
        ({"nurse": ""}, "nurse is required"),
        ({"administered": 1}, "administered must be true or false"),
    ],
)
def test_bad_completions_are_refused(services: Services, change: dict[str, object], message: str) -> None:
    open_episode(services, "ep-1")
    values: dict[str, object] = dict(
        visit_id="v-1",
        kind="follow_up",
        started_at=at("2026-03-02", 13),
        ended_at=at("2026-03-02", 15),
        administered=True,
        nurse="RN Lee",
    )
    values.update(change)
    assert_refused(
        services.visits,
        lambda: services.visits.complete_visit("ep-1", **values),  # type: ignore[arg-type]
        InvalidCommand,
        message,
    )


def test_a_visit_lives_once(services: Services) -> None:
    open_episode(services, "ep-1")
    visits = services.visits
    visits.schedule_visit("ep-1", visit_id="v-1", scheduled_for=date(2026, 3, 2), kind="follow_up")
    assert_refused(
        visits,
        lambda: visits.schedule_visit(
            "ep-1", visit_id="v-1", scheduled_for=date(2026, 3, 2), kind="follow_up"
        ),
        AlreadyRecorded,
        r"visit v-1 of episode ep-1 already exists \(scheduled\)",
    )
    assert_refused(
        visits,
        lambda: visits.void_visit("ep-1", visit_id="v-1", reason="x"),
        RuleViolated,
        "visit v-1 of episode ep-1 is scheduled: only a completed visit can be voided",
    )
    visits.miss_visit("ep-1", visit_id="v-1", reason="no answer")
    assert_refused(
        visits,
        lambda: _complete(services, "v-1"),
        RuleViolated,
        r"visit v-1 of episode ep-1 is missed: only a scheduled \(or new\) visit can be completed",
    )
    assert_refused(
        visits,
        lambda: visits.miss_visit("ep-1", visit_id="v-1", reason="x"),
        RuleViolated,
        "visit v-1 of episode ep-1 is missed: only a scheduled visit can be missed",
    )
    _complete(services, "v-2")
    visits.void_visit("ep-1", visit_id="v-2", reason="duplicate")
    assert_refused(
        visits,
        lambda: visits.void_visit("ep-1", visit_id="v-2", reason="again"),
        AlreadyRecorded,
        "visit v-2 of episode ep-1 was already voided",
    )
    assert_refused(
        visits,
        lambda: visits.miss_visit("ep-1", visit_id="v-9", reason="x"),
        NotFound,
        "visit v-9 of episode ep-1 is unknown",
    )
    assert_refused(
        visits,
        lambda: visits.schedule_visit("ep-1", visit_id="v-3", scheduled_for=date(2026, 3, 2), kind="chat"),  # type: ignore[arg-type]
        InvalidCommand,
        "kind must be one of",
    )


def test_refused_for_unknown_declined_and_discontinued_episodes(services: Services) -> None:
    assert_refused(
        services.visits,
        lambda: _complete(services, "v-1", episode_id="ep-9"),
        EpisodeUnknown,
        "episode ep-9 is unknown: no referral received",
    )
    assert_refused(
        services.visits,
        lambda: services.visits.log_dose("ep-9", administered_on=date(2026, 3, 2), by="patient"),
        EpisodeUnknown,
        "episode ep-9 is unknown",
    )
    receive(services, "ep-2", patient_ref="pt-2")
    services.referrals.decline_referral("ep-2", "no")
    assert_refused(
        services.visits,
        lambda: _complete(services, "v-1", episode_id="ep-2"),
        EpisodeClosed,
        r"episode ep-2 was declined: cannot record a visit \(v-1\)",
    )
    open_episode(services, "ep-3")
    services.referrals.discontinue_therapy("ep-3", discontinued_on=date(2026, 3, 5), reason="transfer")
    assert_refused(
        services.visits,
        lambda: _complete(services, "v-1", episode_id="ep-3", day="2026-03-06"),
        EpisodeClosed,
        r"episode ep-3 was discontinued on 2026-03-05: cannot record a visit \(v-1\) on "
        "2026-03-06",
    )
    assert_refused(
        services.visits,
        lambda: services.visits.log_dose("ep-3", administered_on=date(2026, 3, 6), by="caregiver"),
        EpisodeClosed,
        "cannot record a dose on 2026-03-06",
    )


def test_bad_doses_are_refused(services: Services) -> None:
    open_episode(services, "ep-1")
    assert_refused(
        services.visits,
        lambda: services.visits.log_dose("ep-1", administered_on=date(2026, 3, 2), by="neighbour"),  # type: ignore[arg-type]
        InvalidCommand,
        "by must be one of caregiver, nurse, patient, got 'neighbour'",
    )
    assert_refused(
        services.visits,
        lambda: services.visits.log_dose("ep-1", administered_on=at("2026-03-02"), by="patient"),
        InvalidCommand,
        "administered_on must be a calendar date",
    )


def _complete(
    services: Services,
    visit_id: str,
    kind: str = "follow_up",
    day: str = "2026-03-02",
    episode_id: str = "ep-1",
) -> None:
    services.visits.complete_visit(
        episode_id,
        visit_id=visit_id,
        kind=kind,  # type: ignore[arg-type]
        started_at=at(day, 13),
        ended_at=at(day, 14, 30),
        administered=True,
        nurse="RN Lee",
    )
