"""The 837P writer (projections/core/x12_837p.py): every file passes pyx12's X12 validator (any
error it reports fails the test), and read back with pyx12's reader each claim bills the ledger's
billable days of the period as S9363 units."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import Event, parse_event
from projections.core.claim_actions import Action, Month, PeriodClaim, patient_period_claims
from projections.core.claim_lines import S9363
from projections.core.x12_837p import (
    Address,
    BillingProvider,
    ClaimToSend,
    FeeSchedules,
    Interchange,
    NoClaimToSend,
    PayerInfo,
    Subscriber,
    amount,
    icd10,
    person_name,
    referral_of,
    write_837p,
)
from tests.core.test_claims_properties import PERIODS, billable_days_in, sent_claims
from tests.core.test_properties import histories
from tests.support.claims import submit
from tests.support.history_builder import History, standard
from tests.support.x12 import parse_claims, x12_errors

MARCH = [
    ("99601", "2026-03-02", "2026-03-02", 1, None),
    ("J0475", "2026-03-02", "2026-03-02", 4, None),
    ("S9363", "2026-03-02", "2026-03-31", 30, "A-1"),
]
PROVIDER = BillingProvider(
    name="NORTHSTAR HOME INFUSION",
    npi="1234567893",
    tax_id="123456789",
    address=Address("1 PHARMACY WAY", "FARGO", "ND", "581021234"),
    contact_name="BILLING OFFICE",
    contact_phone="7015550100",
    taxonomy="3336H0001X",
)
INTERCHANGE = Interchange(
    sender_id="NORTHSTAR",
    receiver_id="CLEARHOUSE",
    receiver_name="CLEARING HOUSE INC",
    interchange_control_number=17,
    group_control_number=4,
    created_at=datetime(2026, 4, 15, 9, 30, tzinfo=UTC),
)
FEES = FeeSchedules(
    default={
        "S9363": Decimal("55.50"),
        "99601": Decimal("180"),
        "99602": Decimal("90"),
        "J0475": Decimal("12.34"),
        "J0476": Decimal("40"),
    },
    by_payer={"MEDICARE": {"S9363": Decimal("60.25")}},
)
PAYERS = {"BCBS-ND": PayerInfo("BCBS NORTH DAKOTA", "BL"), "MEDICARE": PayerInfo("MEDICARE PART B", "MB")}


def subscriber(patient_ref: str) -> Subscriber:
    """Made-up demographics, as the referrals service would decrypt them for the file."""
    return Subscriber("DOE", f"PAT {patient_ref.upper().replace('-', ' ')}", date(1970, 5, 17), Address(
        "12 MAIN ST", "BISMARCK", "ND", "58501"), "F")  # fmt: skip


def grouped(lines: list[str]) -> dict[str, list[Event]]:
    episodes: dict[str, list[Event]] = defaultdict(list)
    for text in lines:
        event = parse_event(text)
        episodes[event.episode_id].append(event)
    return episodes


def period_claims(lines: list[str], period: str) -> tuple[list[PeriodClaim], dict[str, list[Event]]]:
    """Every listed claim of the period, one patient at a time, and the events of each episode."""
    episodes = grouped(lines)
    by_patient: dict[str, dict[str, list[Event]]] = defaultdict(dict)
    for episode_id, events in episodes.items():
        referral = referral_of(events)
        if referral is not None:
            patient = next(e.data.patient_ref for e in events if e.event_type == "ReferralReceived")  # type: ignore[union-attr]
            by_patient[patient][episode_id] = events
    claims = [c for group in by_patient.values() for c in patient_period_claims(group, Month.parse(period))]
    return sorted(claims, key=lambda c: c.episode_id), episodes


def to_send(
    claims: list[PeriodClaim], episodes: dict[str, list[Event]], fix_referral: bool = False
) -> list[ClaimToSend]:
    out = []
    for number, claim in enumerate(claims, start=1):
        referral = referral_of(episodes[claim.episode_id])
        assert referral is not None
        if fix_referral:  # the generated histories' referrals have no member id and a one-digit NPI
            referral = dataclasses.replace(referral, member_ref=f"M{number}", prescriber_npi="1234567893")
        out.append(
            ClaimToSend(
                claim, f"{claim.episode_id}-{claim.period}-{number}", referral, subscriber(claim.patient_ref)
            )
        )
    return out


def typical_month() -> History:
    """March: a NEW, a REPLACE (a stay reported late), a VOID (declined), a NONE, and one with
    another payer's fee schedule and diagnoses written with a dot."""
    h = standard()
    h.ep = "ep-2"
    standard(h, patient="pt-2")
    submit(h, "C-2", MARCH, episode_id="ep-2")
    h.admitted("2026-03-10")
    h.discharged("2026-03-15")
    h.ep = "ep-3"
    standard(h, patient="pt-3")
    submit(h, "C-3", MARCH, episode_id="ep-3")
    h.declined()
    h.ep = "ep-4"
    standard(h, patient="pt-4")
    submit(h, "C-4", MARCH, episode_id="ep-4")
    h.ep = "ep-5"
    standard(h, patient="pt-5")
    referral = next(
        e for e in h.events if e["episode_id"] == "ep-5" and e["event_type"] == "ReferralReceived"
    )
    referral["data"]["payer"]["payer_id"] = "MEDICARE"
    referral["data"]["diagnosis_codes"] = ["G82.20", "G35"]
    referral["data"]["prescriber"] = {"npi": "1987654325", "name": "Dr. Ana Rivera"}
    return h


