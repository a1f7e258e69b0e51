"""The ledger over runs of days (projections/core/ledger.py) equals the evaluator it replaced, day
by day (tests/support/day_by_day.py), day for day: reasons, authorizations, S9363 lines and the
billable days of each authorization, for every patient's episodes settled together.

Checked on every shared example (and every history the rule tests replay: history_builder.replay
calls `check_lines`), on generated histories in the contract, and on thousands of episodes'
facts generated directly (fast, so many: the rules see every edge of the calendar they can).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.core.facts import Authorization, Delivery, EpisodeFacts, Visit, pair_spans
from tests.core.test_properties import histories
from tests.core.test_worklist_properties import worklist_histories
from tests.support.day_by_day import check_facts, check_history
from tests.support.examples import EXAMPLES

FACTS_SETTINGS = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HISTORY_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

START = date(2026, 3, 1)


def test_every_shared_example() -> None:
    examples = sorted(EXAMPLES.rglob("*.jsonl"))
    assert len(examples) >= 12
    for path in examples:
        throughs = [date(2026, 1, 1), date(2026, 3, 15), date(2026, 4, 30), date(2026, 12, 31)]
        check_history(path.read_text().splitlines(), throughs)


# --- generated histories in the contract ----------------------------------------------------------------

history_throughs = st.lists(
    st.integers(-5, 75).map(lambda n: START + timedelta(days=n)) | st.just(date(2027, 3, 1)),
    min_size=1,
    max_size=3,
)


@HISTORY_SETTINGS
@given(histories(), history_throughs)
def test_generated_histories(events: list[dict[str, Any]], throughs: list[date]) -> None:
    check_history([json.dumps(e) for e in events], throughs)


@HISTORY_SETTINGS
@given(worklist_histories(), history_throughs)
def test_generated_worklist_histories(events: list[dict[str, Any]], throughs: list[date]) -> None:
    check_history([json.dumps(e) for e in events], throughs)


# --- facts generated directly -----------------------------------------------------------------------------

offsets = st.integers(-3, 50)


def on(n: int) -> date:
    return START + timedelta(days=n)


@st.composite
def episode_facts(draw: st.DrawFn, episode_id: str) -> EpisodeFacts:
    """One episode's facts, as `establish` gives them, near March 2026.

    Most have a skeleton that bills days (accepted, assessed eligible, a start of care with a
    delivery and an authorization); every field then gets more of the same, drawn at random.
    """
    assessments, visits, deliveries, authorizations = [], [], [], []
    accepted_on = draw(st.none() | offsets.map(on))
    if draw(st.integers(0, 4)) > 0:
        soc = draw(st.integers(0, 15))
        accepted_on = on(draw(st.integers(-3, soc)))
        assessments.append((draw(st.integers(-3, soc)), True))
        visits.append((soc, True, "start_of_care"))
        deliveries.append((soc, draw(st.integers(5, 40))))
        period = (draw(st.integers(-3, soc)), draw(st.integers(10, 60)))
        authorizations.append((*period, draw(st.integers(3, 40))))
    assessments += draw(st.lists(st.tuples(offsets, st.integers(0, 3).map(bool)), max_size=2))
    kinds = st.sampled_from(["start_of_care", "follow_up", "follow_up"])
    visits += draw(st.lists(st.tuples(offsets, st.booleans(), kinds), max_size=4))
    supply = st.integers(0, 20) | st.sampled_from([0, 1, 200, 10**6])
    deliveries += draw(st.lists(st.tuples(offsets, supply), max_size=4))
    units = st.integers(0, 30) | st.just(10**6)
    authorizations += draw(st.lists(st.tuples(offsets, st.integers(0, 40), units), max_size=3))
    changes = sorted(draw(st.lists(st.tuples(offsets, st.sampled_from([0, 24, 72, 73, 96])), max_size=2)))
    assessments.sort()
    settled_visits = sorted(
        (Visit(f"v-{n}", kind, on(day), 60, given) for n, (day, given, kind) in enumerate(visits)),
        key=lambda v: (v.visit_date, v.visit_id),
    )
    starts_of_care = [v.visit_date for v in settled_visits if v.kind == "start_of_care"]
    spans = st.lists(offsets, max_size=3)
    return EpisodeFacts(
        episode_id=episode_id,
        patient_ref="pt-1",
        payer_id="P",
        counting_basis=draw(st.sampled_from(["access", "access", "infusion_day", "visit_day"])),
        accepted_on=accepted_on,
        declined=draw(st.integers(0, 19)) == 0,
        discontinued_on=draw(st.none() | st.none() | offsets.map(on)),
        start_of_care=min(starts_of_care) if starts_of_care else None,
        assessment_dates=tuple(on(day) for day, _ in assessments),
        assessment_eligible=tuple(eligible for _, eligible in assessments),
        initial_interval_hours=draw(st.sampled_from([0, 24, 24, 72, 96])),
        interval_dates=tuple(on(day) for day, _ in changes),
        interval_hours=tuple(hours for _, hours in changes),
        stays=pair_spans(map(on, draw(spans)), map(on, draw(spans))),
        holds=pair_spans(map(on, draw(spans)), map(on, draw(spans))),
        visits=tuple(settled_visits),
        deliveries=tuple(
            sorted(
                (Delivery(f"d-{n}", on(day), days, ()) for n, (day, days) in enumerate(deliveries)),
                key=lambda d: (d.delivered_on, d.delivery_id),
            )
        ),
        dose_dates=frozenset(map(on, draw(st.lists(offsets, max_size=4)))),
        authorizations=tuple(
            sorted(
                (
                    Authorization(f"A-{n}", on(start), on(start + length), count)
                    for n, (start, length, count) in enumerate(authorizations)
                ),
                key=lambda a: (a.start_date, a.auth_number),
            )
        ),
    )


@st.composite
def patients(draw: st.DrawFn) -> list[EpisodeFacts]:
    """One to three episodes of one patient, which settle days against each other (rule 9)."""
    return [draw(episode_facts(f"ep-{n}")) for n in range(draw(st.integers(1, 3)))]


@FACTS_SETTINGS
@given(patients(), st.lists(st.integers(-5, 60).map(on), min_size=1, max_size=3))
def test_generated_facts(episodes: list[EpisodeFacts], throughs: list[date]) -> None:
    check_facts(episodes, throughs)


def test_far_ends_of_the_calendar() -> None:
    """Supply and authorization to the calendar's last day, and a ledger through it, in runs."""
    facts = EpisodeFacts(
        episode_id="ep-1",
        patient_ref="pt-1",
        payer_id="P",
        counting_basis="access",
        accepted_on=date.max - timedelta(days=40),
        declined=False,
        discontinued_on=None,
        start_of_care=date.max - timedelta(days=30),
        assessment_dates=(date.max - timedelta(days=35),),
        assessment_eligible=(True,),
        initial_interval_hours=24,
        interval_dates=(),
        interval_hours=(),
        stays=(),
        holds=pair_spans([date.max - timedelta(days=5)], []),
        visits=(Visit("v-1", "start_of_care", date.max - timedelta(days=30), 60, True),),
        deliveries=(Delivery("d-1", date.max - timedelta(days=30), 10**6, ()),),
        dose_dates=frozenset(),
        authorizations=(Authorization("A-1", date.max - timedelta(days=20), date.max, 10),),
    )
    check_facts([facts], [date.max, date.max - timedelta(days=10)])
