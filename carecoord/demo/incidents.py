"""What makes the demo's month interesting: complications, a hold, a late-reported hospital stay,
corrections, order changes, a not-eligible reassessment, and commands the services refuse."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from carecoord.demo.script import Script, d, local
from services.deliveries.domainmodel import Item

ITEMS = [Item("J0475", 4, "baclofen 10 mg"), Item("A4221", 1, "supplies, per week")]


def special_cases(script: Script) -> None:
    s = script.services
    c, v = s.complications, s.visits
    # Order changes: a dose increase; and an interval too long for a per diem (over 72 hours).
    script.soon(
        local(d(16), 12),
        "change order",
        partial(
            s.referrals.change_order,
            "ep-1002",
            effective_on=d(16),
            dose="300 mcg/day",
            occurred_at=local(d(16), 12),
        ),
    )
    script.soon(
        local(d(20), 12),
        "change order",
        partial(
            s.referrals.change_order,
            "ep-1010",
            effective_on=d(20),
            dosing_interval_hours=96,
            occurred_at=local(d(20), 12),
        ),
    )
    # A caregiver gives a few doses for ep-1002.
    for day in (d(5), d(6), d(12), d(19)):
        script.soon(
            local(day, 19),
            "dose",
            partial(v.log_dose, "ep-1002", administered_on=day, by="caregiver", occurred_at=local(day, 19)),
        )

    # ep-1004: site irritation; therapy held for three days, then resumed.
    script.soon(
        local(d(10), 11),
        "complication",
        partial(
            c.report_complication,
            "ep-1004",
            complication_id="ep-1004-c1",
            kind="site_irritation",
            severity="moderate",
            onset_on=d(10),
            occurred_at=local(d(10), 11),
        ),
    )
    script.soon(
        local(d(10), 12),
        "hold",
        partial(
            c.hold_therapy,
            "ep-1004",
            held_from=d(10),
            reason="site irritation at the catheter exit",
            occurred_at=local(d(10), 12),
        ),
    )
    script.soon(
        local(d(13), 10),
        "resolve",
        partial(
            c.resolve_complication,
            "ep-1004",
            complication_id="ep-1004-c1",
            resolved_on=d(13),
            occurred_at=local(d(13), 10),
        ),
    )
    script.soon(
        local(d(13), 11),
        "resume",
        partial(c.resume_therapy, "ep-1004", resumed_on=d(13), occurred_at=local(d(13), 11)),
    )

    # ep-1006: a line infection on the 14th, and a hospital stay the family reports on the 19th.
    script.soon(
        local(d(14), 18),
        "complication",
        partial(
            c.report_complication,
            "ep-1006",
            complication_id="ep-1006-c1",
            kind="line_infection",
            severity="severe",
            onset_on=d(14),
            occurred_at=local(d(14), 18),
        ),
    )
    script.at(
        local(d(19), 9, 40),
        "late admission",
        partial(
            c.admit_to_hospital,
            "ep-1006",
            admitted_on=d(14),
            facility_kind="hospital",
            occurred_at=local(d(14), 21, 30),
        ),
    )
    script.at(
        local(d(19), 9, 42),
        "late discharge",
        partial(c.discharge_from_hospital, "ep-1006", discharged_on=d(18), occurred_at=local(d(18), 12)),
    )
    script.soon(
        local(d(20), 10),
        "resolve",
        partial(
            c.resolve_complication,
            "ep-1006",
            complication_id="ep-1006-c1",
            resolved_on=d(20),
            occurred_at=local(d(20), 10),
        ),
    )

    # ep-1007: the second delivery was entered twice; the copy is voided the next morning.
    script.soon(
        local(d(16), 17),
        "duplicate delivery",
        partial(
            s.deliveries.complete_delivery,
            "ep-1007",
            delivery_id="ep-1007-d2-copy",
            delivered_on=d(16),
            days_supply=7,
            items=ITEMS,
            occurred_at=local(d(16), 17),
        ),
    )
    script.soon(
        local(d(17), 9),
        "void",
        partial(
            s.deliveries.void_delivery,
            "ep-1007",
            delivery_id="ep-1007-d2-copy",
            reason="entered twice",
            occurred_at=local(d(17), 9),
        ),
    )

    # ep-1014: the reassessment finds the patient no longer eligible; the physician stops therapy.
    script.soon(
        local(d(23), 11),
        "reassess",
        partial(
            s.assessments.complete_assessment,
            "ep-1014",
            assessment_id="ep-1014-as-2",
            kind="reassessment",
            assessed_on=d(23),
            eligible=False,
            clinician="RN Priya Raman",
            findings={"reason": "spasticity controlled on oral therapy"},
            occurred_at=local(d(23), 11),
        ),
    )

    # ep-1016: an extra delivery fails (nobody home).
    script.soon(
        local(d(24), 9),
        "schedule",
        partial(
            s.deliveries.schedule_delivery,
            "ep-1016",
            delivery_id="ep-1016-d2a",
            scheduled_for=d(25),
            occurred_at=local(d(24), 9),
        ),
    )
    script.soon(
        local(d(25), 14),
        "fail",
        partial(
            s.deliveries.fail_delivery,
            "ep-1016",
            delivery_id="ep-1016-d2a",
            reason="nobody home",
            occurred_at=local(d(25), 14),
        ),
    )

    # ep-1020: a first start-of-care attempt is missed.
    script.soon(
        local(d(26), 9),
        "schedule",
        partial(
            v.schedule_visit,
            "ep-1020",
            visit_id="ep-1020-v0",
            scheduled_for=d(27),
            kind="start_of_care",
            occurred_at=local(d(26), 9),
        ),
    )
    script.soon(
        local(d(27), 14),
        "miss",
        partial(
            v.miss_visit,
            "ep-1020",
            visit_id="ep-1020-v0",
            reason="patient not home",
            occurred_at=local(d(27), 14),
        ),
    )


def refusals(script: Script) -> None:
    """Commands the services refuse, as they should; nothing of them is stored."""
    s = script.services
    tries: list[tuple[datetime, str, Callable[[], object]]] = [
        (
            local(d(5), 15),
            "a delivery for declined ep-1005",
            partial(
                s.deliveries.complete_delivery,
                "ep-1005",
                delivery_id="ep-1005-d1",
                delivered_on=d(4),
                days_supply=7,
                items=ITEMS,
            ),
        ),
        (local(d(12), 9), "accept declined ep-1012", partial(s.referrals.accept_referral, "ep-1012", d(12))),
        (
            local(d(12), 10),
            "resume ep-1001 without a hold",
            partial(s.complications.resume_therapy, "ep-1001", resumed_on=d(12)),
        ),
        (
            local(d(19), 8),
            "discharge ep-1001 without an admission",
            partial(s.complications.discharge_from_hospital, "ep-1001", discharged_on=d(19)),
        ),
        (
            local(d(21), 10),
            "a delivery of 0 days for ep-1001",
            partial(
                s.deliveries.complete_delivery,
                "ep-1001",
                delivery_id="ep-1001-x",
                delivered_on=d(21),
                days_supply=0,
                items=ITEMS,
            ),
        ),
        (
            local(d(26), 10),
            "a visit for ep-1014 after its discontinuation",
            partial(
                s.visits.complete_visit,
                "ep-1014",
                visit_id="ep-1014-x",
                kind="follow_up",
                started_at=local(d(26), 10),
                ended_at=local(d(26), 11),
                administered=True,
                nurse="RN Marcus Lee",
            ),
        ),
        (
            local(d(28), 10),
            "a visit of ep-1001 that ends before it starts",
            partial(
                s.visits.complete_visit,
                "ep-1001",
                visit_id="ep-1001-y",
                kind="follow_up",
                started_at=local(d(28), 11),
                ended_at=local(d(28), 10),
                administered=True,
                nurse="RN Marcus Lee",
            ),
        ),
        (
            local(d(29), 10),
            "a delivery for ep-1999, never referred",
            partial(s.deliveries.schedule_delivery, "ep-1999", delivery_id="x", scheduled_for=d(30)),
        ),
    ]
    for moment, label, action in tries:
        script.at(moment, label, action, refused=True)
