"""The period's claim, now (shared/claims.md): current lines, the standing claim, the action, and
the boundaries the claims issue names."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import pytest

from events import Event, parse_event
from projections.core.claim_actions import (
    Month,
    NothingToSubmit,
    PeriodClaim,
    claim_to_submit,
    patient_period_claims,
)
from tests.support.claims import Line, claim_of, claims, line, listed, submit, tuples
from tests.support.history_builder import History, standard

MARCH: list[Line] = [
    ("99601", "2026-03-02", "2026-03-02", 1, None),
    ("J0475", "2026-03-02", "2026-03-02", 4, None),
    ("S9363", "2026-03-02", "2026-03-31", 30, "A-1"),
]
APRIL: list[Line] = [("S9363", "2026-04-01", "2026-04-30", 30, "A-1")]


def action(document: dict[str, object], episode_id: str = "ep-1") -> tuple[str, str | None]:
    claim = claim_of(document, episode_id)  # type: ignore[arg-type]
    return claim["action"], claim["replaces"]


# --- the action, first that holds ----------------------------------------------------------------


def test_new_when_nothing_was_sent() -> None:
    document = claims(standard(), "2026-03")
    claim = claim_of(document)
    assert (claim["action"], claim["replaces"], claim["submitted_lines"]) == ("NEW", None, [])
    assert tuples(claim["lines"]) == MARCH
    assert (claim["patient_ref"], claim["payer_id"]) == ("pt-1", "BCBS-ND")


def test_none_when_the_standing_claim_has_the_current_lines_in_any_order() -> None:
    h = standard()
    submit(h, "C-1", reversed(MARCH))
    claim = claim_of(claims(h, "2026-03"))
    assert (claim["action"], claim["replaces"]) == ("NONE", None)
    assert tuples(claim["submitted_lines"]) == MARCH  # sorted, though sent in another order


@pytest.mark.parametrize(
    "sent",
    [
        [MARCH[0], MARCH[1], ("S9363", "2026-03-02", "2026-03-31", 29, "A-1")],  # units
        [MARCH[0], MARCH[1], ("S9363", "2026-03-02", "2026-03-31", 30, "A-2")],  # authorization
        [MARCH[0], MARCH[1], ("S9363", "2026-03-02", "2026-03-31", 30, None)],  # null authorization
        [MARCH[0], MARCH[1], ("S9363", "2026-03-02", "2026-03-30", 30, "A-1")],  # to
        [MARCH[0], MARCH[1], MARCH[2], MARCH[2]],  # a line twice: multisets
        MARCH[1:],  # a line missing
        [*MARCH, ("99602", "2026-03-02", "2026-03-02", 1, None)],  # a line too many
    ],
)
def test_replace_when_the_lines_differ_as_multisets(sent: list[Line]) -> None:
    h = standard()
    submit(h, "C-1", sent)
    assert action(claims(h, "2026-03")) == ("REPLACE", "C-1")


def test_void_when_a_claim_stands_and_no_line_does() -> None:
    h = standard()
    submit(h, "C-1", MARCH)
    h.visit_voided("v-soc-2026-03-02")  # no start of care: no day, no nursing line
    h.delivery_voided("d-1")
    claim = claim_of(claims(h, "2026-03"))
    assert (claim["action"], claim["replaces"], claim["lines"]) == ("VOID", "C-1", [])
    assert tuples(claim["submitted_lines"]) == MARCH


def test_an_episode_with_no_line_and_no_claim_for_the_period_is_not_listed() -> None:
    h = standard(soc=None)
    submit(h, "C-2", APRIL, period="2026-04")  # a claim for another period does not list it
    assert listed(claims(h, "2026-03")) == []
    assert listed(claims(h, "2026-04")) == ["ep-1"]  # VOID there: no line in April, a claim standing


def test_a_void_then_new_lines_is_new() -> None:
    h = standard()
    submit(h, "C-1", MARCH)
    submit(h, "C-1-void", frequency="void", replaces="C-1")
    claim = claim_of(claims(h, "2026-03"))
    # The void leaves no claim standing: the same lines must be sent anew, as an original.
    assert (claim["action"], claim["replaces"], claim["submitted_lines"]) == ("NEW", None, [])
    assert tuples(claim["lines"]) == MARCH


def test_a_standing_void_and_no_line_is_none_and_listed() -> None:
    h = standard(soc=None)
    submit(h, "C-1", MARCH)
    submit(h, "C-1-void", frequency="void", replaces="C-1")
    claim = claim_of(claims(h, "2026-03"))
    assert (claim["action"], claim["lines"], claim["submitted_lines"]) == ("NONE", [], [])


def test_a_replacement_chain_the_last_recorded_stands() -> None:
    h = standard()
    submit(h, "C-1", MARCH[:1])
    submit(h, "C-2", MARCH[:2], frequency="replacement", replaces="C-1")
    assert action(claims(h, "2026-03")) == ("REPLACE", "C-2")
    submit(h, "C-3", MARCH, frequency="replacement", replaces="C-2")
    assert action(claims(h, "2026-03")) == ("NONE", None)
    h.held("2026-03-20")  # the chain goes on: C-3 is now the one to replace
    assert action(claims(h, "2026-03")) == ("REPLACE", "C-3")


def test_replaces_does_not_choose_the_standing_claim() -> None:
    h = standard()
    submit(h, "C-1", MARCH)
    submit(h, "C-2", MARCH[:2], frequency="replacement", replaces="C-unknown")
    assert action(claims(h, "2026-03")) == ("REPLACE", "C-2")
    submit(h, "C-3", frequency="void", replaces="C-1")  # names C-1, but the last recorded is a void
    assert action(claims(h, "2026-03")) == ("NEW", None)


def test_two_claim_submitted_with_one_claim_id_the_later_moves_the_claim_to_another_period() -> None:
    h = standard()
    # Recorded later, though first in the file: the April version is the claim.
    submit(h, "C-1", MARCH, period="2026-04", recorded_at="2026-04-05T10:00:00-04:00")
    submit(h, "C-1", MARCH, period="2026-03", recorded_at="2026-04-04T10:00:00-04:00")
    assert action(claims(h, "2026-03")) == ("NEW", None)
    april = claim_of(claims(h, "2026-04"))
    assert (april["action"], april["replaces"]) == ("REPLACE", "C-1")
    assert tuples(april["submitted_lines"]) == MARCH  # kept as sent, dated outside April
    assert tuples(april["lines"]) == APRIL


def test_claims_of_other_episodes_never_count() -> None:
    h = standard()
    submit(h, "C-1", MARCH)
    h.ep = "ep-2"  # the builder's next events are another patient's episode
    standard(h, patient="pt-2")
    # ep-2 sends a claim with the same claim_id, for April: ep-1's C-1 stays in March.
    submit(h, "C-1", APRIL, period="2026-04", episode_id="ep-2")
    document = claims(h, "2026-03")
    assert action(document) == ("NONE", None)
    assert action(document, "ep-2") == ("NEW", None)


def test_a_declined_episode_with_a_standing_claim_is_voided() -> None:
    h = standard()
    submit(h, "C-1", MARCH)
    h.declined()
    claim = claim_of(claims(h, "2026-03"))
    assert (claim["action"], claim["replaces"], claim["lines"]) == ("VOID", "C-1", [])


def test_a_declined_episode_never_sent_is_not_listed() -> None:
    h = standard()
    h.declined()
    assert listed(claims(h, "2026-03")) == []


def test_as_of_before_and_after_a_late_event() -> None:
    h = standard()
    submit(h, "C-1", MARCH, recorded_at="2026-04-04T16:00:00Z")
    h.admitted("2026-03-10", recorded_at="2026-04-08T15:00:00Z")
    h.discharged("2026-03-15", recorded_at="2026-04-08T15:00:00Z")
    assert action(claims(h, "2026-03", as_of="2026-04-04T15:59:59Z")) == ("NEW", None)  # before the claim
    assert action(claims(h, "2026-03", as_of="2026-04-04T12:00:00-04:00")) == ("NONE", None)  # at it
    assert action(claims(h, "2026-03", as_of="2026-04-08T14:59:59Z")) == ("NONE", None)
    after = claims(h, "2026-03", as_of="2026-04-08T11:00:00-04:00")  # the instant the stay was recorded
    assert after["as_of"] == "2026-04-08T11:00:00-04:00"
    assert action(after) == ("REPLACE", "C-1")
    assert [x for x in tuples(claim_of(after)["lines"]) if x[0] == "S9363"] == [
        ("S9363", "2026-03-02", "2026-03-10", 9, "A-1"),
        ("S9363", "2026-03-15", "2026-03-31", 17, "A-1"),
    ]


def test_lines_dated_outside_the_claims_period_are_kept_as_sent_and_compared_as_they_are() -> None:
    h = standard(accepted="2026-02-20", assessed="2026-02-20")
    h.visited("v-feb", "2026-02-27")
    sent = [*MARCH, ("99601", "2026-02-27", "2026-02-27", 1, None)]
    submit(h, "C-1", sent)
    claim = claim_of(claims(h, "2026-03"))
    assert tuples(claim["submitted_lines"]) == sorted(sent, key=lambda x: (x[0], x[1]))
    assert ("99601", "2026-02-27", "2026-02-27", 1, None) not in tuples(claim["lines"])  # dated in P only
    assert (claim["action"], claim["replaces"]) == ("REPLACE", "C-1")


def test_submitted_on_filters_nothing() -> None:
    h = standard()
    submit(h, "C-1", MARCH, submitted_on="2027-12-31")
    assert action(claims(h, "2026-03", as_of="2026-12-31T00:00:00Z")) == ("NONE", None)


def test_recorded_last_is_by_instant_then_event_id() -> None:
    h = standard()
    # 15:00Z is later than 14:00Z, though "...T10" sorts before "...T16" as text.
    submit(h, "C-a", MARCH, recorded_at="2026-04-04T10:00:00-05:00")
    submit(h, "C-b", MARCH[:2], recorded_at="2026-04-04T16:00:00+02:00")
    assert action(claims(h, "2026-03")) == ("NONE", None)
    tie = standard()
    submit(tie, "C-x", MARCH[:2], recorded_at="2026-04-04T15:00:00Z", event_id="e-b")
    submit(tie, "C-y", MARCH, recorded_at="2026-04-04T10:00:00-05:00", event_id="e-a")
    assert action(claims(tie, "2026-03")) == ("REPLACE", "C-x")  # same instant: e-b is later


def test_through_before_the_periods_end_bounds_the_current_lines() -> None:
    claim = claim_of(claims(standard(), "2026-03", through="2026-03-15"))
    assert tuples(claim["lines"])[-1] == ("S9363", "2026-03-02", "2026-03-15", 14, "A-1")
    later = claims(standard(), "2026-03", through="2026-05-31")  # later than P's end: P's end
    assert tuples(claim_of(later)["lines"]) == MARCH
    assert listed(claims(standard(), "2026-03", through="2026-02-28")) == []  # before P: no line in P


def test_current_lines_stay_in_the_period() -> None:
    h = standard()
    h.visited("v-apr", "2026-04-02")
    claim = claim_of(claims(h, "2026-04"))
    assert tuples(claim["lines"]) == [("99601", "2026-04-02", "2026-04-02", 1, None), *APRIL]


def test_an_episode_without_its_referral_is_not_listed() -> None:
    h = History("ep-x")
    submit(h, "C-1", MARCH)
    h.accepted("2026-03-01")
    assert claims(h, "2026-03")["claims"] == []


def test_payer_is_the_first_referrals() -> None:
    h = standard()
    second = h.referral("pt-1")
    second["data"]["payer"]["payer_id"] = "MEDICARE"
    second["recorded_at"] = "2025-12-31T00:00:00Z"  # recorded before the builder's first
    assert claim_of(claims(h, "2026-03"))["payer_id"] == "MEDICARE"


def test_submitted_lines_sorted_by_the_five_fields_with_null_authorization_first() -> None:
    h = standard()
    sent = [
        ("S9363", "2026-03-02", "2026-03-31", 30, "A-1"),
        ("S9363", "2026-03-02", "2026-03-31", 30, None),
        ("S9363", "2026-03-02", "2026-03-30", 29, "A-1"),
        ("S9363", "2026-03-02", "2026-03-30", 28, "A-1"),
        ("J0475", "2026-03-02", "2026-03-02", 4, None),
    ]
    submit(h, "C-1", sent)
    assert tuples(claim_of(claims(h, "2026-03"))["submitted_lines"]) == [
        ("J0475", "2026-03-02", "2026-03-02", 4, None),
        ("S9363", "2026-03-02", "2026-03-30", 28, "A-1"),
        ("S9363", "2026-03-02", "2026-03-30", 29, "A-1"),
        ("S9363", "2026-03-02", "2026-03-31", 30, None),
        ("S9363", "2026-03-02", "2026-03-31", 30, "A-1"),
    ]


def test_one_patients_episodes_are_settled_together() -> None:
    """Rule 9: the episode with the earlier start of care keeps a day; the other's claim loses it."""
    h = standard()
    h.ep = "ep-2"
    standard(h, soc="2026-03-10")
    document = claims(h, "2026-03")
    assert [x for x in tuples(claim_of(document, "ep-2")["lines"]) if x[0] == "S9363"] == []
    assert action(document) == ("NEW", None)


