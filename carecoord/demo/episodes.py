"""The demo's twenty episodes: who they are, and each one's month of ordinary care."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import partial
from typing import Any

from carecoord.bootstrap import Services
from carecoord.demo.script import EASTERN, MONTH_END, PACIFIC, Script, d, local
from events import Order, Payer, Prescriber
from events.models import CountingBasis, DiscontinuationReason, VisitKind
from services.common.errors import NotFound
from services.deliveries.domainmodel import Item
from services.referrals.domainmodel import PatientDetails


@dataclass(frozen=True)
class Plan:
    """One episode's month, in dates; the script turns it into commands."""

    episode_id: str
    patient_ref: str
    received_on: date
    accepted_on: date | None = None
    declined: str | None = None
    start_of_care: date | None = None
    auth_units: tuple[int, ...] = (30,)
    payer: tuple[str, str, CountingBasis] = ("aetna", "HMO", "access")
    tz: tzinfo = EASTERN
    discontinued: tuple[date, DiscontinuationReason] | None = None
    patient_doses: bool = False


PLANS = [
    Plan("ep-1001", "pt-001", d(26, 2), d(2), start_of_care=d(2)),
    Plan("ep-1002", "pt-002", d(27, 2), d(2), start_of_care=d(3), payer=("uhc", "PPO", "access")),
    Plan("ep-1003", "pt-003", d(1), d(3), start_of_care=d(4), auth_units=(10,)),
    Plan("ep-1004", "pt-004", d(2), d(4), start_of_care=d(5)),
    Plan("ep-1005", "pt-005", d(3), declined="payer out of network"),
    Plan("ep-1006", "pt-006", d(3), d(5), start_of_care=d(6), payer=("medicare", "Part B", "access")),
    Plan("ep-1007", "pt-007", d(4), d(6), start_of_care=d(9)),
    Plan(
        "ep-1008",
        "pt-008",
        d(5),
        d(9),
        start_of_care=d(9),
        payer=("bcbs-nd", "PPO", "infusion_day"),
        patient_doses=True,
    ),
    Plan("ep-1009", "pt-009", d(6), d(9), start_of_care=d(10), tz=PACIFIC),
    Plan("ep-1010", "pt-010", d(8), d(10), start_of_care=d(11)),
    Plan("ep-1011", "pt-011", d(9), d(11), start_of_care=d(12), auth_units=(14, 30)),
    Plan("ep-1012", "pt-012", d(10), declined="patient chose another provider"),
    Plan("ep-1013", "pt-013", d(11), d(13), start_of_care=d(16), payer=("medicare", "Part B", "visit_day")),
    Plan("ep-1014", "pt-014", d(12), d(13), start_of_care=d(16), discontinued=(d(24), "physician_order")),
    Plan("ep-1015", "pt-015", d(14), d(16), start_of_care=d(17), auth_units=()),
    Plan(
        "ep-1016",
        "pt-016",
        d(16),
        d(18),
        start_of_care=d(19),
        payer=("bcbs-tx", "PPO", "infusion_day"),
        patient_doses=True,
    ),
    Plan("ep-1017", "pt-017", d(25, 2), d(2), start_of_care=d(2), discontinued=(d(11), "transfer")),
    Plan("ep-1018", "pt-017", d(20), d(23), start_of_care=d(24)),  # the same patient, back home
    Plan("ep-1019", "pt-019", d(18), d(20), start_of_care=d(23), discontinued=(d(30), "patient_choice")),
    Plan("ep-1020", "pt-020", d(23), d(25), start_of_care=d(30)),  # its first visit is missed
]

FIRST_NAMES = ["Avery", "Blake", "Casey", "Devon", "Emerson", "Finley", "Gray", "Harper", "Indigo", "Jordan"]
LAST_NAMES = [
    "Ashdown",
    "Brightwater",
    "Calloway",
    "Dunmore",
    "Ellery",
    "Fairbanks",
    "Glenwright",
    "Holloway",
]
PRESCRIBERS = ["Dr. Ruth Okafor", "Dr. Samuel Brandt", "Dr. Leila Haddad"]
NURSES = ["RN Dana Whitfield", "RN Marcus Lee", "RN Priya Raman", "RN Tomas Ortega"]


