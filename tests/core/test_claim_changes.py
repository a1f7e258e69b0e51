"""Why a sent claim is wrong now (projections/core/claim_changes.py): the days that changed and the
events that changed them, step by recorded instant."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from events import Event, parse_event
from projections.core.claim_actions import Action, Month, PeriodClaim, patient_period_claims
from projections.core.claim_changes import ClaimChanges, claim_changes, day_ranges
from tests.support.claims import submit
from tests.support.history_builder import History, standard

MARCH = [
    ("99601", "2026-03-02", "2026-03-02", 1, None),
    ("J0475", "2026-03-02", "2026-03-02", 4, None),
    ("S9363", "2026-03-02", "2026-03-31", 30, "A-1"),
]
SENT_AT = "2026-04-04T16:00:00Z"


def episodes(h: History) -> dict[str, list[Event]]:
    grouped: dict[str, list[Event]] = defaultdict(list)
    for line in h.lines():
        event = parse_event(line)
        grouped[event.episode_id].append(event)
    return grouped


def changes_of(h: History, episode_id: str = "ep-1") -> tuple[PeriodClaim, ClaimChanges | None]:
    grouped = episodes(h)
    claims = patient_period_claims(grouped, Month.parse("2026-03"))
    claim = next(c for c in claims if c.episode_id == episode_id)
    return claim, claim_changes(grouped, claim)


def sent() -> History:
    h = standard()
    submit(h, "C-1", MARCH, recorded_at=SENT_AT)
    return h


def ranges(days: Any) -> list[tuple[str, str]]:
    return [(a.isoformat(), b.isoformat()) for a, b in day_ranges(days)]


def test_a_late_stay_recorded_at_one_instant_is_one_step_naming_both_events() -> None:
    h = sent()
    h.discharged("2026-03-15", recorded_at="2026-04-08T15:00:00Z", event_id="e-discharge")
    h.admitted("2026-03-10", recorded_at="2026-04-08T15:00:00Z", event_id="e-admit")
    claim, changes = changes_of(h)
    assert claim.action is Action.REPLACE and changes is not None
    assert (changes.claim_id, changes.claim_recorded_at, changes.sent_as_known) == ("C-1", SENT_AT, True)
    assert ranges(changes.since_sent.days_removed) == [("2026-03-11", "2026-03-14")]
    assert changes.since_sent.days_added == () and changes.since_sent.days_reauthorized == ()
    [step] = changes.steps
    # Alone, the discharge would change nothing: one step of the instant shows the cause whole.
    assert [(e.event_id, e.event_type) for e in step.events] == [
        ("e-admit", "HospitalAdmitted"),
        ("e-discharge", "HospitalDischarged"),
    ]
    assert step.recorded_at == "2026-04-08T15:00:00Z"
    assert ranges(step.changes.days_removed) == [("2026-03-11", "2026-03-14")]


def test_events_learned_at_several_instants_are_several_steps_in_recorded_order() -> None:
    h = sent()
    h.admitted("2026-03-10", recorded_at="2026-04-08T15:00:00Z", event_id="e-admit")
    h.dose("2026-03-05", recorded_at="2026-04-08T16:00:00Z")  # changes nothing: not a step
    h.discharged("2026-03-15", recorded_at="2026-04-09T09:00:00-04:00", event_id="e-discharge")
    _, changes = changes_of(h)
    assert changes is not None
    assert [[e.event_id for e in step.events] for step in changes.steps] == [["e-admit"], ["e-discharge"]]
    removed, back = changes.steps
    assert ranges(removed.changes.days_removed) == [("2026-03-11", "2026-03-31")]
    assert ranges(back.changes.days_added) == [("2026-03-15", "2026-03-31")]
    assert ranges(changes.since_sent.days_removed) == [("2026-03-11", "2026-03-14")]


def test_redundant_events_of_one_step_are_all_named() -> None:
    h = sent()
    h.discontinued("2026-02-27", recorded_at="2026-04-10T15:00:00Z", event_id="e-disc-1")
    h.discontinued("2026-02-27", recorded_at="2026-04-10T15:00:00Z", event_id="e-disc-2")
    claim, changes = changes_of(h)
    assert claim.action is Action.VOID and changes is not None
    [step] = changes.steps
    assert {e.event_id for e in step.events} == {"e-disc-1", "e-disc-2"}  # neither alone is necessary
    assert len(step.changes.lines_removed) == 3 and step.changes.lines_added == ()


def test_days_under_another_authorization() -> None:
    h = sent()
    # Same start date as A-1 and a smaller number: A-0 takes every day (domain.md, rule 10).
    h.auth("A-0", "2026-01-01", "2026-12-31", 200, recorded_at="2026-04-06T10:00:00Z", event_id="e-auth")
    _, changes = changes_of(h)
    assert changes is not None
    reauthorized = changes.since_sent.days_reauthorized
    assert len(reauthorized) == 30 and {(r.was, r.now) for r in reauthorized} == {("A-1", "A-0")}
    assert changes.since_sent.days_added == changes.since_sent.days_removed == ()
    assert [e.event_id for step in changes.steps for e in step.events] == ["e-auth"]


def test_a_claim_sent_with_other_lines_than_were_known() -> None:
    h = standard()
    submit(h, "C-1", [*MARCH[:2], ("S9363", "2026-03-02", "2026-03-20", 19, "A-1")], recorded_at=SENT_AT)
    claim, changes = changes_of(h)
    assert claim.action is Action.REPLACE and changes is not None
    assert not changes.sent_as_known and changes.steps == ()  # nothing learned since: it was sent wrong
    assert ranges(changes.since_sent.days_added) == [("2026-03-21", "2026-03-31")]


def test_another_episode_of_the_patient_taking_the_days_is_named() -> None:
    h = sent()
    h.ep = "ep-2"
    # ep-2 starts care earlier (Mar 1), reported after the claim: it keeps Mar 2-31 (rule 9).
    standard(h, soc="2026-03-01")
    for event in h.events[-6:]:
        event["recorded_at"] = "2026-04-07T12:00:00Z"
    claim, changes = changes_of(h)
    assert claim.action is Action.REPLACE and changes is not None
    [step] = changes.steps
    assert {e.episode_id for e in step.events} == {"ep-2"}
    assert "VisitCompleted" in {e.event_type for e in step.events}  # ep-2's start of care
    assert ranges(step.changes.days_removed) == [("2026-03-02", "2026-03-31")]


def test_new_and_none_have_no_changes_to_explain() -> None:
    assert changes_of(standard())[1] is None  # NEW
    assert changes_of(sent())[1] is None  # NONE


def test_day_ranges() -> None:
    days = [date(2026, 3, d) for d in (5, 1, 2, 3, 9, 10)]
    assert ranges(days) == [
        ("2026-03-01", "2026-03-03"),
        ("2026-03-05", "2026-03-05"),
        ("2026-03-09", "2026-03-10"),
    ]
    assert day_ranges([]) == []