def test_claim_submitted_changes_no_ledger_day_and_no_claim_line() -> None:
    h = standard()
    h.admitted("2026-03-10")
    h.discharged("2026-03-12")
    without = h.replay("2026-04-30")
    submit(h, "C-1", MARCH)
    submit(h, "C-2", APRIL, period="2026-04", frequency="replacement", replaces="C-9")
    submit(h, "C-3", frequency="void", replaces="C-2", period="2026-04")
    with_claims = h.replay("2026-04-30")
    assert with_claims["rejected"] == []
    for before, after in zip(without["episodes"], with_claims["episodes"], strict=True):
        assert {**after, "timeline": None} == {**before, "timeline": None}
    timeline = with_claims["episodes"][0]["timeline"]
    entries = [entry for entry in timeline if entry["event_type"] == "ClaimSubmitted"]
    assert [entry["source"] for entry in entries] == ["claims"] * 3
    assert "C-2" in entries[1]["summary"] and "replacement" in entries[1]["summary"]


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2028-02", date(2028, 2, 1), date(2028, 2, 29)),
        ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
        ("9999-12", date(9999, 12, 1), date(9999, 12, 31)),
    ],
)
def test_a_month_knows_its_days(text: str, first: date, last: date) -> None:
    month = Month.parse(text)
    assert (month.first_day, month.last_day, str(month)) == (first, last, text)
    assert month.holds(first) and month.holds(last) and not month.holds(first - timedelta(days=1))
    assert last == date.max or not month.holds(last + timedelta(days=1))


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "2026-3", "0000-01", "2026-03-01", "", "2026-\u0660\u0663"]
)
def test_a_month_is_a_real_month(text: str) -> None:
    with pytest.raises(ValueError):
        Month.parse(text)


