"""The complications service: complications, holds, hospital stays, and the commands it refuses."""

from __future__ import annotations

from datetime import date

import pytest

from carecoord.bootstrap import Services
from events import HospitalAdmitted, TherapyHeld
from services.common.errors import (
    AlreadyRecorded,
    EpisodeClosed,
    EpisodeUnknown,
    InvalidCommand,
    NotFound,
    RuleViolated,
)
from tests.support.services import assert_refused, at, event_types, open_episode, receive


def test_a_complication_a_hold_and_a_hospital_stay(services: Services) -> None:
    open_episode(services, "ep-1")
    c = services.complications
    c.report_complication(
        "ep-1", complication_id="c-1", kind="line_infection", severity="moderate", onset_on=date(2026, 3, 8)
    )
    c.hold_therapy("ep-1", held_from=date(2026, 3, 8), reason="line infection")
    c.admit_to_hospital(
        "ep-1", admitted_on=date(2026, 3, 9), facility_kind="hospital", occurred_at=at("2026-03-09", 22)
    )
    c.discharge_from_hospital("ep-1", discharged_on=date(2026, 3, 12))
    c.resolve_complication("ep-1", complication_id="c-1", resolved_on=date(2026, 3, 12))
    c.resume_therapy("ep-1", resumed_on=date(2026, 3, 13))
    c.hold_therapy("ep-1", held_from=date(2026, 3, 20), reason="patient travelling")  # a second hold, later
    assert event_types(c) == [
        "ComplicationReported",
        "TherapyHeld",
        "HospitalAdmitted",
        "HospitalDischarged",
        "ComplicationResolved",
        "TherapyResumed",
        "TherapyHeld",
    ]
    events = [e for _, e in c.contract_events()]
    assert isinstance(events[1].data, TherapyHeld) and events[1].data.reason == "line infection"
    assert (
        isinstance(events[2].data, HospitalAdmitted) and events[2].occurred_at == "2026-03-09T22:00:00-05:00"
    )
    record = c.get_record("ep-1")
    assert record.held_from == date(2026, 3, 20) and record.admitted_on is None


def test_resolve_only_an_open_complication(services: Services) -> None:
    open_episode(services, "ep-1")
    c = services.complications
    assert_refused(
        c,
        lambda: c.resolve_complication("ep-1", complication_id="c-1", resolved_on=date(2026, 3, 9)),
        NotFound,
        "complication c-1 of episode ep-1 is unknown",
    )
    c.report_complication(
        "ep-1", complication_id="c-1", kind="bruising", severity="mild", onset_on=date(2026, 3, 8)
    )
    assert_refused(
        c,
        lambda: c.resolve_complication("ep-1", complication_id="c-1", resolved_on=date(2026, 3, 7)),
        InvalidCommand,
        "complication c-1: resolved_on 2026-03-07 is before its onset on 2026-03-08",
    )
    c.resolve_complication("ep-1", complication_id="c-1", resolved_on=date(2026, 3, 9))
    assert_refused(
        c,
        lambda: c.resolve_complication("ep-1", complication_id="c-1", resolved_on=date(2026, 3, 10)),
        RuleViolated,
        "complication c-1 of episode ep-1 is not open: it was resolved on 2026-03-09",
    )
    assert_refused(
        c,
        lambda: c.report_complication(
            "ep-1", complication_id="c-1", kind="bruising", severity="mild", onset_on=date(2026, 3, 12)
        ),
        AlreadyRecorded,
        "complication c-1 of episode ep-1 was already reported",
    )


def test_hold_and_resume_rules(services: Services) -> None:
    open_episode(services, "ep-1")
    c = services.complications
    assert_refused(
        c,
        lambda: c.resume_therapy("ep-1", resumed_on=date(2026, 3, 9)),
        RuleViolated,
        "therapy for episode ep-1 is not on hold: there is nothing to resume",
    )
    c.hold_therapy("ep-1", held_from=date(2026, 3, 8), reason="site irritation")
    assert_refused(
        c,
        lambda: c.hold_therapy("ep-1", held_from=date(2026, 3, 9), reason="again"),
        RuleViolated,
        "therapy for episode ep-1 is already on hold since 2026-03-08: resume it before holding it again",
    )
    assert_refused(
        c,
        lambda: c.resume_therapy("ep-1", resumed_on=date(2026, 3, 7)),
        InvalidCommand,
        "resumed_on 2026-03-07 is before the hold began on 2026-03-08",
    )
    assert_refused(
        c,
        lambda: c.hold_therapy("ep-1", held_from=date(2026, 3, 9), reason=""),
        InvalidCommand,
        "reason is required",
    )


