"""SUPPLY_RUNS_OUT, AUTH_ENDING, AUTH_UNITS_LOW and DELIVERY_OVERDUE (shared/worklist.md), at
their boundaries: covered through against `today + 3`, authorized through against `today + 14`,
units left from the ledger through `today` (today counted, all ten rules, one unit per patient
per day)."""

from __future__ import annotations

from tests.support.history_builder import History, standard
from tests.support.worklist import dues, rows

TODAY = "2026-03-20"


def supplied(days: int) -> History:
    """Active since Mar 2; one delivery on Mar 2 covering `days` days (through Mar 1 + days)."""
    return standard(supply_days=days)


def test_supply_covered_through_today_plus_2_runs_out_the_day_after() -> None:
    assert rows(supplied(21), TODAY) == [("SUPPLY_RUNS_OUT", "2026-03-23", None)]  # covered through Mar 22


def test_supply_covered_through_today_plus_3_is_enough() -> None:
    assert rows(supplied(22), TODAY) == []  # covered through Mar 23


def test_supply_not_covering_today_is_due_today() -> None:
    assert dues(supplied(10), TODAY, "SUPPLY_RUNS_OUT") == [TODAY]  # covered through Mar 11 only


def test_covered_through_follows_deliveries_that_touch_or_overlap() -> None:
    h = supplied(14)  # Mar 2 - Mar 15
    h.delivered("d-2", "2026-03-16", 4)  # Mar 16 - Mar 19, touching
    h.delivered("d-3", "2026-03-18", 4)  # Mar 18 - Mar 21, overlapping
    assert dues(h, TODAY, "SUPPLY_RUNS_OUT") == ["2026-03-22"]
    h.delivered("d-4", "2026-03-23", 10)  # a gap of one day (Mar 22) stops it
    assert dues(h, TODAY, "SUPPLY_RUNS_OUT") == ["2026-03-22"]


def test_a_voided_delivery_covers_nothing_and_a_corrected_one_covers_its_last_days_supply() -> None:
    h = supplied(14)
    h.delivered("d-2", "2026-03-16", 30)
    h.delivery_voided("d-2")
    assert dues(h, TODAY, "SUPPLY_RUNS_OUT") == [TODAY]
    h.delivered("d-3", "2026-03-16", 30)
    h.delivered("d-3", "2026-03-16", 6, recorded_at="2026-03-16T20:00:00+00:00")  # the correction
    assert dues(h, TODAY, "SUPPLY_RUNS_OUT") == ["2026-03-22"]


def test_a_delivery_scheduled_for_covered_through_plus_1_answers_it() -> None:
    h = supplied(21)  # covered through Mar 22
    h.delivery_scheduled("d-next", "2026-03-24")
    assert dues(h, TODAY, "SUPPLY_RUNS_OUT") == ["2026-03-23"]  # one day too late
    h.delivery_scheduled("d-sooner", "2026-03-23")
    assert rows(h, TODAY) == []


def test_a_delivery_scheduled_for_today_answers_an_uncovered_today() -> None:
    h = supplied(10)
    h.delivery_scheduled("d-next", TODAY)
    assert rows(h, TODAY) == []


def test_a_past_failed_or_voided_scheduled_delivery_answers_nothing() -> None:
    h = supplied(10)
    h.delivery_scheduled("d-late", "2026-03-18")
    h.delivery_scheduled("d-failed", TODAY)
    h.delivery_failed("d-failed")
    h.delivery_scheduled("d-voided", TODAY)
    h.delivery_voided("d-voided")
    assert rows(h, TODAY) == [
        ("DELIVERY_OVERDUE", "2026-03-18", "d-late"),
        ("SUPPLY_RUNS_OUT", TODAY, None),
    ]


def test_delivery_overdue_from_the_day_after_it_was_scheduled() -> None:
    h = standard()
    h.delivery_scheduled("d-2", "2026-03-19")
    assert dues(h, "2026-03-19", "DELIVERY_OVERDUE") == []
    assert rows(h, TODAY) == [("DELIVERY_OVERDUE", "2026-03-19", "d-2")]


def test_a_delivery_rescheduled_counts_with_the_date_recorded_last() -> None:
    h = standard()
    h.delivery_scheduled("d-2", "2026-03-25", recorded_at="2026-03-16T15:00:00+00:00")
    h.delivery_scheduled("d-2", "2026-03-12", recorded_at="2026-03-10T15:00:00+00:00")
    assert rows(h, TODAY) == []


def test_a_completion_dated_after_today_still_closes_its_scheduled_delivery() -> None:
    h = standard()
    h.delivery_scheduled("d-2", "2026-03-12")
    h.delivered("d-2", "2026-03-25", 7)
    assert rows(h, TODAY) == []


def test_supply_runs_out_only_for_active_episodes() -> None:
    h = supplied(10)
    h.held("2026-03-15")
    assert dues(h, TODAY, "SUPPLY_RUNS_OUT") == []
    assert dues(h, TODAY, "ON_HOLD") == ["2026-03-15"]


def auth_until(end: str) -> History:
    h = History()
    standard(h)
    h.events = [e for e in h.events if e["event_type"] != "AuthorizationRecorded"]
    h.auth("A-1", "2026-03-01", end, 200)
    return h


