"""`record_patient` (projections/core/records.py) settles a patient once and gives each live read
model what its own function gives: the view of `project_patient` (to the byte, through any day),
the spans of `worklist_spans`, and for every period `patient_period_claims`' claim, listed for
exactly the periods the claims command lists."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.core.claim_actions import Month, patient_period_claims
from projections.core.documents import episode_document
from projections.core.episode import project_patient
from projections.core.records import record_patient
from projections.core.worklist_spans import worklist_spans
from tests.core.test_claims_properties import sent_claims
from tests.core.test_properties import histories
from tests.core.test_worklist_properties import patient_groups, worklist_histories
from tests.support.examples import example_events
from tests.support.history_builder import standard

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
throughs = st.sampled_from(
    [date(2026, 1, 1), date(2026, 3, 10), date(2026, 3, 31), date(2026, 4, 20), date(2027, 2, 1)]
)
# Generated histories bill from March to early May; visits and claims fall a little either side.
PERIODS = [Month(2026, month) for month in range(1, 9)] + [Month(2027, 1)]


def check_group(group: dict[str, list[Any]], through: date) -> None:
    records = record_patient(group, through)
    views = project_patient(group, through)
    assert [r.view for r in records] == views
    assert [json.dumps(episode_document(r.view)) for r in records] == [
        json.dumps(episode_document(v)) for v in views
    ]
    assert [s for r in records for s in r.spans] == worklist_spans(group)
    for record in records:
        assert all(span.episode_id == record.episode_id for span in record.spans)
    stored = {(r.episode_id, c.period): c for r in records for c in r.claims}
    for period in sorted(set(PERIODS) | {p for _, p in stored}):
        expected = {c.episode_id: c for c in patient_period_claims(group, period)}
        assert {e: c for (e, p), c in stored.items() if p == period} == expected, period


@SETTINGS
@given(worklist_histories(), throughs)
def test_one_settlement_gives_the_view_the_spans_and_every_period_claim(
    events: list[dict[str, Any]], through: date
) -> None:
    for group in patient_groups([json.dumps(e) for e in events]):
        check_group(group, through)


@SETTINGS
@given(histories(), sent_claims(), throughs)
def test_with_claims_sent_every_period_claim_is_the_commands(
    events: list[dict[str, Any]], sent: list[dict[str, Any]], through: date
) -> None:
    for group in patient_groups([json.dumps(e) for e in events + sent]):
        check_group(group, through)


def test_the_shared_examples() -> None:
    lines = [e.model_dump_json() for e in example_events()]
    for group in patient_groups(lines):
        for through in (date(2026, 3, 15), date(2026, 4, 30), date(2027, 6, 1)):
            check_group(group, through)


def test_a_visit_long_after_the_last_billable_day_makes_its_periods_claim() -> None:
    """Nursing lines after the billing horizon come without settling the patient that far."""
    h = standard(supply_days=10, auth_units=200)  # billable Mar 2..11 only
    h.visited("v-late", "2026-08-14", minutes=200)
    line = {"code": "99601", "from": "2026-11-02", "to": "2026-11-02", "units": 1, "authorization": None}
    h.add("ClaimSubmitted", source="claims", data={
        "claim_id": "C-9", "period": "2026-11", "frequency": "original", "submitted_on": "2026-12-01",
        "lines": [line],
    })  # fmt: skip
    (group,) = patient_groups(h.lines())
    (record,) = record_patient(group, date(2026, 3, 20))
    assert [(str(c.period), str(c.action)) for c in record.claims] == [
        ("2026-03", "NEW"), ("2026-08", "NEW"), ("2026-11", "VOID"),
    ]  # fmt: skip
    august = record.claims[1]
    assert [(line.code, line.from_date, line.units) for line in august.lines] == [
        ("99601", date(2026, 8, 14), 1),
        ("99602", date(2026, 8, 14), 1),
    ]
    check_group(group, date(2026, 3, 20))