def plan_episode(script: Script, plan: Plan) -> None:
    s, rng, tz, ep = script.services, script.rng, plan.tz, plan.episode_id
    received = local(plan.received_on, 10, rng.randint(0, 50), tz)
    payer = Payer(
        payer_id=plan.payer[0],
        plan=plan.payer[1],
        member_ref=f"M{rng.randint(100000, 999999)}",
        counting_basis=plan.payer[2],
    )
    prescriber = Prescriber(npi=npi(f"1{rng.randint(100000000, 999999999)}"), name=rng.choice(PRESCRIBERS))
    order = Order(
        drug="baclofen intrathecal",
        drug_code="J0475",
        route="intrathecal",
        dose=f"{rng.choice([100, 150, 200, 250])} mcg/day",
        dosing_interval_hours=0,
        start_date=plan.accepted_on or plan.received_on + timedelta(days=3),
    )
    diagnoses = ["G35"] if rng.random() < 0.6 else ["S14.109S", "R25.2"]
    script.soon(
        received,
        f"receive {ep}",
        partial(
            receive_referral,
            s,
            episode_id=ep,
            patient_ref=plan.patient_ref,
            patient=patient(plan.patient_ref),
            payer=payer,
            prescriber=prescriber,
            diagnosis_codes=diagnoses,
            order=order,
            occurred_at=received,
        ),
    )
    if plan.declined:
        declined = local(plan.received_on + timedelta(days=1), 15, 0, tz)
        script.soon(
            declined, f"decline {ep}", partial(s.referrals.decline_referral, ep, plan.declined, declined)
        )
        return
    assert plan.accepted_on and plan.start_of_care
    accepted = local(plan.accepted_on, 8, 30, tz)
    script.soon(
        accepted, f"accept {ep}", partial(s.referrals.accept_referral, ep, plan.accepted_on, accepted)
    )
    for number, units in enumerate(plan.auth_units, start=1):
        begin = plan.accepted_on + timedelta(days=(number - 1) * 14)
        recorded = local(begin - timedelta(days=2 if number > 1 else 0), 11, 15, tz)
        script.soon(
            recorded,
            f"authorize {ep}",
            partial(
                s.referrals.record_authorization,
                ep,
                auth_number=f"A-{ep[3:]}-{number}",
                start_date=begin,
                end_date=begin + timedelta(days=29),
                units=units,
                occurred_at=recorded,
            ),
        )
    end = min(plan.discontinued[0], MONTH_END) if plan.discontinued else MONTH_END
    if plan.start_of_care == plan.accepted_on:
        assessed = local(plan.start_of_care, 9, 0, tz)
    else:
        assessed = local(plan.start_of_care - timedelta(days=1), 11, 0, tz)
    script.soon(
        assessed,
        f"assess {ep}",
        partial(
            s.assessments.complete_assessment,
            ep,
            assessment_id=f"{ep}-as-1",
            kind="initial",
            assessed_on=assessed.date(),
            eligible=True,
            clinician=rng.choice(NURSES),
            findings={"home_safety": "adequate", "pump_site": "clean, healed"},
            occurred_at=assessed,
        ),
    )
    _deliveries(script, plan, end)
    _visits(script, plan, end)
    if plan.patient_doses:
        day = plan.start_of_care + timedelta(days=1)
        while day <= end:
            if rng.random() < 0.85:  # patients forget to log now and then
                dosed = local(day, 20, rng.randint(0, 59), tz)
                script.soon(
                    dosed,
                    f"dose {ep}",
                    partial(s.visits.log_dose, ep, administered_on=day, by="patient", occurred_at=dosed),
                )
            day += timedelta(days=1)
    if plan.discontinued:
        on, reason = plan.discontinued
        stopped = local(on, 16, 0, tz)
        script.soon(
            stopped,
            f"discontinue {ep}",
            partial(
                s.referrals.discontinue_therapy, ep, discontinued_on=on, reason=reason, occurred_at=stopped
            ),
        )


