"""Every rule and edge of shared/domain.md (the S9363 per-diem rules) and of the replay document in
shared/contract.md, each as a small history with concrete reason codes on concrete dates and
concrete claim lines.

The standard episode (history_builder.standard): accepted Mar 1, assessed eligible Mar 1, start of
care Mar 2, a 60-day delivery on Mar 2, authorization A-1 (S9363, all of 2026, 200 units). So Mar 1
is BEFORE_SOC and every day from Mar 2 is BILLABLE unless a test adds a twist.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from events import parse_event
from projections.core.facts import establish
from projections.core.rules import evaluate_day
from tests.support.history_builder import (
    History,
    check,
    claim_lines,
    dates,
    episode,
    reasons,
    replay,
    standard,
)

REPO = Path(__file__).resolve().parents[2]

B = "BILLABLE"


def s9363(document: dict[str, Any], episode_id: str = "ep-1") -> list[tuple[str, str, int, str | None]]:
    return [(f, t, u, a) for _, f, t, u, a in claim_lines(document, episode_id, "S9363")]


def lines_of(document: dict[str, Any], code: str, episode_id: str = "ep-1") -> list[tuple[str, int]]:
    """(date, units) of a nursing or drug code's lines (from == to)."""
    out = []
    for _, first, last, units, auth in claim_lines(document, episode_id, code):
        assert first == last and auth is None
        out.append((first, units))
    return out


# --- rule 1: BEFORE_SOC ---------------------------------------------------------------------------


def test_no_start_of_care_makes_every_day_before_soc() -> None:
    h = standard(soc=None)
    h.delivered("d-1", "2026-03-02", 60)
    h.visited("v-fu", "2026-03-03", kind="follow_up")
    doc = h.replay("2026-03-10")
    check(doc, {"2026-03-01..2026-03-10": "BEFORE_SOC"})
    ep = episode(doc)
    assert ep["start_of_care"] is None
    assert ep["billable_days"] == 0
    assert ep["status"] == "accepted"
    assert s9363(doc) == []
    # Nursing and drug lines do not depend on the day being billable.
    assert lines_of(doc, "99601") == [("2026-03-03", 1)]
    assert lines_of(doc, "J0475") == [("2026-03-02", 4)]


def test_days_before_start_of_care_fail_and_the_start_of_care_day_bills() -> None:
    doc = standard(soc="2026-03-05").replay("2026-03-08")
    check(doc, {"2026-03-01..2026-03-04": "BEFORE_SOC", "2026-03-05..2026-03-08": B})
    assert episode(doc)["start_of_care"] == "2026-03-05"
    assert s9363(doc) == [("2026-03-05", "2026-03-08", 4, "A-1")]


def test_voided_start_of_care_visit_does_not_start_care() -> None:
    h = standard()
    h.visit_voided("v-soc-2026-03-02")
    doc = h.replay("2026-03-06")
    check(doc, {"2026-03-01..2026-03-06": "BEFORE_SOC"})
    assert episode(doc)["start_of_care"] is None
    assert lines_of(doc, "99601") == []

    h.soc("2026-03-04")
    doc = h.replay("2026-03-06")
    check(doc, {"2026-03-01..2026-03-03": "BEFORE_SOC", "2026-03-04..2026-03-06": B})
    assert episode(doc)["start_of_care"] == "2026-03-04"


def test_void_recorded_before_its_visit_still_voids_it() -> None:
    h = standard(soc=None)
    h.delivered("d-1", "2026-03-02", 60)
    h.visit_voided("v-1")  # recorded first
    h.soc("2026-03-02", visit_id="v-1")
    doc = h.replay("2026-03-04")
    check(doc, {"2026-03-01..2026-03-04": "BEFORE_SOC"})
    assert episode(doc)["start_of_care"] is None


def test_missed_visit_does_not_remove_a_completed_start_of_care() -> None:
    h = standard()
    h.visit_missed("v-soc-2026-03-02")
    doc = h.replay("2026-03-03")
    assert episode(doc)["start_of_care"] == "2026-03-02"
    check(doc, {"2026-03-02..2026-03-03": B})


def test_start_of_care_correction_last_recorded_counts() -> None:
    h = standard(soc="2026-03-02")
    h.soc("2026-03-05", visit_id="v-soc-2026-03-02")  # the same visit, re-sent with a new date
    doc = h.replay("2026-03-06")
    assert episode(doc)["start_of_care"] == "2026-03-05"
    check(doc, {"2026-03-01..2026-03-04": "BEFORE_SOC", "2026-03-05..2026-03-06": B})
    assert lines_of(doc, "99601") == [("2026-03-05", 1)]  # one visit, not two

    # A correction recorded earlier than the original does not win.
    h2 = standard(soc=None)
    h2.delivered("d-1", "2026-03-02", 60)
    h2.soc("2026-03-02", visit_id="v-1", recorded_at="2026-03-02T20:00:00+00:00")
    h2.soc("2026-03-05", visit_id="v-1", recorded_at="2026-03-02T19:00:00+00:00")
    assert episode(h2.replay("2026-03-06"))["start_of_care"] == "2026-03-02"


def test_correction_turning_start_of_care_into_follow_up_removes_it() -> None:
    h = standard()
    h.visited("v-soc-2026-03-02", "2026-03-02", kind="follow_up")
    doc = h.replay("2026-03-04")
    assert episode(doc)["start_of_care"] is None
    check(doc, {"2026-03-01..2026-03-04": "BEFORE_SOC"})


def test_start_of_care_is_the_earliest_of_several() -> None:
    h = standard(soc="2026-03-04")
    h.soc("2026-03-03")
    doc = h.replay("2026-03-05")
    assert episode(doc)["start_of_care"] == "2026-03-03"
    check(
        doc, {"2026-03-01..2026-03-02": "BEFORE_SOC", "2026-03-03": "NO_DELIVERY_COVERAGE", "2026-03-04": B}
    )


def test_start_of_care_before_acceptance_lists_days_from_acceptance() -> None:
    doc = standard(accepted="2026-03-05", soc="2026-03-02").replay("2026-03-07")
    assert list(reasons(doc)) == dates("2026-03-05", "2026-03-07")
    check(doc, {"2026-03-05..2026-03-07": B})
    assert episode(doc)["start_of_care"] == "2026-03-02"
    assert lines_of(doc, "99601") == []  # the visit is before the listed days
    assert lines_of(doc, "J0475") == []


# --- rule 2: AFTER_DISCONTINUATION --------------------------------------------------------------


def test_listed_days_stop_at_discontinuation_which_is_still_billable() -> None:
    h = standard()
    h.discontinued("2026-03-10")
    h.visited("v-late", "2026-03-12")
    h.delivered("d-late", "2026-03-15", 7)
    doc = h.replay("2026-03-31")
    got = reasons(doc)
    assert list(got) == dates("2026-03-01", "2026-03-10")
    assert got["2026-03-10"] == B
    assert "AFTER_DISCONTINUATION" not in got.values()
    assert s9363(doc) == [("2026-03-02", "2026-03-10", 9, "A-1")]
    assert lines_of(doc, "99601") == [("2026-03-02", 1)]  # not the visit after discontinuation
    assert lines_of(doc, "J0475") == [("2026-03-02", 4)]
    assert episode(doc)["status"] == "discontinued"


def test_after_discontinuation_shows_when_asked_about_a_later_date() -> None:
    h = standard()
    h.discontinued("2026-03-10")
    facts = establish("ep-1", [parse_event(line) for line in h.lines()])
    assert facts is not None
    assert evaluate_day(facts, date(2026, 3, 10), ()) == B
    assert evaluate_day(facts, date(2026, 3, 11), ()) == "AFTER_DISCONTINUATION"
    assert evaluate_day(facts, date(2027, 1, 1), ()) == "AFTER_DISCONTINUATION"
    # Rule 1 comes first: before the start of care it is BEFORE_SOC.
    assert evaluate_day(facts, date(2026, 3, 1), ()) == "BEFORE_SOC"


def test_earliest_discontinuation_counts() -> None:
    h = standard()
    h.discontinued("2026-03-20")
    h.discontinued("2026-03-08", reason="physician_order")
    doc = h.replay("2026-03-31")
    assert list(reasons(doc))[-1] == "2026-03-08"


def test_discontinuation_after_through_is_not_yet_discontinued() -> None:
    h = standard()
    h.discontinued("2026-03-20")
    doc = h.replay("2026-03-10")
    assert list(reasons(doc))[-1] == "2026-03-10"
    assert episode(doc)["status"] == "active"
    doc = h.replay("2026-03-20")
    assert list(reasons(doc))[-1] == "2026-03-20"
    assert episode(doc)["status"] == "discontinued"


