"""Properties of the period's claim over generated histories (the generators of
tests/projections/test_properties.py) and any set of claims already sent:

- submitting every action called for (original for NEW, replacement of the standing claim for
  REPLACE, void for VOID, with the current lines) leaves every period's action NONE, and then the
  S9363 units standing for a period equal the ledger's billable days in it;
- what `claim_changes` reports adds up: the sent lines with the lines removed taken out and the
  lines added put in are the current lines, and its steps lead from what was known when the claim
  was recorded to the current lines.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecoord.commands.claims import claims_of_history
from events import instant, make_event, to_json
from projections.core.claim_actions import Action, Month, claim_to_submit, line_key
from projections.core.claim_changes import LineChanges
from projections.core.claim_lines import S9363
from projections.core.documents import replay_document
from projections.core.history import read_history
from tests.core.test_properties import histories, timestamps
from tests.support.claims import claims

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PERIODS = ["2026-02", "2026-03", "2026-04", "2026-05"]  # the generated histories bill March to early May
EPISODES = ["ep-a", "ep-b", "ep-c", "ep-d", "ep-x"]  # ep-x never has a referral

sent_lines = st.sampled_from(
    [
        {"code": "S9363", "from": "2026-03-02", "to": "2026-03-31", "units": 30, "authorization": "A-0"},
        {"code": "S9363", "from": "2026-04-01", "to": "2026-04-10", "units": 10, "authorization": "A-0"},
        {"code": "S9363", "from": "2026-03-05", "to": "2026-03-06", "units": 2, "authorization": None},
        {"code": "99601", "from": "2026-03-01", "to": "2026-03-01", "units": 1, "authorization": None},
        {"code": "J0475", "from": "2026-02-28", "to": "2026-02-28", "units": 4, "authorization": None},
    ]
)


@st.composite
def sent_claims(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Claims already sent, valid but arbitrary: claim_ids shared across periods and episodes."""
    out = []
    for number in range(draw(st.integers(0, 6))):
        frequency = draw(st.sampled_from(["original", "replacement", "void"]))
        data: dict[str, Any] = {
            "claim_id": draw(st.sampled_from(["C-1", "C-2", "C-3"])),
            "period": draw(st.sampled_from(PERIODS)),
            "frequency": frequency,
            "submitted_on": "2026-04-04",
            "lines": [] if frequency == "void" else draw(st.lists(sent_lines, min_size=1, max_size=3)),
        }
        if frequency != "original":
            data["replaces"] = draw(st.sampled_from(["C-1", "C-2", "C-9"]))
        out.append(
            {
                "event_id": f"sent-{number}",
                "event_type": "ClaimSubmitted",
                "schema_version": 1,
                "source": "claims",
                "episode_id": draw(st.sampled_from(EPISODES)),
                "occurred_at": draw(timestamps()),
                "recorded_at": draw(timestamps()),
                "data": data,
            }
        )
    return out


class Biller:
    """Submits what each action calls for (`claim_to_submit`, as POST /claims/{episode}/submit
    will), each claim recorded after everything known so far."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.lines = [json.dumps(event) for event in events]
        last = max(
            (instant(event["recorded_at"]) for event in events), default=instant("2026-01-01T00:00:00Z")
        )
        self.clock = last.astimezone(UTC)
        self.count = 0

    def submit_all(self, period: str) -> int:
        history = read_history(self.lines)
        submitted = 0
        for claim, _ in claims_of_history(history, Month.parse(period), None, explain=False):
            if claim.action is Action.NONE:
                continue
            data = claim_to_submit(claim, date(2026, 6, 1))
            assert data.claim_id not in claim.claim_ids  # a new claim never reuses an old claim_id
            self.count += 1
            self.clock += timedelta(minutes=1)
            event = make_event(
                event_id=f"sim-{self.count}",
                episode_id=claim.episode_id,
                occurred_at=self.clock.isoformat(),
                recorded_at=self.clock.isoformat(),
                data=data,
            )
            self.lines.append(to_json(event))
            submitted += 1
        return submitted


def billable_days_in(lines: list[str], period: str) -> dict[str, int]:
    """Each listed episode's BILLABLE days in the period, from the replay through its last day."""
    month = Month.parse(period)
    document = replay_document(lines, month.last_day)
    return {
        episode["episode_id"]: sum(
            1 for day in episode["days"] if day["billable"] and month.holds(date.fromisoformat(day["date"]))
        )
        for episode in document["episodes"]
    }


@SETTINGS
@given(histories(), sent_claims())
def test_after_submitting_every_action_called_for_every_period_is_none_and_units_are_billable_days(
    events: list[dict[str, Any]], sent: list[dict[str, Any]]
) -> None:
    biller = Biller(events + sent)
    assert claims(biller.lines, "2026-03")["rejected"] == []
    for period in PERIODS:
        biller.submit_all(period)
        assert {c["action"] for c in claims(biller.lines, period)["claims"]} <= {"NONE"}, period
    for period in PERIODS:  # a later period's claims do not disturb an earlier one's
        document = claims(biller.lines, period)
        assert {c["action"] for c in document["claims"]} <= {"NONE"}, period
        billable = billable_days_in(biller.lines, period)
        units = {
            c["episode_id"]: sum(line["units"] for line in c["submitted_lines"] if line["code"] == S9363)
            for c in document["claims"]
        }
        for episode_id, days in billable.items():
            assert units.get(episode_id, 0) == days, (period, episode_id)
        assert set(units) <= set(billable)  # ep-x, without its referral, is never listed


def _apply(lines: Counter[Any], changes: LineChanges) -> Counter[Any]:
    result = lines.copy()
    result.subtract(Counter(map(line_key, changes.lines_removed)))
    assert all(count >= 0 for count in result.values()), "a line removed that was not there"
    result.update(Counter(map(line_key, changes.lines_added)))
    return +result


@SETTINGS
@given(histories(), sent_claims(), st.sampled_from(PERIODS[1:]))
def test_what_claim_changes_reports_adds_up(
    events: list[dict[str, Any]], sent: list[dict[str, Any]], period: str
) -> None:
    history = read_history([json.dumps(event) for event in events + sent])
    for claim, changes in claims_of_history(history, Month.parse(period), None, explain=True):
        if claim.action not in (Action.REPLACE, Action.VOID):
            assert changes is None
            continue
        assert changes is not None and claim.standing is not None
        current = Counter(map(line_key, claim.lines))
        assert _apply(Counter(map(line_key, claim.standing.lines)), changes.since_sent) == current
        stepped = Counter(map(line_key, changes.known_when_sent))
        for step in changes.steps:
            assert step.events and step.changes.changed
            assert all(instant(e.recorded_at) > instant(changes.claim_recorded_at) for e in step.events)
            stepped = _apply(stepped, step.changes)
        assert stepped == current