def test_a_typical_month_passes_pyx12_and_bills_the_ledgers_days() -> None:
    lines = typical_month().lines()
    claims, episodes = period_claims(lines, "2026-03")
    assert [(c.episode_id, c.action) for c in claims] == [
        ("ep-1", Action.NEW), ("ep-2", Action.REPLACE), ("ep-3", Action.VOID), ("ep-4", Action.NONE),
        ("ep-5", Action.NEW),
    ]  # fmt: skip
    text = write_837p(to_send(claims, episodes), PROVIDER, INTERCHANGE, FEES, PAYERS)
    assert x12_errors(text) == []

    parsed = parse_claims(text)
    assert [(p.claim_id, p.frequency, p.original_reference) for p in parsed] == [
        ("ep-1-2026-03-1", "1", None),
        ("ep-2-2026-03-2", "7", "C-2"),
        ("ep-3-2026-03-3", "8", "C-3"),
        ("ep-5-2026-03-5", "1", None),  # ep-4's claim is right: not sent
    ]
    billable = billable_days_in(lines, "2026-03")
    assert [p.units(S9363) for p in parsed] == [billable["ep-1"], billable["ep-2"], 30, billable["ep-5"]]
    assert billable["ep-2"] == 26 and billable["ep-3"] == 0  # the void repeats the lines it voids
    ep2 = parsed[1]
    assert [(x.code, x.units, x.dates, x.authorization) for x in ep2.lines if x.code == S9363] == [
        ("S9363", 9, "20260302-20260310", "A-1"),
        ("S9363", 17, "20260315-20260331", "A-1"),
    ]
    for claim in parsed:
        assert claim.place == "12" and claim.member_id.startswith("m-pt-")
        assert sum(Decimal(x.charge) for x in claim.lines) == Decimal(claim.total)
        assert all(x.ordering_npi == claim.referring_npi for x in claim.lines)
    ep5 = parsed[3]
    assert (ep5.payer_id, ep5.diagnoses, ep5.referring_npi) == ("MEDICARE", ["G8220", "G35"], "1987654325")
    assert [x.charge for x in ep5.lines if x.code == S9363] == [
        amount(Decimal("60.25") * 30)
    ]  # the payer's fee
    assert [x.charge for x in parsed[0].lines] == ["180", "49.36", "1665"]  # the default fees
    assert "NM1*DK*1*Rivera*Ana****XX*1987654325~" in text


def test_the_envelope_counts_and_control_numbers() -> None:
    claims, episodes = period_claims(typical_month().lines(), "2026-03")
    text = write_837p(to_send(claims, episodes), PROVIDER, INTERCHANGE, FEES, PAYERS)
    segments = text.split("~")[:-1]
    assert len(segments[0]) == 105 and segments[0][103] == "*"  # ISA is fixed width; ISA16 is ':'
    assert segments[0].endswith("*00501*000000017*0*P*:")
    st, se = (
        segments.index("ST*837*0001*005010X222A1"),
        next(i for i, s in enumerate(segments) if s.startswith("SE*")),
    )
    assert segments[se] == f"SE*{se - st + 1}*0001"
    assert segments[-2:] == ["GE*1*4", "IEA*1*000000017"]
    assert segments[1] == "GS*HC*NORTHSTAR*CLEARHOUSE*20260415*0930*4*X*005010X222A1"
    levels = [s for s in segments if s.startswith("HL*")]
    assert levels == ["HL*1**20*1", *(f"HL*{n}*1*22*0" for n in range(2, 6))]
    # Pure: the same claims give the same file.
    assert write_837p(to_send(claims, episodes), PROVIDER, INTERCHANGE, FEES, PAYERS) == text