# --- rule 3: NOT_ELIGIBLE -------------------------------------------------------------------------


def test_no_assessment_yet_is_not_eligible() -> None:
    h = standard(assessed=None)
    h.assessed("2026-03-05", True)
    doc = h.replay("2026-03-06")
    check(
        doc,
        {"2026-03-01": "BEFORE_SOC", "2026-03-02..2026-03-04": "NOT_ELIGIBLE", "2026-03-05..2026-03-06": B},
    )
    assert s9363(doc) == [("2026-03-05", "2026-03-06", 2, "A-1")]


def test_without_any_assessment_every_day_is_not_eligible() -> None:
    doc = standard(assessed=None).replay("2026-03-04")
    check(doc, {"2026-03-02..2026-03-04": "NOT_ELIGIBLE"})


def test_reassessment_not_eligible_then_eligible_again() -> None:
    h = standard()
    h.assessed("2026-03-05", False, kind="reassessment")
    h.assessed("2026-03-08", True, kind="reassessment")
    doc = h.replay("2026-03-09")
    check(
        doc,
        {"2026-03-02..2026-03-04": B, "2026-03-05..2026-03-07": "NOT_ELIGIBLE", "2026-03-08..2026-03-09": B},
    )
    assert s9363(doc) == [("2026-03-02", "2026-03-04", 3, "A-1"), ("2026-03-08", "2026-03-09", 2, "A-1")]


def test_initial_assessment_not_eligible() -> None:
    h = standard(assessed=None)
    h.assessed("2026-03-01", False)
    check(h.replay("2026-03-03"), {"2026-03-02..2026-03-03": "NOT_ELIGIBLE"})


def test_same_date_assessments_decided_by_recorded_at() -> None:
    h = standard()
    h.assessed("2026-03-05", True, recorded_at="2026-03-05T18:00:00+00:00")
    h.assessed("2026-03-05", False, recorded_at="2026-03-05T14:00:00-05:00")  # 19:00Z: later
    check(h.replay("2026-03-06"), {"2026-03-04": B, "2026-03-05..2026-03-06": "NOT_ELIGIBLE"})

    h = standard()
    h.assessed("2026-03-05", False, recorded_at="2026-03-05T14:00:00-05:00")  # 19:00Z
    h.assessed("2026-03-05", True, recorded_at="2026-03-05T20:30:00+01:00")  # 19:30Z: later
    check(h.replay("2026-03-06"), {"2026-03-05..2026-03-06": B})


@pytest.mark.parametrize(("a_eligible", "b_eligible"), [(True, False), (False, True)])
def test_same_date_same_recorded_at_assessments_decided_by_event_id(
    a_eligible: bool, b_eligible: bool
) -> None:
    h = standard()
    # The same recorded instant in two offsets; e-b is last by event_id, whatever the file order.
    h.assessed("2026-03-05", b_eligible, event_id="e-b", recorded_at="2026-03-05T14:00:00-05:00")
    h.assessed("2026-03-05", a_eligible, event_id="e-a", recorded_at="2026-03-05T19:00:00+00:00")
    check(h.replay("2026-03-06"), {"2026-03-05..2026-03-06": B if b_eligible else "NOT_ELIGIBLE"})


def test_assessment_order_is_by_assessed_on_before_recorded_at() -> None:
    h = standard()
    h.assessed("2026-03-06", False, recorded_at="2026-03-06T12:00:00+00:00")
    h.assessed("2026-03-04", True, recorded_at="2026-03-09T12:00:00+00:00")  # recorded later, dated earlier
    check(h.replay("2026-03-08"), {"2026-03-04..2026-03-05": B, "2026-03-06..2026-03-08": "NOT_ELIGIBLE"})


# --- rule 4: INPATIENT_STAY -----------------------------------------------------------------------


def test_admission_and_discharge_days_fall_through() -> None:
    h = standard()
    h.admitted("2026-03-10")
    h.discharged("2026-03-14")
    doc = h.replay("2026-03-16")
    check(doc, {"2026-03-10": B, "2026-03-11..2026-03-13": "INPATIENT_STAY", "2026-03-14..2026-03-16": B})
    assert s9363(doc) == [("2026-03-02", "2026-03-10", 9, "A-1"), ("2026-03-14", "2026-03-16", 3, "A-1")]
    assert episode(doc)["status"] == "active"


@pytest.mark.parametrize("facility", ["hospital", "critical_access_hospital", "skilled_nursing_facility"])
def test_every_facility_kind_is_a_stay(facility: str) -> None:
    h = standard()
    h.admitted("2026-03-10", facility)
    h.discharged("2026-03-12")
    check(h.replay("2026-03-12"), {"2026-03-10": B, "2026-03-11": "INPATIENT_STAY", "2026-03-12": B})


def test_same_day_admission_and_discharge_excludes_nothing() -> None:
    h = standard()
    h.admitted("2026-03-10")
    h.discharged("2026-03-10")
    doc = h.replay("2026-03-12")
    check(doc, {"2026-03-02..2026-03-12": B})
    assert s9363(doc) == [("2026-03-02", "2026-03-12", 11, "A-1")]
    assert episode(doc)["status"] == "active"


def test_open_stay_excludes_every_day_after_admission() -> None:
    h = standard()
    h.admitted("2026-03-10")
    doc = h.replay("2026-03-15")
    check(doc, {"2026-03-10": B, "2026-03-11..2026-03-15": "INPATIENT_STAY"})
    assert episode(doc)["status"] == "inpatient"


def test_two_admissions_and_one_discharge_pair_one_to_one() -> None:
    h = standard()
    h.admitted("2026-03-10")
    h.discharged("2026-03-12")
    h.admitted("2026-03-05")  # reported late; the earliest admission takes the discharge
    doc = h.replay("2026-03-15")
    # Mar 5 -> Mar 12 is one stay, Mar 10 is still open.
    check(doc, {"2026-03-05": B, "2026-03-06..2026-03-15": "INPATIENT_STAY"})
    assert episode(doc)["status"] == "inpatient"


def test_two_stays_pair_in_date_order() -> None:
    h = standard()
    h.discharged("2026-03-12")
    h.admitted("2026-03-10")
    h.discharged("2026-03-07")
    h.admitted("2026-03-05")
    doc = h.replay("2026-03-13")
    check(
        doc,
        {
            "2026-03-05": B,
            "2026-03-06": "INPATIENT_STAY",
            "2026-03-07..2026-03-10": B,
            "2026-03-11": "INPATIENT_STAY",
            "2026-03-12..2026-03-13": B,
        },
    )


def test_discharge_taken_by_no_admission_is_ignored() -> None:
    h = standard()
    h.discharged("2026-03-04")
    doc = h.replay("2026-03-08")
    check(doc, {"2026-03-02..2026-03-08": B})

    h.admitted("2026-03-06")  # the Mar 4 discharge is before it: the stay is open
    doc = h.replay("2026-03-08")
    check(doc, {"2026-03-06": B, "2026-03-07..2026-03-08": "INPATIENT_STAY"})
    assert episode(doc)["status"] == "inpatient"


def test_late_reported_stay_removes_days_already_counted() -> None:
    h = standard()
    h.admitted("2026-03-05", recorded_at="2026-03-20T12:00:00+00:00")
    h.discharged("2026-03-08", recorded_at="2026-03-20T12:05:00+00:00")
    before = h.replay("2026-03-10", as_of="2026-03-15T00:00:00Z")
    check(before, {"2026-03-02..2026-03-10": B})
    assert episode(before)["billable_days"] == 9
    after = h.replay("2026-03-10")
    check(after, {"2026-03-05": B, "2026-03-06..2026-03-07": "INPATIENT_STAY", "2026-03-08..2026-03-10": B})
    assert episode(after)["billable_days"] == 7


def test_stay_status_boundaries() -> None:
    h = standard()
    h.admitted("2026-03-10")
    h.discharged("2026-03-15")
    assert episode(h.replay("2026-03-10"))["status"] == "inpatient"  # admitted on the end date
    assert episode(h.replay("2026-03-14"))["status"] == "inpatient"
    assert episode(h.replay("2026-03-15"))["status"] == "active"  # discharged on the end date
    assert episode(h.replay("2026-03-09"))["status"] == "active"


# --- rule 5: ON_HOLD --------------------------------------------------------------------------------


