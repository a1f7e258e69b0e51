"""The worklist spans and period claims the write path keeps: read back, they are what the pure
core computes, on SQLite and PostgreSQL.

- `tables.worklist` (the SQL over the stored spans, for any `today`) gives the items of
  `carecoord worklist`'s own computation, in worklist.md's order, ids compared by code point
  (PostgreSQL's default collation may not; the columns are COLLATE "C" there);
- a stored row of `period_claims` is the `PeriodClaim` it was written from (the 837P and the
  corrections are made from it);
- `GET /claims?from=&to=`'s lines (`tables.claim_lines`) never bill a day in two ranges that do not
  overlap, and ranges that partition a span bill its days once.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecoord.commands.worklist import history_worklist
from events import parse_event
from projections.core.history import read_history
from projections.readmodels import tables
from projections.readmodels.projector import Projector
from projections.readmodels.sections import SECTIONS, period_claim_of
from projections.readmodels.sqlite import SQLiteReadModelStore
from projections.readmodels.store import ReadModelStore
from tests.core.test_claims_properties import sent_claims
from tests.core.test_properties import histories
from tests.core.test_worklist_properties import EVERY_DAY, FAR_OFF, worklist_histories
from tests.readmodels.test_projector import streams_of
from tests.support.examples import example_events
from tests.support.history_builder import History, standard
from tests.support.records import history_records

THROUGH = date(2026, 4, 30)
EVERYTHING = 2**62
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fed(store: ReadModelStore, lines: list[str]) -> ReadModelStore:
    store.create_tables()
    Projector(store, streams_of([parse_event(line) for line in lines]), lambda: THROUGH).catch_up()
    return store


def check_worklist(store: ReadModelStore, lines: list[str], days: list[date]) -> None:
    with store.transaction() as cursor:
        for today in days:
            page = tables.worklist(cursor, today, limit=EVERYTHING)
            assert page.items == history_worklist(read_history(lines), today), today
            assert page.total == len(page.items)


def check_claims(store: ReadModelStore, lines: list[str]) -> None:
    """Every stored row of period_claims is its record's claim, whole."""
    columns = next(s for s in SECTIONS if s.table == "period_claims").columns
    with store.transaction() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {{p}}period_claims ORDER BY episode_id, period")
        stored = [period_claim_of(row) for row in cursor.fetchall()]
    assert stored == [claim for record in history_records(lines, THROUGH) for claim in record.claims]


@SETTINGS
@given(worklist_histories())
def test_the_worklist_read_from_the_spans_is_the_commands_on_every_day(events: list[dict[str, Any]]) -> None:
    lines = [json.dumps(event) for event in events]
    with tempfile.TemporaryDirectory() as folder:
        store = fed(SQLiteReadModelStore(Path(folder) / "w.sqlite3"), lines)
        try:
            check_worklist(store, lines, EVERY_DAY + FAR_OFF)
        finally:
            store.close()


@SETTINGS
@given(histories(), sent_claims())
def test_a_stored_period_claim_is_the_claim_it_was_written_from(
    events: list[dict[str, Any]], sent: list[dict[str, Any]]
) -> None:
    lines = [json.dumps(event) for event in events + sent]
    with tempfile.TemporaryDirectory() as folder:
        store = fed(SQLiteReadModelStore(Path(folder) / "c.sqlite3"), lines)
        try:
            check_claims(store, lines)
        finally:
            store.close()


def ids_python_and_glibc_sort_apart() -> list[str]:
    """Episodes whose ids a locale's collation orders otherwise than code points (case, dashes)."""
    lines: list[str] = []
    for number, episode_id in enumerate(["ep-b", "ep-B", "ep1", "ep-10", "ep-1a", "EP-2", "ep-é"]):
        h = standard(History(episode_id), patient=f"pt-{number}", supply_days=20)
        h.visit_scheduled("v-1", "2026-03-05")  # overdue from Mar 6: one item per episode, same due
        for event in h.events:
            lines.append(json.dumps({**event, "event_id": f"{episode_id}/{event['event_id']}"}))
    return lines


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_examples_and_ids_that_sort_apart_on_both_databases(database: str, tmp_path: Path, pg_store) -> None:  # type: ignore[no-untyped-def]
    lines = [event.model_dump_json() for event in example_events()] + ids_python_and_glibc_sort_apart()
    store = (
        SQLiteReadModelStore(tmp_path / "e.sqlite3") if database == "sqlite" else pg_store("e", create=False)
    )
    fed(store, lines)
    check_worklist(store, lines, EVERY_DAY + FAR_OFF)
    check_claims(store, lines)
    with store.transaction() as cursor:
        overdue = tables.worklist(cursor, date(2026, 3, 10), kind="VISIT_OVERDUE", limit=EVERYTHING).items
    assert [item.episode_id for item in overdue] == sorted(item.episode_id for item in overdue)
    assert len(overdue) == 7
    store.close()


# --- claim lines of a date range ------------------------------------------------------------------


def days_billed(rows: list[tables.ClaimLineRow]) -> Counter[tuple[str, str, date]]:
    """(episode, code, day) for every day a line bills: S9363 days over its range, others once."""
    billed: Counter[tuple[str, str, date]] = Counter()
    for _, episode_id, _, code, start, end, units, _ in rows:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
        assert units == ((last - first).days + 1 if code == "S9363" else units)
        for n in range((last - first).days + 1):
            billed[(episode_id, code, first + timedelta(days=n))] += units if code != "S9363" else 1
    return billed


@SETTINGS
@given(histories(), st.lists(st.integers(0, 120), min_size=1, max_size=4, unique=True))
def test_no_day_is_billed_in_two_ranges_that_do_not_overlap(
    events: list[dict[str, Any]], cuts: list[int]
) -> None:
    lines = [json.dumps(event) for event in events]
    first, last = date(2026, 2, 1), date(2026, 6, 30)
    edges = [first] + [first + timedelta(days=cut) for cut in sorted(cuts)] + [last + timedelta(days=1)]
    ranges = [(a, b - timedelta(days=1)) for a, b in pairwise(edges) if a < b]
    with tempfile.TemporaryDirectory() as folder:
        store = fed(SQLiteReadModelStore(Path(folder) / "r.sqlite3"), lines)
        try:
            with store.transaction() as cursor:
                whole = days_billed(tables.claim_lines(cursor, first, last, None))
                parts = [days_billed(tables.claim_lines(cursor, a, b, None)) for a, b in ranges]
        finally:
            store.close()
    for one, other in ((p, q) for i, p in enumerate(parts) for q in parts[i + 1 :]):
        assert not set(one) & set(other)  # no day in two ranges
    assert sum(parts, Counter()) == whole  # and every day of the whole in one of them