def _deliveries(script: Script, plan: Plan, end: date) -> None:
    """Weekly from the start of care, each scheduled two days ahead: drug, supplies, the pump once."""
    s, rng, ep = script.services, script.rng, plan.episode_id
    assert plan.start_of_care
    day, number = plan.start_of_care, 1
    while day <= end:
        delivery_id, planned = f"{ep}-d{number}", _planning_time(plan, day)
        delivered = local(day, rng.randint(9, 12), rng.randint(0, 59), plan.tz)
        items = [Item("J0475", rng.randint(3, 5), "baclofen 10 mg"), Item("A4221", 1, "supplies, per week")]
        if number == 1:
            items.append(Item("E0781", 1, "ambulatory infusion pump"))
        script.soon(
            planned,
            f"schedule {delivery_id}",
            partial(
                s.deliveries.schedule_delivery,
                ep,
                delivery_id=delivery_id,
                scheduled_for=day,
                occurred_at=planned,
            ),
        )
        script.soon(
            delivered,
            f"deliver {delivery_id}",
            partial(
                s.deliveries.complete_delivery,
                ep,
                delivery_id=delivery_id,
                delivered_on=day,
                days_supply=7,
                items=items,
                occurred_at=delivered,
            ),
        )
        day, number = day + timedelta(days=7), number + 1


def _visits(script: Script, plan: Plan, end: date) -> None:
    """Start of care (2.5 to 3.5 hours), then weekly follow-ups; twice a week when the payer pays visits."""
    s, rng, ep = script.services, script.rng, plan.episode_id
    assert plan.start_of_care
    twice_weekly = plan.payer[2] == "visit_day"
    day, number = plan.start_of_care, 1
    while day <= end:
        visit_id = f"{ep}-v{number}"
        kind: VisitKind = "start_of_care" if number == 1 else "follow_up"
        planned = _planning_time(plan, day)
        started = local(day, 13 if number == 1 else 10, rng.choice([0, 15, 30]), plan.tz)
        minutes = rng.randint(150, 215) if number == 1 else rng.choice([60, 75, 90, 90, 165])
        script.soon(
            planned,
            f"schedule {visit_id}",
            partial(
                s.visits.schedule_visit,
                ep,
                visit_id=visit_id,
                scheduled_for=day,
                kind=kind,
                occurred_at=planned,
            ),
        )
        script.soon(
            started + timedelta(minutes=minutes),
            f"visit {visit_id}",
            partial(
                s.visits.complete_visit,
                ep,
                visit_id=visit_id,
                started_at=started,
                ended_at=started + timedelta(minutes=minutes),
                administered=True,
                nurse=rng.choice(NURSES),
            ),
        )
        step = (3 if number % 2 else 4) if twice_weekly else 7
        day, number = day + timedelta(days=step), number + 1


def _planning_time(plan: Plan, day: date) -> datetime:
    """Two days ahead, but never before the referral arrived."""
    return max(local(day - timedelta(days=2), 15, 0, plan.tz), local(plan.received_on, 14, 0, plan.tz))


def receive_referral(services: Services, *, patient: PatientDetails, **referral: Any) -> None:
    """A referral as a coordinator's screen sends it: the patient's details for a new patient only
    (a referral never changes a registered patient's details)."""
    try:
        services.referrals.patient_details(referral["patient_ref"])
    except NotFound:
        services.referrals.receive_referral(patient=patient, **referral)
    else:
        services.referrals.receive_referral(**referral)


CITIES = [("Fargo", "ND", "58102"), ("Bismarck", "ND", "58501"), ("Moorhead", "MN", "56560")]


def patient(patient_ref: str) -> PatientDetails:
    """Made-up demographics (never printed); the same patient_ref always gives the same person.
    The address is written as the 837P needs it: street, city, state and ZIP."""
    rng = random.Random(patient_ref)
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    birth_date = date(rng.randint(1945, 1995), rng.randint(1, 12), rng.randint(1, 28))
    street = f"{rng.randint(1, 999)} {rng.choice(['Elm', 'Harbor', 'Mill', 'Ridge'])} Street"
    phone = f"555-{rng.randint(1000, 9999)}"
    city, state, postal_code = rng.choice(CITIES)
    return PatientDetails(name, birth_date, f"{street}, {city}, {state} {postal_code}", phone)


def npi(digits: str) -> str:
    """Ten digits made a valid NPI: the last one replaced by the Luhn check digit of the first nine
    with the 80840 prefix, as the NPI standard (and the 837P's validators) require."""
    total = 24  # the prefix 80840's contribution
    for position, digit in enumerate(reversed(digits[:9])):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return digits[:9] + str((10 - total % 10) % 10)