def test_hold_start_excluded_resume_day_billable() -> None:
    h = standard()
    h.held("2026-03-10")
    h.resumed("2026-03-14")
    doc = h.replay("2026-03-15")
    check(doc, {"2026-03-09": B, "2026-03-10..2026-03-13": "ON_HOLD", "2026-03-14..2026-03-15": B})
    assert s9363(doc) == [("2026-03-02", "2026-03-09", 8, "A-1"), ("2026-03-14", "2026-03-15", 2, "A-1")]


def test_open_hold() -> None:
    h = standard()
    h.held("2026-03-10")
    doc = h.replay("2026-03-12")
    check(doc, {"2026-03-09": B, "2026-03-10..2026-03-12": "ON_HOLD"})
    assert episode(doc)["status"] == "on_hold"


def test_same_day_hold_and_resume_excludes_nothing() -> None:
    h = standard()
    h.held("2026-03-10")
    h.resumed("2026-03-10")
    doc = h.replay("2026-03-12")
    check(doc, {"2026-03-02..2026-03-12": B})
    assert episode(doc)["status"] == "active"


def test_holds_pair_one_to_one_and_resume_without_hold_is_ignored() -> None:
    h = standard()
    h.resumed("2026-03-03")  # no hold before it: ignored
    h.held("2026-03-10")
    h.resumed("2026-03-07")
    h.held("2026-03-05")
    doc = h.replay("2026-03-12")
    check(
        doc,
        {
            "2026-03-02..2026-03-04": B,
            "2026-03-05..2026-03-06": "ON_HOLD",
            "2026-03-07..2026-03-09": B,
            "2026-03-10..2026-03-12": "ON_HOLD",
        },
    )


def test_stay_comes_before_hold() -> None:
    h = standard()
    h.held("2026-03-10")
    h.resumed("2026-03-20")
    h.admitted("2026-03-12")
    h.discharged("2026-03-15")
    doc = h.replay("2026-03-20")
    check(
        doc,
        {
            "2026-03-10..2026-03-12": "ON_HOLD",
            "2026-03-13..2026-03-14": "INPATIENT_STAY",
            "2026-03-15..2026-03-19": "ON_HOLD",
            "2026-03-20": B,
        },
    )


def test_hold_status_boundaries() -> None:
    h = standard()
    h.held("2026-03-10")
    h.resumed("2026-03-12")
    assert episode(h.replay("2026-03-10"))["status"] == "on_hold"
    assert episode(h.replay("2026-03-11"))["status"] == "on_hold"
    assert episode(h.replay("2026-03-12"))["status"] == "active"


# --- rule 6: NOT_PER_DIEM_FREQUENCY ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "expected"),
    [(0, B), (24, B), (72, B), (73, "NOT_PER_DIEM_FREQUENCY"), (96, "NOT_PER_DIEM_FREQUENCY")],
)
def test_dosing_interval_of_the_referral(interval: int, expected: str) -> None:
    doc = standard(interval=interval).replay("2026-03-04")
    check(doc, {"2026-03-01": "BEFORE_SOC", "2026-03-02..2026-03-04": expected})


def test_order_changed_mid_episode() -> None:
    h = standard()
    h.order_changed("2026-03-10", interval=96)
    h.order_changed("2026-03-15", interval=0)
    doc = h.replay("2026-03-16")
    check(
        doc,
        {"2026-03-09": B, "2026-03-10..2026-03-14": "NOT_PER_DIEM_FREQUENCY", "2026-03-15..2026-03-16": B},
    )
    assert s9363(doc) == [("2026-03-02", "2026-03-09", 8, "A-1"), ("2026-03-15", "2026-03-16", 2, "A-1")]


def test_order_changed_without_interval_keeps_the_interval_in_effect() -> None:
    h = standard(interval=96)
    h.order_changed("2026-03-05", dose="500 mcg/day")
    check(h.replay("2026-03-06"), {"2026-03-02..2026-03-06": "NOT_PER_DIEM_FREQUENCY"})

    h = standard()
    h.order_changed("2026-03-05", interval=96)
    h.order_changed("2026-03-08", dose="500 mcg/day")
    check(h.replay("2026-03-09"), {"2026-03-04": B, "2026-03-05..2026-03-09": "NOT_PER_DIEM_FREQUENCY"})


def test_two_order_changes_same_effective_date_last_recorded_wins() -> None:
    h = standard()
    h.order_changed("2026-03-05", interval=24, recorded_at="2026-03-05T20:00:00+00:00")
    h.order_changed("2026-03-05", interval=96, recorded_at="2026-03-05T16:00:00-05:00")  # 21:00Z: last
    check(h.replay("2026-03-06"), {"2026-03-04": B, "2026-03-05..2026-03-06": "NOT_PER_DIEM_FREQUENCY"})

    h = standard()
    h.order_changed("2026-03-05", interval=96, recorded_at="2026-03-05T16:00:00-05:00")  # 21:00Z
    h.order_changed("2026-03-05", interval=24, recorded_at="2026-03-05T22:00:00+00:00")  # last
    check(h.replay("2026-03-06"), {"2026-03-05..2026-03-06": B})


def test_order_change_effective_later_is_not_overridden_by_an_earlier_dated_one_recorded_later() -> None:
    h = standard()
    h.order_changed("2026-03-08", interval=96, recorded_at="2026-03-01T12:00:00+00:00")
    h.order_changed("2026-03-05", interval=48, recorded_at="2026-03-09T12:00:00+00:00")
    check(
        h.replay("2026-03-09"),
        {"2026-03-05..2026-03-07": B, "2026-03-08..2026-03-09": "NOT_PER_DIEM_FREQUENCY"},
    )


def test_hold_comes_before_frequency() -> None:
    h = standard(interval=96)
    h.held("2026-03-05")
    check(
        h.replay("2026-03-06"), {"2026-03-04": "NOT_PER_DIEM_FREQUENCY", "2026-03-05..2026-03-06": "ON_HOLD"}
    )


# --- rule 7: NO_DELIVERY_COVERAGE -------------------------------------------------------------------


def test_delivery_window_is_delivery_date_through_days_supply() -> None:
    h = standard(supply_days=5)  # Mar 2 .. Mar 6
    h.delivered("d-2", "2026-03-09", 1)  # Mar 9 only
    doc = h.replay("2026-03-10")
    check(
        doc,
        {
            "2026-03-02..2026-03-06": B,
            "2026-03-07..2026-03-08": "NO_DELIVERY_COVERAGE",
            "2026-03-09": B,
            "2026-03-10": "NO_DELIVERY_COVERAGE",
        },
    )


def test_zero_days_supply_covers_no_day() -> None:
    h = standard(soc="2026-03-02", supply_days=0)
    check(h.replay("2026-03-03"), {"2026-03-02..2026-03-03": "NO_DELIVERY_COVERAGE"})


def test_voided_delivery_no_longer_covers() -> None:
    h = standard()
    h.delivery_voided("d-1")
    doc = h.replay("2026-03-04")
    check(doc, {"2026-03-02..2026-03-04": "NO_DELIVERY_COVERAGE"})
    assert lines_of(doc, "J0475") == []


def test_void_arriving_before_the_delivery_still_voids_it() -> None:
    h = standard(soc=None)
    h.soc("2026-03-02")
    h.delivery_voided("d-1", recorded_at="2026-03-01T00:00:00+00:00")
    h.delivered("d-1", "2026-03-02", 30, recorded_at="2026-03-02T18:00:00+00:00")
    doc = h.replay("2026-03-04")
    check(doc, {"2026-03-02..2026-03-04": "NO_DELIVERY_COVERAGE"})
    assert lines_of(doc, "J0475") == []


def test_failed_delivery_does_not_remove_a_completion() -> None:
    h = standard()
    h.delivery_failed("d-1")
    doc = h.replay("2026-03-04")
    check(doc, {"2026-03-02..2026-03-04": B})
    assert lines_of(doc, "J0475") == [("2026-03-02", 4)]


def test_corrected_delivery_last_recorded_counts() -> None:
    h = standard(soc=None)
    h.soc("2026-03-02")
    h.delivered("d-1", "2026-03-02", 3, items=[("J0475", 4)], recorded_at="2026-03-02T18:00:00+00:00")
    h.delivered(
        "d-1", "2026-03-02", 6, items=[("J0475", 5)], recorded_at="2026-03-02T14:00:00-05:00"
    )  # 19:00Z
    doc = h.replay("2026-03-08")
    check(doc, {"2026-03-02..2026-03-07": B, "2026-03-08": "NO_DELIVERY_COVERAGE"})
    assert lines_of(doc, "J0475") == [("2026-03-02", 5)]  # one delivery, not 9 units

    h = standard(soc=None)
    h.soc("2026-03-02")
    h.delivered(
        "d-1", "2026-03-02", 6, items=[("J0475", 5)], recorded_at="2026-03-02T14:00:00-05:00"
    )  # 19:00Z
    h.delivered("d-1", "2026-03-02", 3, items=[("J0475", 4)], recorded_at="2026-03-02T20:00:00+00:00")
    doc = h.replay("2026-03-08")
    check(doc, {"2026-03-02..2026-03-04": B, "2026-03-05..2026-03-08": "NO_DELIVERY_COVERAGE"})
    assert lines_of(doc, "J0475") == [("2026-03-02", 4)]