def test_pyx12_catches_what_would_be_wrong() -> None:
    """The validator used above does report errors (so a passing test means something)."""
    claims, episodes = period_claims(typical_month().lines(), "2026-03")
    text = write_837p(to_send(claims, episodes), PROVIDER, INTERCHANGE, FEES, PAYERS)
    se = next(s for s in text.split("~") if s.startswith("SE*"))
    count = int(se.split("*")[1])
    assert x12_errors(text.replace(se, f"SE*{count - 1}*0001"))
    assert x12_errors(text.replace(":B:7*", ":B:*"))
    assert x12_errors(text.replace("N4*BISMARCK*ND*", "N4*BISMARCK*XX*"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"claim_id": "X" * 39}, "longer than"),
        ({"claim_id": "C*1"}, "delimiter"),
        ({"subscriber": subscriber("pt~1")}, "delimiter"),
    ],
)
def test_what_the_file_cannot_carry_is_refused(change: dict[str, Any], message: str) -> None:
    claims, episodes = period_claims(standard().lines(), "2026-03")
    [claim] = to_send(claims, episodes)
    with pytest.raises(ValueError, match=message):
        write_837p([dataclasses.replace(claim, **change)], PROVIDER, INTERCHANGE, FEES)


def test_a_referral_without_member_id_or_diagnosis_and_a_code_without_fee_are_refused() -> None:
    claims, episodes = period_claims(standard().lines(), "2026-03")
    [claim] = to_send(claims, episodes)
    for referral in (dataclasses.replace(claim.referral, member_ref=None),
                     dataclasses.replace(claim.referral, diagnosis_codes=())):  # fmt: skip
        with pytest.raises(ValueError, match=r"member_ref|diagnosis"):
            write_837p([dataclasses.replace(claim, referral=referral)], PROVIDER, INTERCHANGE, FEES)
    with pytest.raises(ValueError, match="no fee for J0475"):
        write_837p([claim], PROVIDER, INTERCHANGE, FeeSchedules({"S9363": Decimal(50), "99601": Decimal(1)}))


def test_nothing_to_send() -> None:
    h = standard()
    submit(h, "C-1", MARCH)
    claims, episodes = period_claims(h.lines(), "2026-03")
    assert [c.action for c in claims] == [Action.NONE]
    with pytest.raises(NoClaimToSend):
        write_837p(to_send(claims, episodes), PROVIDER, INTERCHANGE, FEES)


def test_small_pieces() -> None:
    assert person_name("Dr. Ana Rivera") == ("Rivera", "Ana")
    assert person_name("Rivera") == ("Rivera", "")
    assert person_name("Rivera, M.D.") == ("Rivera", "")
    assert [amount(Decimal(x)) for x in ("1665.00", "49.36", "0.5", "12", "1E+3")] == [
        "1665",
        "49.36",
        "0.5",
        "12",
        "1000",
    ]
    assert icd10("G82.20") == "G8220"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), sent_claims(), st.sampled_from(PERIODS[1:3]))
def test_any_history_gives_a_valid_837p_billing_the_ledgers_days(
    events: list[dict[str, Any]], sent: list[dict[str, Any]], period: str
) -> None:
    lines = [json.dumps(event) for event in events + sent]
    claims, episodes = period_claims(lines, period)
    billed = [c for c in claims if c.action is not Action.NONE]
    if not billed:
        return
    claims_to_send = to_send(billed, episodes, fix_referral=True)
    text = write_837p(claims_to_send, PROVIDER, INTERCHANGE, FEES, PAYERS)
    assert x12_errors(text) == []
    billable = billable_days_in(lines, period)
    parsed = parse_claims(text)
    assert [p.claim_id for p in parsed] == [c.claim_id for c in claims_to_send]
    for claim, read in zip(billed, parsed, strict=True):
        expected = {"NEW": "1", "REPLACE": "7", "VOID": "8"}[str(claim.action)]
        assert (read.frequency, read.original_reference) == (expected, claim.replaces)
        if claim.action is Action.VOID:  # the void repeats the claim it voids
            assert read.units(S9363) == sum(x.units for x in claim.submitted_lines if x.code == S9363)
        else:
            assert read.units(S9363) == billable[claim.episode_id]
