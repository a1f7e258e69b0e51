"""Visits, complications, holds, stays and assessments on the worklist (shared/worklist.md), with
the Definitions' subtleties: the last recorded of one id's events counts, voids and completions
close what was scheduled whatever their dates, several VisitMissed of one visit are one item."""

from __future__ import annotations

from tests.support.history_builder import History, standard
from tests.support.worklist import dues, rows, worklist_of

TODAY = "2026-03-20"


def test_visit_overdue_from_the_day_after_it_was_scheduled() -> None:
    h = standard()
    h.visit_scheduled("v-1", "2026-03-19")
    assert dues(h, "2026-03-19", "VISIT_OVERDUE") == []
    assert rows(h, TODAY) == [("VISIT_OVERDUE", "2026-03-19", "v-1")]


def test_a_completion_dated_after_today_closes_its_scheduled_visit_and_a_void_closes_it_too() -> None:
    h = standard()
    h.visit_scheduled("v-1", "2026-03-12")
    h.visited("v-1", "2026-03-25")
    h.visit_scheduled("v-2", "2026-03-13")
    h.visit_voided("v-2")
    assert rows(h, TODAY) == []


def test_a_missed_visit_is_one_item_however_often_it_is_reported() -> None:
    h = standard()
    h.visit_scheduled("v-1", "2026-03-16")
    h.visit_missed("v-1")
    h.visit_missed("v-1")
    assert rows(h, TODAY) == [("VISIT_MISSED", "2026-03-16", "v-1")]


def test_a_missed_visit_then_completed_or_voided_under_its_id_has_no_item() -> None:
    completed = standard()
    completed.visit_scheduled("v-1", "2026-03-16")
    completed.visit_missed("v-1")
    completed.visited("v-1", "2026-03-10")  # even dated before the day it was scheduled for
    assert rows(completed, TODAY) == []
    voided = standard()
    voided.visit_scheduled("v-1", "2026-03-16")
    voided.visit_missed("v-1")
    voided.visit_voided("v-1")
    assert rows(voided, TODAY) == []


def test_a_missed_visit_is_made_up_by_any_visit_on_or_after_its_date_even_after_today() -> None:
    h = standard()
    h.visit_scheduled("v-1", "2026-03-16")
    h.visit_missed("v-1")
    h.visited("v-2", "2026-03-15", kind="line_care")
    assert dues(h, TODAY, "VISIT_MISSED") == ["2026-03-16"]
    h.visited("v-3", "2026-03-24", kind="teaching")
    assert rows(h, TODAY) == []


def test_a_voided_visit_makes_up_for_nothing() -> None:
    h = standard()
    h.visit_scheduled("v-1", "2026-03-16")
    h.visit_missed("v-1")
    h.visited("v-2", "2026-03-17")
    h.visit_voided("v-2")
    assert dues(h, TODAY, "VISIT_MISSED") == ["2026-03-16"]


def test_any_open_scheduled_visit_answers_a_missed_one() -> None:
    h = standard()
    h.visit_scheduled("v-1", "2026-03-16")
    h.visit_missed("v-1")
    h.visit_scheduled("v-2", "2026-03-10", kind="discharge")  # overdue, another kind: still open
    assert rows(h, TODAY) == [("VISIT_OVERDUE", "2026-03-10", "v-2")]


def test_a_missed_visit_is_due_on_the_date_it_was_scheduled_for_as_recorded_last() -> None:
    h = standard()
    h.visit_scheduled("v-1", "2026-03-17", recorded_at="2026-03-12T15:00:00+00:00")
    h.visit_scheduled("v-1", "2026-03-14", recorded_at="2026-03-11T15:00:00+00:00")
    h.visit_missed("v-1", occurred_at="2026-03-18T09:00:00-05:00")
    assert dues(h, TODAY, "VISIT_MISSED") == ["2026-03-17"]


def test_a_missed_visit_never_scheduled_falls_back_on_its_local_date_in_condition_and_due() -> None:
    h = standard()
    # 22:00 in Los Angeles on the 16th is the 17th in UTC.
    h.visit_missed("v-1", occurred_at="2026-03-16T22:00:00-08:00")
    h.visited("v-2", "2026-03-15")
    assert dues(h, TODAY, "VISIT_MISSED") == ["2026-03-16"]
    h.visited("v-3", "2026-03-16")  # on the fallback date: made up
    assert dues(h, TODAY, "VISIT_MISSED") == []