def test_eligibility_comes_before_delivery_coverage() -> None:
    h = standard(supply_days=2)
    h.assessed("2026-03-03", False)
    check(h.replay("2026-03-05"), {"2026-03-02": B, "2026-03-03..2026-03-05": "NOT_ELIGIBLE"})


# --- rule 8: NO_ADMINISTRATION / NO_VISIT -----------------------------------------------------------


def test_infusion_day_basis_needs_a_dose_or_an_administering_visit() -> None:
    h = standard(basis="infusion_day")  # start of care Mar 2 administered the drug
    h.dose("2026-03-03", by="patient")
    h.dose("2026-03-04", by="caregiver")
    h.visited("v-5", "2026-03-05", administered=True)
    h.visited("v-6", "2026-03-06", administered=False)
    h.visited("v-7", "2026-03-07", administered=True)
    h.visit_voided("v-7")
    h.dose("2026-03-09", by="nurse")
    doc = h.replay("2026-03-09")
    check(doc, {"2026-03-02..2026-03-05": B, "2026-03-06..2026-03-08": "NO_ADMINISTRATION", "2026-03-09": B})
    assert s9363(doc) == [("2026-03-02", "2026-03-05", 4, "A-1"), ("2026-03-09", "2026-03-09", 1, "A-1")]
    # The visit without administration is still a nursing visit.
    assert lines_of(doc, "99601") == [(d, 1) for d in ("2026-03-02", "2026-03-05", "2026-03-06")]


def test_visit_day_basis_needs_an_administering_visit() -> None:
    h = standard(basis="visit_day")
    h.dose("2026-03-03", by="patient")
    h.visited("v-5", "2026-03-05", administered=True)
    h.visited("v-6", "2026-03-06", administered=False)
    h.visited("v-7", "2026-03-07", administered=True)
    h.visit_voided("v-7")
    h.visited("v-8", "2026-03-08", administered=True)
    h.visit_missed("v-8")
    doc = h.replay("2026-03-08")
    check(
        doc,
        {
            "2026-03-02": B,
            "2026-03-03..2026-03-04": "NO_VISIT",
            "2026-03-05": B,
            "2026-03-06..2026-03-07": "NO_VISIT",
            "2026-03-08": B,
        },
    )


def test_access_basis_adds_nothing() -> None:
    for basis in (None, "access"):
        doc = standard(basis=basis).replay("2026-03-05")
        check(doc, {"2026-03-02..2026-03-05": B})


def test_delivery_coverage_comes_before_counting_basis() -> None:
    h = standard(basis="visit_day", supply_days=1)
    check(h.replay("2026-03-03"), {"2026-03-02": B, "2026-03-03": "NO_DELIVERY_COVERAGE"})


# --- rule 9: DUPLICATE_DAY ---------------------------------------------------------------------------


def two_episodes(
    first_soc: str = "2026-03-02",
    second_soc: str = "2026-03-05",
    first_id: str = "ep-a",
    second_id: str = "ep-b",
) -> History:
    h = History(first_id)
    standard(h, soc=first_soc)
    h.ep = second_id
    standard(h, soc=second_soc)
    return h


def test_duplicate_day_earlier_start_of_care_keeps_the_day() -> None:
    h = two_episodes()
    h.ep = "ep-a"
    h.discontinued("2026-03-08")
    doc = h.replay("2026-03-10")
    check(doc, {"2026-03-02..2026-03-08": B}, "ep-a")
    check(
        doc,
        {
            "2026-03-01..2026-03-04": "BEFORE_SOC",
            "2026-03-05..2026-03-08": "DUPLICATE_DAY",
            "2026-03-09..2026-03-10": B,
        },
        "ep-b",
    )
    assert s9363(doc, "ep-b") == [("2026-03-09", "2026-03-10", 2, "A-1")]
    assert episode(doc, "ep-b")["billable_days"] == 2


def test_earlier_start_of_care_wins_over_smaller_episode_id() -> None:
    h = two_episodes(first_soc="2026-03-02", second_soc="2026-03-04", first_id="ep-z", second_id="ep-a")
    doc = h.replay("2026-03-05")
    check(doc, {"2026-03-02..2026-03-05": B}, "ep-z")
    check(doc, {"2026-03-04..2026-03-05": "DUPLICATE_DAY"}, "ep-a")


def test_start_of_care_tie_goes_to_the_smaller_episode_id_in_text_order() -> None:
    h = two_episodes(first_soc="2026-03-02", second_soc="2026-03-02", first_id="ep-9", second_id="ep-10")
    doc = h.replay("2026-03-04")
    check(doc, {"2026-03-02..2026-03-04": B}, "ep-10")  # "ep-10" < "ep-9" as text
    check(doc, {"2026-03-02..2026-03-04": "DUPLICATE_DAY"}, "ep-9")


def test_first_episodes_non_billable_days_are_billable_in_the_second() -> None:
    h = two_episodes()
    h.ep = "ep-a"
    h.held("2026-03-06")
    h.resumed("2026-03-08")
    doc = h.replay("2026-03-09")
    check(doc, {"2026-03-06..2026-03-07": "ON_HOLD", "2026-03-08..2026-03-09": B}, "ep-a")
    check(
        doc,
        {
            "2026-03-05": "DUPLICATE_DAY",
            "2026-03-06..2026-03-07": B,
            "2026-03-08..2026-03-09": "DUPLICATE_DAY",
        },
        "ep-b",
    )


def test_a_day_the_first_episode_cannot_authorize_is_billable_in_the_second() -> None:
    # "D is BILLABLE there, all ten rules applied": a day without units in the first is free.
    h = History("ep-a")
    standard(h, auth_units=2)  # ep-a bills Mar 2, 3; AUTH_UNITS_EXHAUSTED from Mar 4
    h.ep = "ep-b"
    standard(h, soc="2026-03-03")
    doc = h.replay("2026-03-05")
    check(doc, {"2026-03-02..2026-03-03": B, "2026-03-04..2026-03-05": "AUTH_UNITS_EXHAUSTED"}, "ep-a")
    check(doc, {"2026-03-03": "DUPLICATE_DAY", "2026-03-04..2026-03-05": B}, "ep-b")


def test_duplicate_day_comes_before_authorization_and_uses_no_units() -> None:
    h = History("ep-a")
    standard(h)
    h.discontinued("2026-03-06")
    h.ep = "ep-b"
    h.referral("pt-1")
    h.accepted("2026-03-01")
    h.assessed("2026-03-01")
    h.soc("2026-03-03")
    h.delivered("d-b", "2026-03-03", 30)
    h.auth("B-1", "2026-03-01", "2026-03-31", 2)
    doc = h.replay("2026-03-10")
    check(
        doc,
        {
            "2026-03-03..2026-03-06": "DUPLICATE_DAY",
            "2026-03-07..2026-03-08": B,
            "2026-03-09..2026-03-10": "AUTH_UNITS_EXHAUSTED",
        },
        "ep-b",
    )

    h2 = History("ep-a")
    standard(h2)
    h2.ep = "ep-b"
    standard(h2, soc="2026-03-03")
    for event in h2.events:  # ep-b without any authorization
        if event["episode_id"] == "ep-b" and event["event_type"] == "AuthorizationRecorded":
            h2.events.remove(event)
    check(h2.replay("2026-03-04"), {"2026-03-03..2026-03-04": "DUPLICATE_DAY"}, "ep-b")


def test_other_patients_do_not_conflict() -> None:
    h = History("ep-a")
    standard(h, patient="pt-1")
    h.ep = "ep-b"
    standard(h, patient="pt-2")
    doc = h.replay("2026-03-04")
    check(doc, {"2026-03-02..2026-03-04": B}, "ep-a")
    check(doc, {"2026-03-02..2026-03-04": B}, "ep-b")


def test_declined_episode_of_the_same_patient_keeps_no_day() -> None:
    h = two_episodes(first_soc="2026-03-02", second_soc="2026-03-03")
    h.ep = "ep-a"
    h.declined()
    doc = h.replay("2026-03-04")
    assert episode(doc, "ep-a")["days"] == []
    check(doc, {"2026-03-03..2026-03-04": B}, "ep-b")