def test_line_helper_is_the_contracts_shape() -> None:
    assert line("S9363", "2026-03-02", "2026-03-03", 2) == {
        "code": "S9363",
        "from": "2026-03-02",
        "to": "2026-03-03",
        "units": 2,
        "authorization": None,
    }


# --- the claim the action calls for ----------------------------------------------------------------


def period_claim_of(h: History, period: str = "2026-03") -> PeriodClaim:
    episodes: dict[str, list[Event]] = defaultdict(list)
    for text in h.lines():
        event = parse_event(text)
        episodes[event.episode_id].append(event)
    [claim] = [c for c in patient_period_claims(episodes, Month.parse(period)) if c.episode_id == "ep-1"]
    return claim


def test_claim_to_submit_for_new_is_an_original_with_the_current_lines() -> None:
    data = claim_to_submit(period_claim_of(standard()), date(2026, 4, 4))
    assert (data.claim_id, data.period, data.frequency, data.replaces) == (
        "CLM-2026-03-ep-1",
        "2026-03",
        "original",
        None,
    )
    assert [
        (x.code, x.from_date.isoformat(), x.to_date.isoformat(), x.units, x.authorization) for x in data.lines
    ] == MARCH
    assert data.submitted_on == date(2026, 4, 4)


def test_claim_to_submit_for_replace_and_void_names_the_standing_claim() -> None:
    h = standard()
    submit(h, "CLM-2026-03-ep-1", MARCH[:2])
    replacement = claim_to_submit(period_claim_of(h), date(2026, 4, 9))
    assert (replacement.frequency, replacement.replaces, replacement.claim_id) == (
        "replacement",
        "CLM-2026-03-ep-1",
        "CLM-2026-03-ep-1-2",  # never an id already recorded
    )
    assert len(replacement.lines) == 3
    h.declined()
    void = claim_to_submit(period_claim_of(h), date(2026, 4, 10), claim_id="V-1")
    assert (void.frequency, void.replaces, void.claim_id, void.lines) == (
        "void",
        "CLM-2026-03-ep-1",
        "V-1",
        [],
    )


def test_next_claim_id_skips_every_id_the_episode_recorded_in_any_period() -> None:
    h = standard()
    submit(h, "CLM-2026-03-ep-1", MARCH, period="2026-04")  # moved to April, still taken
    submit(h, "CLM-2026-03-ep-1-2", APRIL, period="2026-04")
    assert period_claim_of(h).next_claim_id() == "CLM-2026-03-ep-1-3"


def test_nothing_to_submit_when_the_claim_is_right() -> None:
    h = standard()
    submit(h, "C-1", MARCH)
    with pytest.raises(NothingToSubmit):
        claim_to_submit(period_claim_of(h), date(2026, 4, 4))