def test_hospital_stay_rules(services: Services) -> None:
    open_episode(services, "ep-1")
    c = services.complications
    assert_refused(
        c,
        lambda: c.discharge_from_hospital("ep-1", discharged_on=date(2026, 3, 9)),
        RuleViolated,
        "the patient of episode ep-1 is not admitted: there is nothing to discharge from",
    )
    c.admit_to_hospital("ep-1", admitted_on=date(2026, 3, 8))
    assert_refused(
        c,
        lambda: c.admit_to_hospital("ep-1", admitted_on=date(2026, 3, 9)),
        RuleViolated,
        "the patient of episode ep-1 is already admitted since 2026-03-08: discharge first",
    )
    assert_refused(
        c,
        lambda: c.discharge_from_hospital("ep-1", discharged_on=date(2026, 3, 7)),
        InvalidCommand,
        "discharged_on 2026-03-07 is before the admission on 2026-03-08",
    )


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            lambda c: c.report_complication(
                "ep-1", complication_id="c-1", kind="headache", severity="mild", onset_on=date(2026, 3, 8)
            ),
            "kind must be one of allergic_reaction",
        ),
        (
            lambda c: c.report_complication(
                "ep-1", complication_id="c-1", kind="bleeding", severity="awful", onset_on=date(2026, 3, 8)
            ),
            "severity must be one of mild, moderate, severe",
        ),
        (
            lambda c: c.report_complication(
                "ep-1", complication_id="", kind="bleeding", severity="mild", onset_on=date(2026, 3, 8)
            ),
            "complication_id is required",
        ),
        (
            lambda c: c.admit_to_hospital("ep-1", admitted_on=date(2026, 3, 8), facility_kind="hotel"),
            "facility_kind must be one of critical_access_hospital, hospital, skilled_nursing_facility",
        ),
        (
            lambda c: c.hold_therapy("ep-1", held_from="2026-03-08", reason="x"),
            "held_from must be a calendar date",
        ),
    ],
)
def test_bad_values_are_refused(services: Services, command, message: str) -> None:  # type: ignore[no-untyped-def]
    open_episode(services, "ep-1")
    assert_refused(services.complications, lambda: command(services.complications), InvalidCommand, message)


def test_refused_for_unknown_declined_and_discontinued_episodes(services: Services) -> None:
    c = services.complications
    assert_refused(
        c,
        lambda: c.hold_therapy("ep-9", held_from=date(2026, 3, 8), reason="x"),
        EpisodeUnknown,
        "episode ep-9 is unknown: no referral received",
    )
    receive(services, "ep-2", patient_ref="pt-2")
    services.referrals.decline_referral("ep-2", "no")
    assert_refused(
        c,
        lambda: c.admit_to_hospital("ep-2", admitted_on=date(2026, 3, 8)),
        EpisodeClosed,
        "episode ep-2 was declined: cannot record a hospital admission",
    )
    open_episode(services, "ep-3")
    c.admit_to_hospital("ep-3", admitted_on=date(2026, 3, 18))
    services.referrals.discontinue_therapy("ep-3", discontinued_on=date(2026, 3, 20), reason="death")
    assert_refused(
        c,
        lambda: c.hold_therapy("ep-3", held_from=date(2026, 3, 21), reason="x"),
        EpisodeClosed,
        "episode ep-3 was discontinued on 2026-03-20: cannot record a therapy hold on 2026-03-21",
    )
    assert_refused(
        c,
        lambda: c.report_complication(
            "ep-3", complication_id="c-1", kind="bleeding", severity="mild", onset_on=date(2026, 3, 22)
        ),
        EpisodeClosed,
        "was discontinued on 2026-03-20",
    )
    # A stay that began before discontinuation still ends after it.
    c.discharge_from_hospital("ep-3", discharged_on=date(2026, 3, 24))
