"""The assessments service: completing assessments, and the commands it refuses."""

from __future__ import annotations

from datetime import date

import pytest

from carecoord.bootstrap import Services
from events import AssessmentCompleted
from services.common.errors import AlreadyRecorded, EpisodeClosed, EpisodeUnknown, InvalidCommand
from tests.support.services import assert_refused, assess, at, open_episode, receive


def test_initial_assessment_and_a_reassessment(services: Services) -> None:
    open_episode(services, "ep-1")
    assessments = services.assessments
    assessments.complete_assessment(
        "ep-1",
        assessment_id="as-1",
        kind="initial",
        assessed_on=date(2026, 3, 2),
        eligible=True,
        clinician="RN Dana Whitfield",
        findings={"home_safety": "ok", "access": "intrathecal pump"},
        occurred_at=at("2026-03-02", 11),
    )
    assessments.complete_assessment(
        "ep-1",
        assessment_id="as-2",
        kind="reassessment",
        assessed_on=date(2026, 3, 16),
        eligible=False,
        clinician="RN Dana Whitfield",
    )
    events = [event for _, event in assessments.contract_events()]
    assert [e.event_type for e in events] == ["AssessmentCompleted", "AssessmentCompleted"]
    first, second = (e.data for e in events)
    assert isinstance(first, AssessmentCompleted) and isinstance(second, AssessmentCompleted)
    assert first.eligible and first.findings == {"home_safety": "ok", "access": "intrathecal pump"}
    assert events[0].occurred_at == "2026-03-02T11:00:00-05:00"
    assert not second.eligible and second.kind == "reassessment" and second.findings is None
    assert all(e.source == "assessments" and e.episode_id == "ep-1" for e in events)
    assert assessments.get_assessment("ep-1", "as-2").eligible is False


def test_an_assessment_before_acceptance_is_fine(services: Services) -> None:
    receive(services, "ep-1")
    services.assessments.complete_assessment(
        "ep-1",
        assessment_id="as-1",
        kind="initial",
        assessed_on=date(2026, 3, 1),
        eligible=True,
        clinician="RN A",
    )


def test_refused_for_an_unknown_episode(services: Services) -> None:
    assert_refused(
        services.assessments,
        lambda: assess(services, "ep-9"),
        EpisodeUnknown,
        "episode ep-9 is unknown: no referral received",
    )


def test_refused_for_a_declined_episode(services: Services) -> None:
    receive(services, "ep-1")
    services.referrals.decline_referral("ep-1", "no coverage")
    assert_refused(
        services.assessments,
        lambda: assess(services, "ep-1"),
        EpisodeClosed,
        r"episode ep-1 was declined: cannot record an assessment \(as-1\)",
    )


def test_refused_after_discontinuation(services: Services) -> None:
    open_episode(services, "ep-1")
    services.referrals.discontinue_therapy("ep-1", discontinued_on=date(2026, 3, 10), reason="patient_choice")
    assess(services, "ep-1", assessed_on=date(2026, 3, 10))  # on the day itself: still fine
    assert_refused(
        services.assessments,
        lambda: assess(services, "ep-1", "as-2", date(2026, 3, 11)),
        EpisodeClosed,
        "episode ep-1 was discontinued on 2026-03-10: cannot record an assessment "
        r"\(as-2\) on 2026-03-11",
    )


def test_the_same_assessment_twice_is_refused(services: Services) -> None:
    open_episode(services, "ep-1")
    assess(services, "ep-1")
    assert_refused(
        services.assessments,
        lambda: assess(services, "ep-1"),
        AlreadyRecorded,
        "assessment as-1 of episode ep-1 was already completed",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "annual"}, "kind must be one of initial, reassessment, got 'annual'"),
        ({"eligible": "yes"}, "eligible must be true or false"),
        ({"clinician": ""}, "clinician is required"),
        ({"assessment_id": ""}, "assessment_id is required"),
        ({"assessed_on": "2026-03-02"}, "assessed_on must be a calendar date"),
        ({"findings": ["ok"]}, "findings must be a JSON object"),
    ],
)
def test_bad_values_are_refused(services: Services, change: dict[str, object], message: str) -> None:
    open_episode(services, "ep-1")
    values: dict[str, object] = dict(
        assessment_id="as-1", kind="initial", assessed_on=date(2026, 3, 2), eligible=True, clinician="RN A"
    )
    values.update(change)
    assert_refused(
        services.assessments,
        lambda: services.assessments.complete_assessment("ep-1", **values),  # type: ignore[arg-type]
        InvalidCommand,
        message,
    )
