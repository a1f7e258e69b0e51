"""The shape of item spans (projections/core/worklist_spans.py): a finite list of rows that give the
worklist of any day. Their agreement with the direct worklist on every day is a property test
(test_worklist_properties.py) and is checked by every example in the other test files."""

from __future__ import annotations

from datetime import date

from projections.core.worklist import LAST_TODAY
from projections.core.worklist_spans import items_on
from tests.support.history_builder import History, standard
from tests.support.worklist import spans_of

Shape = tuple[str | None, str | None, str, int]  # (first, last, due_at_first, slope)


def shapes(h: History, kind: str) -> list[Shape]:
    return [
        (str(s.first), s.last and str(s.last), str(s.due_at_first), s.slope)
        for s in spans_of(h.lines())
        if s.kind == kind
    ]


def test_supply_due_stays_put_while_covered_then_moves_with_today() -> None:
    h = standard(supply_days=21)  # covered Mar 2 - Mar 22, never again
    assert shapes(h, "SUPPLY_RUNS_OUT") == [
        ("2026-03-20", "2026-03-22", "2026-03-23", 0),  # from covered through - 2
        ("2026-03-23", None, "2026-03-23", 1),  # not covered: due today, every day after
    ]


def test_units_low_due_stays_put_over_billable_days_and_grows_a_day_otherwise() -> None:
    h = History()
    standard(h)
    h.events = [e for e in h.events if e["event_type"] != "AuthorizationRecorded"]
    h.auth("A-1", "2026-01-01", "2026-12-31", 26)  # billable Mar 2 - Mar 27, then used up
    assert shapes(h, "AUTH_UNITS_LOW") == [
        ("2026-03-20", "2026-03-26", "2026-03-28", 0),  # 7 left on Mar 20, one fewer each day
        ("2026-03-27", "2026-12-30", "2026-03-28", 1),  # none left from Mar 28: due tomorrow
    ]


def test_a_discontinuation_ends_every_span_the_day_before() -> None:
    h = standard(supply_days=21)
    h.complication("c-1", "2026-03-05")
    h.discontinued("2026-04-10")
    spans = spans_of(h.lines())
    assert all(s.last is not None and s.last <= date(2026, 4, 9) for s in spans)
    assert {s.kind for s in spans if s.last == date(2026, 4, 9)} == {"SUPPLY_RUNS_OUT", "COMPLICATION_OPEN"}
    assert items_on(spans, date(2026, 4, 10)) == []


def test_spans_answer_for_any_day_up_to_the_last_today() -> None:
    h = standard(supply_days=21)
    spans = spans_of(h.lines())
    (item,) = [i for i in items_on(spans, LAST_TODAY) if i.kind == "SUPPLY_RUNS_OUT"]
    assert item.due == LAST_TODAY
    assert items_on(spans, date.min) == []