def test_auth_ending_when_authorized_through_is_before_today_plus_14() -> None:
    assert rows(auth_until("2026-04-02"), TODAY) == [("AUTH_ENDING", "2026-04-03", None)]  # today + 13
    assert rows(auth_until("2026-04-03"), TODAY) == []  # today + 14


def test_auth_ending_follows_authorizations_that_touch_and_stops_at_a_gap() -> None:
    h = auth_until("2026-03-25")
    h.auth("A-2", "2026-03-26", "2026-03-31", 50)
    assert dues(h, TODAY, "AUTH_ENDING") == ["2026-04-01"]
    h.auth("A-3", "2026-04-02", "2026-12-31", 50)  # Apr 1 lies in none
    assert dues(h, TODAY, "AUTH_ENDING") == ["2026-04-01"]
    h.auth("A-4", "2026-04-01", "2026-04-01", 0)  # ignoring units, it closes the gap
    assert dues(h, TODAY, "AUTH_ENDING") == []


def test_auth_ending_today_when_no_s9363_authorization_covers_today() -> None:
    h = auth_until("2026-03-10")
    h.auth("X-1", "2026-01-01", "2026-12-31", 300, code="S9500")
    assert dues(h, TODAY, "AUTH_ENDING") == [TODAY]


def test_an_authorization_counts_as_recorded_last() -> None:
    h = auth_until("2026-03-31")
    h.auth("A-1", "2026-03-01", "2026-09-30", 200, recorded_at="2026-03-19T15:00:00+00:00")
    assert dues(h, TODAY, "AUTH_ENDING") == []
    h.auth("A-1", "2026-03-01", "2026-09-30", 200, code="S9500", recorded_at="2026-03-19T16:00:00+00:00")
    assert dues(h, TODAY, "AUTH_ENDING") == [TODAY]


def test_auth_ending_while_on_hold_too() -> None:
    h = auth_until("2026-03-31")
    h.held("2026-03-15")
    assert dues(h, TODAY, "AUTH_ENDING") == ["2026-04-01"]


def units(count: int, end: str = "2026-12-31") -> History:
    """Billable every day from Mar 2 (through today, Mar 20: 19 days), A-1 holding `count` units."""
    h = History()
    standard(h)
    h.events = [e for e in h.events if e["event_type"] != "AuthorizationRecorded"]
    h.auth("A-1", "2026-01-01", end, count)
    return h


def test_units_left_count_today_as_used() -> None:
    assert rows(units(26), TODAY) == [("AUTH_UNITS_LOW", "2026-03-28", "A-1")]  # 7 left: today + 8
    assert rows(units(27), TODAY) == []  # 8 left


def test_units_low_only_when_they_run_out_before_the_period_ends() -> None:
    assert dues(units(26, end="2026-03-27"), TODAY, "AUTH_UNITS_LOW") == []  # 7 days after today
    assert dues(units(26, end="2026-03-28"), TODAY, "AUTH_UNITS_LOW") == ["2026-03-28"]


def test_units_exhausted_are_due_tomorrow() -> None:
    assert dues(units(10), TODAY, "AUTH_UNITS_LOW") == ["2026-03-21"]


def test_units_left_follow_the_whole_ledger() -> None:
    h = units(26)
    h.held("2026-03-05")
    h.resumed("2026-03-07")  # Mar 5 and 6 on hold: not billable, no unit used; 9 left
    assert dues(h, TODAY, "AUTH_UNITS_LOW") == []


def test_units_left_per_authorization_whose_period_holds_today() -> None:
    h = units(5, end="2026-03-10")  # A-1 pays Mar 2 - Mar 6, then is used up
    h.auth("A-2", "2026-03-08", "2026-06-30", 10)  # pays Mar 8 - Mar 17
    h.auth("A-3", "2026-03-18", "2026-06-30", 10)  # pays Mar 18 - 20: 7 left
    h.auth("X-1", "2026-03-01", "2026-06-30", 1, code="S9500")
    assert rows(h, TODAY, "AUTH_UNITS_LOW") == [
        ("AUTH_UNITS_LOW", "2026-03-21", "A-2"),
        ("AUTH_UNITS_LOW", "2026-03-28", "A-3"),
    ]


def test_days_another_episode_of_the_patient_bills_use_no_units() -> None:
    h = History("ep-2")
    standard(h, soc="2026-03-10")
    h.events = [e for e in h.events if e["event_type"] != "AuthorizationRecorded"]
    h.auth("A-2", "2026-03-01", "2026-12-31", 7)
    # Alone, ep-2 bills Mar 10 - Mar 16 and is out of units.
    assert dues(h, TODAY, "AUTH_UNITS_LOW", "ep-2") == ["2026-03-21"]
    h.ep = "ep-1"
    standard(h, soc="2026-03-02")  # the same patient, an earlier start of care: ep-1 keeps the days
    assert dues(h, TODAY, "AUTH_UNITS_LOW", "ep-2") == ["2026-03-28"]


def test_units_low_only_for_active_episodes() -> None:
    h = units(10)
    h.held("2026-03-20")
    assert dues(h, TODAY, "AUTH_UNITS_LOW") == []