def test_complication_open_from_onset_until_resolved_on_or_before_today() -> None:
    h = standard()
    h.complication("c-1", "2026-03-12")
    h.complication("c-2", "2026-03-21")  # onset after today
    assert rows(h, TODAY) == [("COMPLICATION_OPEN", "2026-03-12", "c-1")]
    h.complication_resolved("c-1", "2026-03-21")  # a resolve dated after today
    assert rows(h, TODAY) == [("COMPLICATION_OPEN", "2026-03-12", "c-1")]
    assert rows(h, "2026-03-21") == [("COMPLICATION_OPEN", "2026-03-21", "c-2")]
    h.complication_resolved("c-2", TODAY)  # resolved today, before its onset: never open
    assert rows(h, "2026-03-22") == []


def test_a_complication_and_its_resolution_count_as_recorded_last() -> None:
    h = standard()
    h.complication("c-1", "2026-03-12", recorded_at="2026-03-13T15:00:00+00:00")
    h.complication("c-1", "2026-03-10", recorded_at="2026-03-12T15:00:00+00:00")
    h.complication_resolved("c-1", "2026-03-15", recorded_at="2026-03-16T15:00:00+00:00")
    h.complication_resolved("c-1", "2026-03-22", recorded_at="2026-03-17T15:00:00+00:00")
    h.complication_resolved("c-9", "2026-03-14")  # another id resolves nothing here
    assert rows(h, TODAY) == [("COMPLICATION_OPEN", "2026-03-12", "c-1")]


def test_an_open_hold_is_due_on_its_start() -> None:
    h = standard()
    h.held("2026-03-16")
    assert rows(h, TODAY) == [("ON_HOLD", "2026-03-16", None)]


def test_a_hold_resumed_today_no_longer_holds() -> None:
    h = standard()
    h.held("2026-03-10")
    h.resumed(TODAY)
    assert rows(h, TODAY) == []
    assert rows(h, "2026-03-19") == [("ON_HOLD", "2026-03-10", None)]


def test_of_several_holds_holding_today_the_latest_start_is_due() -> None:
    h = standard()
    h.held("2026-03-05")
    h.held("2026-03-12")
    h.resumed("2026-03-25")
    h.resumed("2026-03-26")
    assert dues(h, TODAY, "ON_HOLD") == ["2026-03-12"]
    paired = standard()
    paired.held("2026-03-05")
    paired.held("2026-03-12")
    paired.resumed("2026-03-08")  # ends the first hold; the second is still open
    assert dues(paired, TODAY, "ON_HOLD") == ["2026-03-12"]


def test_an_open_stay_is_due_on_its_admission_and_goes_before_a_hold() -> None:
    h = standard()
    h.held("2026-03-12")
    h.admitted("2026-03-17")
    assert rows(h, TODAY) == [("INPATIENT", "2026-03-17", None)]


def test_a_stay_discharged_today_asks_for_a_resumption_visit() -> None:
    h = standard()
    h.admitted("2026-03-10")
    h.discharged(TODAY)
    assert rows(h, TODAY) == [("RESUMPTION_VISIT_NEEDED", TODAY, None)]
    assert rows(h, "2026-03-19") == [("INPATIENT", "2026-03-10", None)]
    h.visited("v-1", TODAY)
    assert rows(h, TODAY) == []


def test_resumption_visit_of_the_latest_stay_admitted_by_today() -> None:
    h = standard()
    h.admitted("2026-03-05")
    h.discharged("2026-03-07")
    h.visited("v-1", "2026-03-08")
    h.admitted("2026-03-12")
    h.discharged("2026-03-14")
    h.admitted("2026-03-25")  # admitted after today: not looked at
    h.discharged("2026-03-27")
    assert rows(h, TODAY) == [("RESUMPTION_VISIT_NEEDED", "2026-03-14", None)]


def test_resumption_visit_on_a_tie_of_admissions_looks_at_the_latest_discharge() -> None:
    h = standard()
    h.admitted("2026-03-10")
    h.admitted("2026-03-10")
    h.discharged("2026-03-12")
    h.discharged("2026-03-15")
    h.visited("v-1", "2026-03-13")
    assert rows(h, TODAY) == [("RESUMPTION_VISIT_NEEDED", "2026-03-15", None)]