# --- rule 10: NO_AUTH / OUTSIDE_AUTH_PERIOD / AUTH_UNITS_EXHAUSTED -------------------------------------


def strip_auths(h: History) -> History:
    h.events = [e for e in h.events if e["event_type"] != "AuthorizationRecorded"]
    return h


def test_no_auth() -> None:
    doc = strip_auths(standard()).replay("2026-03-04")
    check(doc, {"2026-03-01": "BEFORE_SOC", "2026-03-02..2026-03-04": "NO_AUTH"})
    assert s9363(doc) == []
    assert lines_of(doc, "J0475") == [("2026-03-02", 4)]


def test_only_s9363_authorizations_count() -> None:
    h = strip_auths(standard())
    h.auth("X-1", "2026-01-01", "2026-12-31", 100, code="S9500")
    check(h.replay("2026-03-03"), {"2026-03-02..2026-03-03": "NO_AUTH"})
    h.auth("A-1", "2026-03-01", "2026-03-31", 1)
    check(h.replay("2026-03-03"), {"2026-03-02": B, "2026-03-03": "AUTH_UNITS_EXHAUSTED"})


def test_outside_auth_period_start_and_end_included() -> None:
    h = strip_auths(standard())
    h.auth("A-1", "2026-03-04", "2026-03-06", 30)
    doc = h.replay("2026-03-08")
    check(
        doc,
        {
            "2026-03-02..2026-03-03": "OUTSIDE_AUTH_PERIOD",
            "2026-03-04..2026-03-06": B,
            "2026-03-07..2026-03-08": "OUTSIDE_AUTH_PERIOD",
        },
    )
    assert s9363(doc) == [("2026-03-04", "2026-03-06", 3, "A-1")]


def test_auth_units_exhausted() -> None:
    doc = standard(auth_units=3).replay("2026-03-06")
    check(doc, {"2026-03-02..2026-03-04": B, "2026-03-05..2026-03-06": "AUTH_UNITS_EXHAUSTED"})
    assert s9363(doc) == [("2026-03-02", "2026-03-04", 3, "A-1")]


def test_zero_unit_authorization_is_exhausted_from_the_start() -> None:
    doc = standard(auth_units=0).replay("2026-03-03")
    check(doc, {"2026-03-02..2026-03-03": "AUTH_UNITS_EXHAUSTED"})


def test_overlapping_authorizations_earliest_start_takes_the_day() -> None:
    h = strip_auths(standard())
    h.auth("A-2", "2026-03-04", "2026-04-30", 10)
    h.auth("A-1", "2026-03-01", "2026-03-31", 5)
    doc = h.replay("2026-03-20")
    check(doc, {"2026-03-02..2026-03-16": B, "2026-03-17..2026-03-20": "AUTH_UNITS_EXHAUSTED"})
    assert s9363(doc) == [("2026-03-02", "2026-03-06", 5, "A-1"), ("2026-03-07", "2026-03-16", 10, "A-2")]


def test_overlapping_authorizations_same_start_smallest_number_first() -> None:
    h = strip_auths(standard())
    h.auth("A-2", "2026-03-01", "2026-03-31", 2)
    h.auth("A-1", "2026-03-01", "2026-03-31", 2)
    doc = h.replay("2026-03-06")
    assert s9363(doc) == [("2026-03-02", "2026-03-03", 2, "A-1"), ("2026-03-04", "2026-03-05", 2, "A-2")]
    check(doc, {"2026-03-06": "AUTH_UNITS_EXHAUSTED"})


def test_later_authorization_takes_over_when_the_first_period_ends() -> None:
    h = strip_auths(standard())
    h.auth("A-1", "2026-03-01", "2026-03-04", 30)
    h.auth("A-2", "2026-03-03", "2026-03-31", 30)
    doc = h.replay("2026-03-06")
    assert s9363(doc) == [("2026-03-02", "2026-03-04", 3, "A-1"), ("2026-03-05", "2026-03-06", 2, "A-2")]


def test_only_billable_days_use_units() -> None:
    h = standard(auth_units=5)
    h.held("2026-03-03")
    h.resumed("2026-03-06")
    doc = h.replay("2026-03-10")
    check(
        doc,
        {
            "2026-03-02": B,
            "2026-03-03..2026-03-05": "ON_HOLD",
            "2026-03-06..2026-03-09": B,
            "2026-03-10": "AUTH_UNITS_EXHAUSTED",
        },
    )
    assert s9363(doc) == [("2026-03-02", "2026-03-02", 1, "A-1"), ("2026-03-06", "2026-03-09", 4, "A-1")]


def test_duplicate_auth_number_last_recorded_wins() -> None:
    h = strip_auths(standard())
    h.auth("A-1", "2026-03-01", "2026-03-31", 2, recorded_at="2026-03-01T10:00:00+00:00")
    h.auth("A-1", "2026-03-01", "2026-03-31", 4, recorded_at="2026-03-01T06:00:00-05:00")  # 11:00Z: last
    check(
        h.replay("2026-03-07"),
        {"2026-03-02..2026-03-05": B, "2026-03-06..2026-03-07": "AUTH_UNITS_EXHAUSTED"},
    )

    h = strip_auths(standard())
    h.auth("A-1", "2026-03-01", "2026-03-31", 4, recorded_at="2026-03-01T06:00:00-05:00")  # 11:00Z
    h.auth("A-1", "2026-03-05", "2026-03-31", 2, recorded_at="2026-03-01T12:00:00+00:00")  # last
    check(
        h.replay("2026-03-07"),
        {
            "2026-03-02..2026-03-04": "OUTSIDE_AUTH_PERIOD",
            "2026-03-05..2026-03-06": B,
            "2026-03-07": "AUTH_UNITS_EXHAUSTED",
        },
    )


def test_authorization_units_are_per_episode() -> None:
    # Units used by another episode's days do not count against this episode's authorization.
    h = two_episodes(first_soc="2026-03-02", second_soc="2026-03-02", first_id="ep-a", second_id="ep-b")
    doc = h.replay("2026-03-03")
    assert s9363(doc, "ep-a") == [("2026-03-02", "2026-03-03", 2, "A-1")]


# --- claim lines ----------------------------------------------------------------------------------------


def test_s9363_runs_split_at_month_end() -> None:
    h = standard(soc="2026-03-28", supply_days=30)
    doc = h.replay("2026-04-03")
    assert s9363(doc) == [("2026-03-28", "2026-03-31", 4, "A-1"), ("2026-04-01", "2026-04-03", 3, "A-1")]
    assert episode(doc)["billable_days"] == 7


def test_s9363_runs_split_at_year_end() -> None:
    h = History()
    h.referral("pt-1", start_date="2026-12-01")
    h.accepted("2026-12-28")
    h.auth("Y-1", "2026-12-01", "2027-01-31", 30)
    h.assessed("2026-12-28")
    h.soc("2026-12-30")
    h.delivered("d-1", "2026-12-30", 14)
    doc = h.replay("2027-01-02")
    check(doc, {"2026-12-28..2026-12-29": "BEFORE_SOC", "2026-12-30..2027-01-02": B})
    assert s9363(doc) == [("2026-12-30", "2026-12-31", 2, "Y-1"), ("2027-01-01", "2027-01-02", 2, "Y-1")]


def test_s9363_runs_split_at_a_non_billable_day_and_at_an_authorization_change() -> None:
    h = strip_auths(standard())
    h.auth("A-1", "2026-03-01", "2026-03-31", 4)
    h.auth("A-2", "2026-03-01", "2026-04-30", 30)
    h.held("2026-03-08")
    h.resumed("2026-03-09")
    doc = h.replay("2026-03-10")
    assert s9363(doc) == [
        ("2026-03-02", "2026-03-05", 4, "A-1"),
        ("2026-03-06", "2026-03-07", 2, "A-2"),
        ("2026-03-09", "2026-03-10", 2, "A-2"),
    ]


def test_99601_per_visit_one_line_per_date() -> None:
    h = standard()
    h.visited("v-2", "2026-03-02", kind="teaching", started_at="2026-03-02T15:00:00-05:00")
    h.visited("v-3", "2026-03-04", kind="line_care")
    h.visited("v-4", "2026-03-05", kind="discharge", administered=False)
    doc = h.replay("2026-03-05")
    assert lines_of(doc, "99601") == [("2026-03-02", 2), ("2026-03-04", 1), ("2026-03-05", 1)]
    assert lines_of(doc, "99602") == []


