"""The worklist's intake rows (shared/worklist.md): which episodes are listed at all, pending
referrals, start of care, and the order of items."""

from __future__ import annotations

from tests.support.history_builder import History, standard
from tests.support.worklist import dues, rows, worklist_of

TODAY = "2026-03-20"


def test_a_standard_active_episode_has_nothing_to_do() -> None:
    assert rows(standard(), TODAY) == []


def test_referral_pending_is_due_on_the_local_date_of_the_referral() -> None:
    h = History()
    # 23:30 in New York is already the 6th in UTC: the local date is the one in the event's offset.
    h.referral(occurred_at="2026-03-05T23:30:00-05:00")
    assert rows(h, TODAY) == [("REFERRAL_PENDING", "2026-03-05", None)]


def test_patient_and_referral_date_come_from_the_referral_recorded_first() -> None:
    h = History()
    h.referral("pt-late", occurred_at="2026-03-09T09:00:00-05:00", recorded_at="2026-03-09T14:00:00+00:00")
    h.referral("pt-first", occurred_at="2026-03-07T09:00:00-05:00", recorded_at="2026-03-07T14:00:00+00:00")
    (item,) = worklist_of(h.lines(), TODAY)
    assert (item.patient_ref, item.due.isoformat()) == ("pt-first", "2026-03-07")


def test_a_referral_accepted_after_today_is_referred_but_not_pending() -> None:
    h = History()
    h.referral()
    h.accepted("2026-03-25")
    assert rows(h, TODAY) == []
    assert dues(h, "2026-03-25", "START_OF_CARE_NEEDED") == ["2026-03-25"]


def test_a_referred_episode_still_has_its_rows_without_status_condition() -> None:
    h = History()
    h.referral(occurred_at="2026-03-02T09:00:00-05:00")
    h.visit_scheduled("v-1", "2026-03-10")
    assert rows(h, TODAY) == [
        ("REFERRAL_PENDING", "2026-03-02", None),
        ("VISIT_OVERDUE", "2026-03-10", "v-1"),
    ]


def test_declined_and_discontinued_episodes_have_no_items() -> None:
    declined = History()
    declined.referral()
    declined.declined()
    declined.visit_scheduled("v-1", "2026-03-10")
    assert rows(declined, TODAY) == []

    discontinued = standard()
    discontinued.complication("c-1", "2026-03-05")
    discontinued.discontinued(TODAY)  # the end date is today: discontinued on or before it
    assert rows(discontinued, TODAY) == []
    discontinued_tomorrow = standard()
    discontinued_tomorrow.complication("c-1", "2026-03-05")
    discontinued_tomorrow.discontinued("2026-03-21")
    assert rows(discontinued_tomorrow, TODAY) == [("COMPLICATION_OPEN", "2026-03-05", "c-1")]


def test_an_episode_without_its_referral_is_not_listed() -> None:
    h = History()
    h.accepted("2026-03-01")
    h.visit_scheduled("v-1", "2026-03-10")
    assert worklist_of(h.lines(), TODAY) == []


def test_start_of_care_needed_until_a_start_of_care_visit_is_scheduled() -> None:
    h = standard(soc=None, accepted="2026-03-11")
    assert rows(h, TODAY) == [("START_OF_CARE_NEEDED", "2026-03-11", None)]
    h.visit_scheduled("v-teach", "2026-03-25", kind="teaching")  # another kind does not do
    assert dues(h, TODAY, "START_OF_CARE_NEEDED") == ["2026-03-11"]
    h.visit_scheduled("v-soc", "2026-03-23", kind="start_of_care")
    assert rows(h, TODAY) == []


def test_start_of_care_needed_again_when_the_scheduled_one_is_missed() -> None:
    h = standard(soc=None, accepted="2026-03-11")
    h.visit_scheduled("v-soc", "2026-03-16", kind="start_of_care")
    h.visit_missed("v-soc")
    assert rows(h, TODAY) == [
        ("START_OF_CARE_NEEDED", "2026-03-11", None),
        ("VISIT_MISSED", "2026-03-16", "v-soc"),
    ]


def test_the_kind_of_a_scheduled_visit_is_the_one_recorded_last() -> None:
    h = standard(soc=None, accepted="2026-03-11")
    h.visit_scheduled("v-1", "2026-03-23", kind="start_of_care", recorded_at="2026-03-13T15:00:00+00:00")
    h.visit_scheduled("v-1", "2026-03-23", kind="teaching", recorded_at="2026-03-12T15:00:00+00:00")
    assert rows(h, TODAY) == []  # recorded last: start_of_care, though added first
    h.visit_scheduled("v-1", "2026-03-23", kind="teaching", recorded_at="2026-03-14T15:00:00+00:00")
    assert rows(h, TODAY) == [("START_OF_CARE_NEEDED", "2026-03-11", None)]


def test_items_are_sorted_by_due_then_kind_then_episode_then_key() -> None:
    h = History("ep-b")
    standard(h, patient="pt-b")
    h.complication("c-2", "2026-03-16")
    h.complication("c-1", "2026-03-16")
    h.held("2026-03-16")
    h.visit_scheduled("v-1", "2026-03-16")
    h.complication("c-0", "2026-03-17")
    h.ep = "ep-a"
    standard(h, patient="pt-a")
    h.complication("c-9", "2026-03-16")
    items = worklist_of(h.lines(), TODAY)
    assert [(i.episode_id, str(i.kind), i.key) for i in items] == [
        ("ep-b", "VISIT_OVERDUE", "v-1"),
        ("ep-a", "COMPLICATION_OPEN", "c-9"),
        ("ep-b", "COMPLICATION_OPEN", "c-1"),
        ("ep-b", "COMPLICATION_OPEN", "c-2"),
        ("ep-b", "ON_HOLD", None),
        ("ep-b", "COMPLICATION_OPEN", "c-0"),
    ]