def test_resumption_visit_answered_by_a_later_visit_or_any_open_scheduled_one() -> None:
    later = standard()
    later.admitted("2026-03-10")
    later.discharged("2026-03-14")
    later.visited("v-1", "2026-03-25")  # dated after today still counts
    assert rows(later, TODAY) == []
    scheduled = standard()
    scheduled.admitted("2026-03-10")
    scheduled.discharged("2026-03-14")
    scheduled.visit_scheduled("v-1", "2026-04-10")
    assert rows(scheduled, TODAY) == []
    voided = standard()
    voided.admitted("2026-03-10")
    voided.discharged("2026-03-14")
    voided.visited("v-1", "2026-03-16")
    voided.visit_voided("v-1")
    assert rows(voided, TODAY) == [("RESUMPTION_VISIT_NEEDED", "2026-03-14", None)]


def assessed(on: str) -> History:
    return standard(assessed=on, accepted="2026-01-01", soc="2026-01-05", supply_days=120)


def test_reassessment_due_from_60_days_after_the_assessment_less_7() -> None:
    h = assessed("2026-01-19")  # + 60 = Mar 20
    assert rows(h, "2026-03-12") == []
    assert rows(h, "2026-03-13") == [("REASSESSMENT_DUE", "2026-03-20", None)]
    assert rows(h, "2026-03-30") == [("REASSESSMENT_DUE", "2026-03-20", None)]


def test_reassessment_looks_at_the_latest_assessment_on_or_before_today() -> None:
    h = assessed("2026-01-19")
    h.assessed("2026-03-25")  # after today: not yet
    assert dues(h, TODAY, "REASSESSMENT_DUE") == ["2026-03-20"]
    h.assessed("2026-03-18", kind="reassessment")
    assert rows(h, TODAY) == []


def test_not_eligible_on_the_latest_assessment_or_accepted_on_without_one() -> None:
    h = standard()
    h.assessed("2026-03-16", eligible=False)
    assert rows(h, TODAY) == [("NOT_ELIGIBLE", "2026-03-16", None)]
    none_yet = standard(assessed=None)
    none_yet.assessed("2026-03-25")  # after today
    assert rows(none_yet, TODAY) == [("NOT_ELIGIBLE", "2026-03-01", None)]


def test_assessments_of_one_day_are_decided_by_the_one_recorded_last_whatever_their_ids() -> None:
    h = assessed("2026-01-19")
    h.assessed(
        "2026-01-19", eligible=False, assessment_id="as-other", recorded_at="2026-01-19T20:00:00+00:00"
    )
    assert rows(h, TODAY) == [("NOT_ELIGIBLE", "2026-01-19", None)]


def test_assessment_rows_only_for_active_or_on_hold_episodes() -> None:
    accepted = standard(soc=None, assessed=None, accepted="2026-03-11")
    accepted.visit_scheduled("v-soc", "2026-03-23", kind="start_of_care")
    assert rows(accepted, TODAY) == []
    held = assessed("2026-01-19")
    held.held("2026-03-15")
    assert rows(held, TODAY) == [("ON_HOLD", "2026-03-15", None), ("REASSESSMENT_DUE", "2026-03-20", None)]
    inpatient = assessed("2026-01-19")
    inpatient.admitted("2026-03-15")
    assert rows(inpatient, TODAY) == [("INPATIENT", "2026-03-15", None)]


def test_as_of_hides_what_was_recorded_after_it() -> None:
    h = standard()
    h.visit_scheduled("v-1", "2026-03-18", recorded_at="2026-03-15T14:00:00+00:00")
    h.visited("v-1", "2026-03-18", recorded_at="2026-03-21T15:00:00+00:00")
    lines = h.lines()
    assert worklist_of(lines, TODAY) == []
    (item,) = worklist_of(lines, TODAY, as_of="2026-03-20T18:00:00-05:00")
    assert (str(item.kind), item.key) == ("VISIT_OVERDUE", "v-1")
    # Compared as instants: 10:00 in New York is 15:00 UTC, when the completion was recorded.
    assert worklist_of(lines, TODAY, as_of="2026-03-21T10:00:00-05:00") == []
    assert len(worklist_of(lines, TODAY, as_of="2026-03-21T14:59:59+00:00")) == 1