@pytest.mark.parametrize(
    ("minutes", "units"),
    [
        (60, 0),
        (120, 0),
        (150, 0),
        (151, 1),
        (180, 1),
        (210, 1),
        (211, 2),
        (270, 2),
        (271, 3),
        (330, 3),
        (331, 4),
    ],
)
def test_99602_units_follow_the_cpt_time_convention(minutes: int, units: int) -> None:
    h = standard()
    h.visited("v-long", "2026-03-04", minutes=minutes)
    doc = h.replay("2026-03-04")
    assert lines_of(doc, "99602") == ([("2026-03-04", units)] if units else [])
    assert ("2026-03-04", 1) in lines_of(doc, "99601")


def test_99602_units_add_up_per_date() -> None:
    h = standard()
    h.visited("v-a", "2026-03-04", minutes=151, started_at="2026-03-04T08:00:00-05:00")
    h.visited("v-b", "2026-03-04", minutes=211, started_at="2026-03-04T13:00:00-05:00")
    doc = h.replay("2026-03-04")
    assert lines_of(doc, "99602") == [("2026-03-04", 3)]
    assert lines_of(doc, "99601") == [("2026-03-02", 1), ("2026-03-04", 2)]


@pytest.mark.parametrize(
    ("started_at", "ended_at", "units"),
    [
        ("2026-03-04T10:00:00-05:00", "2026-03-04T12:30:59-05:00", 0),  # 150 min 59 s -> 150
        ("2026-03-04T10:00:00-05:00", "2026-03-04T12:31:00-05:00", 1),  # 151
        ("2026-03-04T10:00:30-05:00", "2026-03-04T12:31:29-05:00", 0),  # 150 min 59 s
        ("2026-03-04T10:00:00-05:00", "2026-03-04T19:31:00+02:00", 1),  # 15:00Z to 17:31Z: 151
        ("2026-03-04T15:00:00Z", "2026-03-04T12:30:00-05:00", 0),  # 15:00Z to 17:30Z: 150
        ("2026-03-04T10:00:00-05:00", "2026-03-04T23:31:00+05:30", 1),  # 15:00Z to 18:01Z: 181
        ("2026-03-04T22:00:00-05:00", "2026-03-05T07:31:00+02:00", 1),  # 03:00Z to 05:31Z next day: 151
    ],
)
def test_visit_minutes_are_instants_with_seconds_dropped(started_at: str, ended_at: str, units: int) -> None:
    h = standard()
    h.visited("v-x", "2026-03-04", started_at=started_at, ended_at=ended_at)
    doc = h.replay("2026-03-04")
    assert lines_of(doc, "99602") == ([("2026-03-04", units)] if units else [])


def test_drug_lines_j_codes_only_summed_per_code_and_date_zero_units_give_no_line() -> None:
    h = standard(soc=None)
    h.soc("2026-03-02")
    h.delivered("d-1", "2026-03-02", 14, items=[("J0475", 4), ("J0476", 0), ("A4221", 14), ("E0781", 1)])
    h.delivered("d-2", "2026-03-02", 14, items=[("J0475", 3), ("J0476", 2), ("J047", 5), ("J04750", 5)])
    h.delivered("d-3", "2026-03-09", 14, items=[("J0476", 0), ("A4222", 1)])
    h.delivered("d-4", "2026-03-10", 14, items=[("J0475", 1)])
    h.delivery_voided("d-4")
    doc = h.replay("2026-03-10")
    codes = sorted({line[0] for line in claim_lines(doc)})
    assert codes == ["99601", "J0475", "J0476", "S9363"]
    assert lines_of(doc, "J0475") == [("2026-03-02", 7)]
    assert lines_of(doc, "J0476") == [("2026-03-02", 2)]


def test_nursing_and_drug_lines_are_billed_on_non_billable_days_within_listed_days() -> None:
    h = standard(accepted="2026-03-03")
    h.held("2026-03-05")
    h.resumed("2026-03-08")
    h.visited("v-hold", "2026-03-06", administered=False)
    h.delivered("d-hold", "2026-03-06", 10, items=[("J0476", 1)])
    h.visited("v-before", "2026-02-27", kind="follow_up")  # before acceptance: not listed
    h.visited("v-after", "2026-03-11")  # after --through
    h.delivered("d-after", "2026-03-11", 10)
    doc = h.replay("2026-03-10")
    assert next(iter(reasons(doc))) == "2026-03-03"
    check(doc, {"2026-03-05..2026-03-07": "ON_HOLD"})
    assert lines_of(doc, "99601") == [("2026-03-06", 1)]  # the start of care (Mar 2) precedes acceptance
    assert lines_of(doc, "J0476") == [("2026-03-06", 1)]
    assert lines_of(doc, "J0475") == []  # delivered Mar 2 (before) and Mar 11 (after)


def test_voided_visit_gives_no_nursing_line_and_missed_visit_keeps_it() -> None:
    h = standard()
    h.visited("v-2", "2026-03-03", minutes=200)
    h.visit_voided("v-2")
    h.visited("v-3", "2026-03-04", minutes=200)
    h.visit_missed("v-3")
    doc = h.replay("2026-03-04")
    assert lines_of(doc, "99601") == [("2026-03-02", 1), ("2026-03-04", 1)]
    assert lines_of(doc, "99602") == [("2026-03-04", 1)]


def test_claim_lines_sorted_by_code_then_from() -> None:
    h = standard(soc="2026-03-28", supply_days=10)
    h.visited("v-2", "2026-04-02", minutes=240)
    h.delivered("d-2", "2026-03-30", 10, items=[("J0476", 1)])
    doc = h.replay("2026-04-02")
    keys = [(line[0], line[1]) for line in claim_lines(doc)]
    assert keys == sorted(keys)
    assert [line[0] for line in claim_lines(doc)] == [
        "99601",
        "99601",
        "99602",
        "J0475",
        "J0476",
        "S9363",
        "S9363",
    ]


# --- status, declined, referral frame ---------------------------------------------------------------


def test_declined_episode_has_no_days_and_no_claim_lines() -> None:
    h = standard()
    h.visited("v-2", "2026-03-03")
    h.declined()
    doc = h.replay("2026-03-10")
    ep = episode(doc)
    assert ep["status"] == "declined"
    assert ep["days"] == [] and ep["claim_lines"] == [] and ep["billable_days"] == 0
    assert ep["start_of_care"] == "2026-03-02"  # contract: the first completed start_of_care visit
    assert len(ep["timeline"]) == len(h.events)


def test_declined_before_acceptance() -> None:
    h = History()
    h.referral()
    h.declined()
    assert episode(h.replay("2026-03-10"))["status"] == "declined"


def test_referred_until_accepted_on_or_before_through() -> None:
    h = History()
    h.referral()
    doc = h.replay("2026-03-10")
    assert episode(doc)["status"] == "referred" and episode(doc)["days"] == []

    h = standard(accepted="2026-03-12")
    doc = h.replay("2026-03-10")
    assert episode(doc)["status"] == "referred"
    assert episode(doc)["days"] == [] and episode(doc)["claim_lines"] == []
    doc = h.replay("2026-03-12")
    assert episode(doc)["status"] == "active"
    assert list(reasons(doc)) == ["2026-03-12"]


def test_earliest_acceptance_counts() -> None:
    h = standard(accepted="2026-03-04")
    h.accepted("2026-03-02")
    assert next(iter(reasons(h.replay("2026-03-05")))) == "2026-03-02"


def test_first_recorded_referral_counts() -> None:
    h = History()
    h.referral("pt-late", interval=96, recorded_at="2026-03-01T12:00:00+00:00")
    h.referral("pt-first", interval=24, recorded_at="2026-03-01T06:00:00-05:00")  # 11:00Z: first
    h.accepted("2026-03-01")
    h.auth("A-1", "2026-01-01", "2026-12-31", 100)
    h.assessed("2026-03-01")
    h.soc("2026-03-02")
    h.delivered("d-1", "2026-03-02", 10)
    doc = h.replay("2026-03-03")
    assert episode(doc)["patient_ref"] == "pt-first"
    check(doc, {"2026-03-02..2026-03-03": B})


