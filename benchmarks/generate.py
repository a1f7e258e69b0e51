"""A realistic synthetic history in the event contract, for benchmarks (deterministic by seed).

Each episode runs about three months: referral, acceptance (a few declined), authorizations,
assessments, weekly deliveries, start of care and follow-up visits, patient-logged doses, now and
then a complication with a hold, a hospital stay, a void, a correction, and a discontinuation.
Events are written in recorded order interleaved across episodes, as a service log would be.
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

EPOCH = date(2026, 1, 5)
LOCAL = timezone(timedelta(hours=-5))


def _at(day: date, hour: int) -> str:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=LOCAL).isoformat()


class EpisodeWriter:
    def __init__(self, rng: random.Random, n: int, patients: int) -> None:
        self.rng = rng
        self.episode_id = f"ep-{n:07d}"
        self.patient_ref = f"pt-{rng.randrange(patients):07d}"
        self.events: list[tuple[str, dict[str, Any]]] = []

    def add(self, source: str, event_type: str, day: date, data: dict[str, Any], late_days: int = 0) -> None:
        recorded = datetime(day.year, day.month, day.day, 15, tzinfo=UTC) + timedelta(
            days=late_days, seconds=self.rng.randrange(3600)
        )
        self.events.append(
            (
                recorded.isoformat(),
                {
                    "event_id": str(uuid.UUID(int=self.rng.getrandbits(128))),
                    "event_type": event_type,
                    "schema_version": 1,
                    "source": source,
                    "episode_id": self.episode_id,
                    "occurred_at": _at(day, 9),
                    "recorded_at": recorded.isoformat(),
                    "data": data,
                },
            )
        )


def episode_events(
    rng: random.Random, n: int, patients: int, target: int, spread: int = 300
) -> list[tuple[str, dict[str, Any]]]:
    w = EpisodeWriter(rng, n, patients)
    start = EPOCH + timedelta(days=rng.randrange(spread))
    basis = rng.choices(["access", "infusion_day", "visit_day"], [8, 3, 1])[0]
    w.add(
        "referrals",
        "ReferralReceived",
        start,
        {
            "patient_ref": w.patient_ref,
            "payer": {
                "payer_id": rng.choice(["BCBS-ND", "BCBS-TX", "MEDICARE", "AETNA"]),
                "plan": "PPO",
                "member_ref": f"m-{n}",
                "counting_basis": basis,
            },
            "prescriber": {"npi": "1234567893", "name": "Dr. Rivera"},
            "diagnosis_codes": ["G35"],
            "order": {
                "drug": "baclofen",
                "drug_code": "J0475",
                "route": "intrathecal",
                "dose": "400 mcg/day",
                "dosing_interval_hours": rng.choice([0, 24, 24, 24, 48]),
                "start_date": start.isoformat(),
            },
        },
    )
    if rng.random() < 0.04:
        w.add("referrals", "ReferralDeclined", start + timedelta(days=1), {"reason": "out of network"})
        return w.events
    accepted = start + timedelta(days=rng.randrange(1, 4))
    w.add("referrals", "ReferralAccepted", accepted, {"accepted_on": accepted.isoformat()})
    soc = accepted + timedelta(days=rng.randrange(1, 5))
    w.add(
        "referrals",
        "AuthorizationRecorded",
        accepted,
        {
            "auth_number": f"A-{n}",
            "code": "S9363",
            "start_date": soc.isoformat(),
            "end_date": (soc + timedelta(days=59)).isoformat(),
            "units": rng.choice([30, 60, 60, 60]),
        },
    )
    w.add(
        "assessments",
        "AssessmentCompleted",
        soc - timedelta(days=1),
        {
            "assessment_id": f"as-{n}",
            "kind": "initial",
            "assessed_on": (soc - timedelta(days=1)).isoformat(),
            "eligible": rng.random() > 0.03,
            "clinician": "RN Okafor",
            "findings": {"home_safe": True},
        },
    )
    day = soc
    visit_no = delivery_no = 0
    while len(w.events) < target - 4:
        delivery_no += 1
        delivery_id = f"d-{n}-{delivery_no}"
        w.add(
            "deliveries",
            "DeliveryScheduled",
            day - timedelta(days=2),
            {"delivery_id": delivery_id, "scheduled_for": day.isoformat()},
        )
        w.add(
            "deliveries",
            "DeliveryCompleted",
            day,
            {
                "delivery_id": delivery_id,
                "delivered_on": day.isoformat(),
                "days_supply": 7,
                "items": [
                    {"code": "J0475", "description": "baclofen 10 mg", "units": 4},
                    {"code": "A4221", "description": "supplies", "units": 7},
                ],
            },
        )
        if rng.random() < 0.03:
            w.add(
                "deliveries",
                "DeliveryVoided",
                day + timedelta(days=1),
                {"delivery_id": delivery_id, "reason": "wrong address"},
            )
        visit_no += 1
        visit_id = f"v-{n}-{visit_no}"
        minutes = rng.choice([60, 90, 150, 160, 215])
        started = datetime(day.year, day.month, day.day, 10, tzinfo=LOCAL)
        w.add(
            "visits",
            "VisitScheduled",
            day - timedelta(days=3),
            {"visit_id": visit_id, "scheduled_for": day.isoformat(), "kind": "follow_up"},
        )
        w.add(
            "visits",
            "VisitCompleted",
            day,
            {
                "visit_id": visit_id,
                "kind": "start_of_care" if visit_no == 1 else "follow_up",
                "visit_date": day.isoformat(),
                "started_at": started.isoformat(),
                "ended_at": (started + timedelta(minutes=minutes)).isoformat(),
                "administered": True,
                "nurse": "RN Okafor",
            },
        )
        for offset in range(1, 7, 2 if basis == "access" else 1):
            w.add(
                "visits",
                "DoseAdministered",
                day + timedelta(days=offset),
                {"administered_on": (day + timedelta(days=offset)).isoformat(), "by": "patient"},
            )
        roll = rng.random()
        if roll < 0.05:
            w.add(
                "complications",
                "ComplicationReported",
                day + timedelta(days=2),
                {
                    "complication_id": f"c-{n}-{visit_no}",
                    "kind": "site_irritation",
                    "severity": "mild",
                    "onset_on": (day + timedelta(days=2)).isoformat(),
                },
            )
            w.add(
                "complications",
                "TherapyHeld",
                day + timedelta(days=2),
                {"held_from": (day + timedelta(days=2)).isoformat(), "reason": "site irritation"},
            )
            w.add(
                "complications",
                "TherapyResumed",
                day + timedelta(days=4),
                {"resumed_on": (day + timedelta(days=4)).isoformat()},
            )
            w.add(
                "complications",
                "ComplicationResolved",
                day + timedelta(days=4),
                {
                    "complication_id": f"c-{n}-{visit_no}",
                    "resolved_on": (day + timedelta(days=4)).isoformat(),
                },
            )
        elif roll < 0.08:
            w.add(
                "complications",
                "HospitalAdmitted",
                day + timedelta(days=3),
                {"admitted_on": (day + timedelta(days=3)).isoformat(), "facility_kind": "hospital"},
                late_days=rng.choice([0, 5]),
            )
            w.add(
                "complications",
                "HospitalDischarged",
                day + timedelta(days=6),
                {"discharged_on": (day + timedelta(days=6)).isoformat()},
            )
        day += timedelta(days=7)
    end = day - timedelta(days=rng.randrange(1, 7))
    w.add(
        "referrals",
        "TherapyDiscontinued",
        end,
        {"discontinued_on": end.isoformat(), "reason": rng.choice(["completed", "physician_order"])},
    )
    return w.events


def history(events: int, episodes: int, seed: int = 7, spread: int = 300) -> Iterator[str]:
    """About `events` events over `episodes` episodes, in recorded order, one JSON line each.
    Episodes start within `spread` days of EPOCH (a small spread: most are active at once)."""
    rng = random.Random(seed)
    per_episode = max(8, events // episodes) + 2  # episodes stop a few events short of it
    patients = int(episodes * 0.9)  # one patient in ten has a second episode
    chunk = 500  # episodes generated and interleaved at a time, to keep memory flat
    for first in range(0, episodes, chunk):
        batch = []
        for n in range(first, min(first + chunk, episodes)):
            batch.extend(episode_events(rng, n, patients, per_episode, spread))
        batch.sort(key=lambda pair: pair[0])
        for _, event in batch:
            yield json.dumps(event)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--episodes", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    count = 0
    with args.output.open("w") as out:
        for line in history(args.events, args.episodes, args.seed):
            out.write(line + "\n")
            count += 1
    print(f"wrote {count} events to {args.output}")


if __name__ == "__main__":
    main()