@pytest.mark.parametrize(
    ("twist", "through", "expected"),
    [
        ("none", "2026-03-05", "active"),
        ("no_soc", "2026-03-05", "accepted"),
        ("soc_after_end", "2026-03-05", "accepted"),
        ("stay", "2026-03-05", "inpatient"),
        ("hold", "2026-03-05", "on_hold"),
        ("stay_and_hold", "2026-03-05", "inpatient"),
        ("hold_no_soc", "2026-03-05", "on_hold"),
        ("discontinued_with_open_stay", "2026-03-05", "discontinued"),
        ("discontinued_after_through_open_stay", "2026-03-05", "inpatient"),
        ("declined_and_discontinued", "2026-03-05", "declined"),
    ],
)
def test_status_is_the_first_that_holds(twist: str, through: str, expected: str) -> None:
    h = standard(soc=None if twist in ("no_soc", "hold_no_soc", "soc_after_end") else "2026-03-02")
    if twist == "soc_after_end":
        h.soc("2026-03-07")
    if twist in (
        "stay",
        "stay_and_hold",
        "discontinued_with_open_stay",
        "discontinued_after_through_open_stay",
    ):
        h.admitted("2026-03-03")
    if twist in ("hold", "stay_and_hold", "hold_no_soc"):
        h.held("2026-03-04")
    if twist == "discontinued_with_open_stay":
        h.discontinued("2026-03-05")
    if twist == "discontinued_after_through_open_stay":
        h.discontinued("2026-03-09")
    if twist == "declined_and_discontinued":
        h.discontinued("2026-03-04")
        h.declined()
    assert episode(h.replay(through))["status"] == expected


def test_episode_without_its_referral_is_not_listed_until_it_arrives() -> None:
    h = standard()
    referral = h.events.pop(0)
    doc = h.replay("2026-03-05")
    assert doc["episodes"] == []
    assert doc["rejected"] == []
    h.events.append(referral)  # arrives last
    doc = h.replay("2026-03-05")
    check(doc, {"2026-03-02..2026-03-05": B})


def test_every_episode_with_a_referral_is_listed_whatever_through_says() -> None:
    h = History()
    h.referral(occurred_at="2026-05-01T09:00:00-04:00", recorded_at="2026-05-01T13:00:00+00:00")
    doc = h.replay("2026-03-01")
    assert [e["episode_id"] for e in doc["episodes"]] == ["ep-1"]
    assert episode(doc)["status"] == "referred"


def test_episodes_sorted_by_episode_id() -> None:
    h = History("ep-b")
    standard(h, patient="pt-b")
    h.ep = "ep-a"
    standard(h, patient="pt-a")
    h.ep = "ep-C"
    standard(h, patient="pt-c")
    assert [e["episode_id"] for e in h.replay("2026-03-02")["episodes"]] == ["ep-C", "ep-a", "ep-b"]


# --- timeline, duplicates, as-of ------------------------------------------------------------------------


def test_timeline_order_occurred_then_recorded_as_instants_then_event_id() -> None:
    h = History()
    h.referral(event_id="r", occurred_at="2026-03-01T09:00:00-05:00")  # 14:00Z
    # 13:00Z, though "15:00:00+02:00" sorts after "09:00:00-05:00" as text.
    h.accepted("2026-03-01", event_id="z-early", occurred_at="2026-03-01T15:00:00+02:00")
    # Same occurred instant (16:00Z) for three; recorded 19:00Z, 18:30Z, 18:30Z.
    h.held(
        "2026-03-01",
        event_id="a-rec-late",
        occurred_at="2026-03-01T16:00:00Z",
        recorded_at="2026-03-01T20:00:00+01:00",
    )
    h.resumed(
        "2026-03-02",
        event_id="c-tie",
        occurred_at="2026-03-01T11:00:00-05:00",
        recorded_at="2026-03-01T18:30:00Z",
    )
    h.complication(
        "c-1",
        "2026-03-01",
        event_id="b-tie",
        occurred_at="2026-03-01T17:00:00+01:00",
        recorded_at="2026-03-01T13:30:00-05:00",
    )
    h.discharged("2026-02-01", event_id="x-before", occurred_at="2026-02-28T23:00:00-12:00")  # Mar 1 11:00Z
    doc = h.replay("2026-03-05")
    timeline = episode(doc)["timeline"]
    assert [entry["event_id"] for entry in timeline] == [
        "x-before",
        "z-early",
        "r",
        "b-tie",
        "c-tie",
        "a-rec-late",
    ]
    assert timeline[1]["occurred_at"] == "2026-03-01T15:00:00+02:00"  # as sent
    assert [entry["source"] for entry in timeline[:3]] == ["complications", "referrals", "referrals"]
    assert timeline[1]["event_type"] == "ReferralAccepted"


def test_timeline_includes_voided_and_later_events_and_each_event_once() -> None:
    h = standard()
    h.delivery_voided("d-1")
    h.visited("v-late", "2026-04-20")
    doc = replay(h.lines() + h.lines()[:3], "2026-03-05")
    ids = [entry["event_id"] for entry in episode(doc)["timeline"]]
    assert sorted(ids) == sorted(e["event_id"] for e in h.events)
    assert len(ids) == len(set(ids))


def test_duplicate_event_id_copy_recorded_first_counts() -> None:
    h = standard(accepted="2026-03-01")
    late = dict(h.events[1], recorded_at="2026-03-09T00:00:00+00:00", data={"accepted_on": "2026-03-04"})
    doc = replay([json.dumps(late), *h.lines()], "2026-03-05")
    assert next(iter(reasons(doc))) == "2026-03-01"
    # Same recorded_at: the first in the file.
    same = dict(h.events[1], data={"accepted_on": "2026-03-04"})
    doc = replay([json.dumps(same), *h.lines()], "2026-03-05")
    assert next(iter(reasons(doc))) == "2026-03-04"


def test_as_of_keeps_only_events_recorded_at_or_before_it() -> None:
    h = standard()
    h.held("2026-03-04", recorded_at="2026-03-04T15:00:00+00:00")
    h.resumed("2026-03-06", recorded_at="2026-03-06T10:00:00-05:00")  # 15:00Z
    at_resume = h.replay("2026-03-08", as_of="2026-03-06T16:00:00+01:00")  # 15:00Z: included
    check(at_resume, {"2026-03-04..2026-03-05": "ON_HOLD", "2026-03-06..2026-03-08": B})
    assert at_resume["as_of"] == "2026-03-06T16:00:00+01:00"
    before_resume = h.replay("2026-03-08", as_of="2026-03-06T14:59:59Z")
    check(before_resume, {"2026-03-04..2026-03-08": "ON_HOLD"})
    assert "TherapyResumed" not in [e["event_type"] for e in episode(before_resume)["timeline"]]
    assert h.replay("2026-03-08")["as_of"] is None


def test_late_reported_void_changes_the_past_only_from_when_it_is_recorded() -> None:
    h = standard()
    h.delivery_voided("d-1", recorded_at="2026-03-20T12:00:00+00:00")
    check(h.replay("2026-03-05", as_of="2026-03-19T00:00:00Z"), {"2026-03-02..2026-03-05": B})
    check(h.replay("2026-03-05"), {"2026-03-02..2026-03-05": "NO_DELIVERY_COVERAGE"})


# --- rejected lines -------------------------------------------------------------------------------------


def _bad(h: History, index: int, **changes: Any) -> str:
    """Event `index` of the history as a JSON line, with envelope or `data.*` fields changed."""
    event = json.loads(json.dumps(h.events[index]))
    for key, value in changes.items():
        if key.startswith("data__"):
            event["data"][key[6:]] = value
        else:
            event[key] = value
    return json.dumps(event)


def test_rejected_lines_count_blank_lines_and_name_event_and_field() -> None:
    h = standard()
    good = h.lines()
    bad_supply = _bad(h, 5, event_id="bad-1", data__days_supply="seven")
    lines = [
        good[0],  # 1
        "",  # 2 blank, skipped
        bad_supply,  # 3
        "   \t",  # 4 blank
        "{not json",  # 5
        *good[1:],  # 6..
        _bad(h, 5, event_id="bad-1", data__days_supply=7.5),  # reported again, same event_id
    ]
    doc = replay(lines, "2026-03-04")
    rejected = doc["rejected"]
    assert [(r["line"], r["event_id"]) for r in rejected] == [(3, "bad-1"), (5, None), (len(lines), "bad-1")]
    assert "DeliveryCompleted" in rejected[0]["error"] and "days_supply" in rejected[0]["error"]
    assert "json" in rejected[1]["error"].lower()
    # No other event is lost: the good events still make the episode.
    check(doc, {"2026-03-02..2026-03-04": B})


@pytest.mark.parametrize(
    ("index", "changes", "names"),
    [
        (0, {"event_type": "ReferralSent"}, ["event_type", "ReferralSent"]),
        (1, {"source": "visits"}, ["ReferralAccepted", "source"]),
        (1, {"schema_version": 2}, ["ReferralAccepted", "schema_version"]),
        (1, {"schema_version": True}, ["ReferralAccepted", "schema_version"]),
        (1, {"schema_version": 1.0}, ["ReferralAccepted", "schema_version"]),
        (1, {"schema_version": "1"}, ["ReferralAccepted", "schema_version"]),
        (5, {"data__days_supply": 14.0}, ["DeliveryCompleted", "days_supply"]),
        (5, {"data__days_supply": "7"}, ["DeliveryCompleted", "days_supply"]),
        (5, {"data__days_supply": -1}, ["DeliveryCompleted", "days_supply"]),
        (2, {"data__units": True}, ["AuthorizationRecorded", "units"]),
        (1, {"data__accepted_on": "2026-02-30"}, ["ReferralAccepted", "accepted_on"]),
        (1, {"recorded_at": "2026-03-01T14:00:00"}, ["ReferralAccepted", "recorded_at"]),
        # a non-ASCII digit must be rejected, not crash the replay when the instant is computed
        (1, {"recorded_at": "2026-03-01T1\u0664:00:00Z"}, ["ReferralAccepted", "recorded_at"]),
        (4, {"data__ended_at": "2026-03-02T12:00:00+0\u0661:00"}, ["VisitCompleted", "ended_at"]),
        (4, {"data__started_at": "2026-03-02T10:00:00"}, ["VisitCompleted", "started_at"]),
        (2, {"data__end_date": "2025-12-31"}, ["AuthorizationRecorded", "end_date"]),
        (4, {"data__ended_at": "2026-03-02T09:59:59-05:00"}, ["VisitCompleted", "ended_at"]),
        (3, {"data__eligible": "yes"}, ["AssessmentCompleted", "eligible"]),
        (4, {"data__kind": "home_visit"}, ["VisitCompleted", "kind"]),
        (1, {"episode_id": 7}, ["ReferralAccepted", "episode_id"]),
    ],
)
def test_each_misfit_is_rejected_naming_event_and_field(
    index: int, changes: dict[str, Any], names: list[str]
) -> None:
    h = standard()
    lines = h.lines()
    lines[index] = _bad(h, index, **changes)
    doc = replay(lines, "2026-03-03")
    assert [r["line"] for r in doc["rejected"]] == [index + 1]
    rejected = doc["rejected"][0]
    assert rejected["event_id"] == h.events[index]["event_id"]
    for name in names:
        assert name in rejected["error"], f"{rejected['error']!r} does not name {name!r}"


def test_unknown_fields_are_ignored() -> None:
    h = standard()
    h.events[5]["data"]["lot_number"] = "L-42"
    h.events[5]["data"]["items"][0]["ndc"] = "0000-0000"
    h.events[5]["trace_id"] = "abc"
    h.events[0]["data"]["payer"]["group"] = "G-1"
    doc = h.replay("2026-03-03")
    assert doc["rejected"] == []
    check(doc, {"2026-03-02..2026-03-03": B})
    assert lines_of(doc, "J0475") == [("2026-03-02", 4)]


def test_rfc3339_z_and_fractions_accepted() -> None:
    h = standard()
    h.events[1]["recorded_at"] = "2026-03-01T14:00:00Z"
    h.events[4]["data"]["started_at"] = "2026-03-02T15:00:00.250Z"
    h.events[4]["data"]["ended_at"] = "2026-03-02T17:31:00.250+00:00"  # 151 min
    h.events[5]["recorded_at"] = "2026-03-02T20:00:00.123456z"
    doc = h.replay("2026-03-03")
    assert doc["rejected"] == []
    assert lines_of(doc, "99602") == [("2026-03-02", 1)]
    h.events[4]["data"]["ended_at"] = "2026-03-02T17:31:00.249+00:00"  # 150 min 59.999 s
    assert lines_of(h.replay("2026-03-03"), "99602") == []


def test_as_of_does_not_hide_rejected_lines() -> None:
    h = standard()
    lines = h.lines()
    lines[5] = _bad(h, 5, recorded_at="2026-12-01T00:00:00Z", data__days_supply="x")
    doc = replay(lines, "2026-03-03", as_of="2026-01-01T00:00:00Z")
    assert [r["line"] for r in doc["rejected"]] == [6]


# --- the CLI --------------------------------------------------------------------------------------------


def carecoord(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carecoord.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def history_file(tmp_path: Path) -> Path:
    path = tmp_path / "history.jsonl"
    lines = standard().lines()
    path.write_text("\n".join([*lines[:2], "", "{bad", *lines[2:]]) + "\n")
    return path


def test_cli_prints_the_document_and_exits_0_with_rejected_lines(history_file: Path) -> None:
    result = carecoord("replay", str(history_file), "--through", "2026-03-03", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["through"] == "2026-03-03" and document["as_of"] is None
    assert [(r["line"], r["event_id"]) for r in document["rejected"]] == [(4, None)]
    check(document, {"2026-03-01": "BEFORE_SOC", "2026-03-02..2026-03-03": B})
    assert document == replay(standard().lines(), "2026-03-03") | {"rejected": document["rejected"]}


def test_cli_as_of_is_echoed(history_file: Path) -> None:
    result = carecoord(
        "replay", str(history_file), "--through", "2026-03-03", "--as-of", "2026-01-01T00:00:00Z", "--json"
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["as_of"] == "2026-01-01T00:00:00Z"
    assert document["episodes"] == []  # nothing was recorded yet


@pytest.mark.parametrize(
    "through",
    [
        "2026-02-30",
        "2026-3-1",
        "03/01/2026",
        "2026-03-01T00:00:00Z",
        "",
        "tomorrow",
        "20260301",
        "2026-W10-1",  # an ISO week date: date.fromisoformat would read it as 2026-03-02
    ],
)
def test_cli_malformed_through_is_a_usage_error(history_file: Path, through: str) -> None:
    result = carecoord("replay", str(history_file), "--through", through, "--json")
    assert result.returncode == 2, result.stdout
    assert "through" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "as_of",
    [
        "2026-03-01T00:00:00",
        "2026-03-01",
        "2026-02-30T00:00:00Z",
        "now",
        "2026-03-01T25:00:00Z",
        "2026-03-01T1\u0664:00:00Z",  # a non-ASCII digit
        "2026-03-01T14:00:00Z\n",  # Python's `$` matches before a final newline
    ],
)
def test_cli_malformed_as_of_is_a_usage_error(history_file: Path, as_of: str) -> None:
    result = carecoord("replay", str(history_file), "--through", "2026-03-03", "--as-of", as_of, "--json")
    assert result.returncode == 2, result.stdout
    assert "as-of" in result.stderr
    assert result.stdout == ""


def test_cli_missing_through_is_a_usage_error(history_file: Path) -> None:
    assert carecoord("replay", str(history_file), "--json").returncode == 2


def test_cli_unreadable_history_exits_non_zero(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.jsonl", tmp_path):
        result = carecoord("replay", str(path), "--through", "2026-03-03", "--json")
        assert result.returncode != 0
        assert result.stdout == ""
        assert str(path) in result.stderr


def test_cli_reads_crlf_lines_and_a_last_line_without_newline(tmp_path: Path) -> None:
    lines = standard().lines()
    path = tmp_path / "crlf.jsonl"
    path.write_bytes("\r\n".join([*lines[:3], "", "{bad", *lines[3:]]).encode())
    result = carecoord("replay", str(path), "--through", "2026-03-03", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [(r["line"], r["event_id"]) for r in document["rejected"]] == [(5, None)]
    check(document, {"2026-03-02..2026-03-03": B})


# --- the edges of the calendar and of optional fields -------------------------------------------


def test_a_huge_days_supply_covers_every_later_day_without_overflowing_the_calendar() -> None:
    h = standard(supply_days=1)
    h.delivered("d-2", "2026-03-04", 10_000_000)  # past year 9999 if added to the date
    days = reasons(h.replay("2026-03-06"))
    assert days["2026-03-03"] == "NO_DELIVERY_COVERAGE"
    assert days["2026-03-04"] == days["2026-03-06"] == B


def test_a_ledger_through_the_last_day_of_the_calendar() -> None:
    h = History()
    h.referral()
    h.accepted("9999-12-30")
    days = reasons(h.replay("9999-12-31"))
    assert days == {"9999-12-30": "BEFORE_SOC", "9999-12-31": "BEFORE_SOC"}


def test_a_null_counting_basis_is_the_default_access_basis() -> None:
    h = standard()
    referral = next(e for e in h.events if e["event_type"] == "ReferralReceived")
    referral["data"]["payer"]["counting_basis"] = None
    doc = h.replay("2026-03-05")
    assert doc["rejected"] == []
    assert reasons(doc)["2026-03-03"] == B  # no dose logged: billable only on the access basis
