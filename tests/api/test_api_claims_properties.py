"""Property of the live claims: for generated care driven through the API, after the biller submits
every claim the API calls for (`POST /claims/{episode_id}/submit`), then history changes (late
stays, voided deliveries, more care, discontinuations) and the biller submits again, every
period's action is NONE and the S9363 units submitted for a period equal the ledger's billable
days in it."""

from __future__ import annotations

import calendar
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from carecoord.config import Settings
from tests.support.api import Api, referral_body

PERIODS = ["2026-02", "2026-03", "2026-04", "2026-05"]
START = date(2026, 2, 20)
Call = tuple[str, str, dict[str, Any]]  # role, path, body


def day(offset: int) -> str:
    return (START + timedelta(days=offset)).isoformat()


def at(offset: int, hour: int = 10) -> str:
    return f"{day(offset)}T{hour:02d}:00:00-05:00"


@st.composite
def care(draw: st.DrawFn, episode_id: str, patient: str, new_patient: bool) -> tuple[list[Call], list[Call]]:
    """The commands of one episode's care, and those of history changing after the first claims.
    A referral carries the patient's details only for a new patient (it never changes them)."""
    offsets = st.integers(0, 80)
    accepted = draw(st.integers(0, 20))
    calls: list[Call] = [
        ("coordinator", f"/referrals/{episode_id}/receive-referral", referral_body(patient, new_patient)),
        ("coordinator", f"/referrals/{episode_id}/accept-referral", {"accepted_on": day(accepted)}),
        # The nurse of the calls below (`nurse-1`) on the episode's care team, or she may not act on it.
        (
            "coordinator",
            f"/referrals/{episode_id}/assign-care-team",
            {"member": "nurse-1", "role": "nurse", "assigned_on": day(accepted)},
        ),
        (
            "nurse",
            f"/assessments/{episode_id}/complete-assessment",
            {
                "assessment_id": "a-1",
                "kind": "initial",
                "assessed_on": day(accepted),
                "eligible": draw(st.sampled_from([True, True, True, False])),
                "clinician": "RN Lee",
            },
        ),
    ]
    for number in range(draw(st.integers(0, 2))):
        start = draw(offsets)
        calls.append(("coordinator", f"/referrals/{episode_id}/record-authorization", {
            "auth_number": f"A-{episode_id}-{number}", "start_date": day(start),
            "end_date": day(start + draw(st.integers(5, 70))),
            "units": draw(st.integers(3, 60))}))  # fmt: skip

    def visit(visit_id: str, kind: str, offset: int) -> Call:
        return ("nurse", f"/visits/{episode_id}/complete-visit", {
            "visit_id": visit_id, "kind": kind, "started_at": at(offset, 9),
            "ended_at": at(offset, draw(st.sampled_from([10, 12]))),
            "administered": True, "nurse": "RN Lee"})  # fmt: skip

    def delivery(delivery_id: str) -> Call:
        return ("pharmacist", f"/deliveries/{episode_id}/complete-delivery", {
            "delivery_id": delivery_id, "delivered_on": day(draw(offsets)),
            "days_supply": draw(st.integers(3, 30)),
            "items": [{"code": "J0475", "units": 4, "description": "baclofen"}]})  # fmt: skip

    calls.append(visit("v-soc", "start_of_care", accepted + draw(st.integers(0, 10))))
    calls += [delivery(f"d-{n}") for n in range(draw(st.integers(0, 3)))]
    calls += [visit(f"v-{n}", "follow_up", draw(offsets)) for n in range(draw(st.integers(0, 2)))]
    if draw(st.booleans()):
        held = draw(offsets)
        calls.append(
            (
                "coordinator",
                f"/complications/{episode_id}/hold-therapy",
                {"held_from": day(held), "reason": "x"},
            )
        )
        calls.append(
            ("coordinator", f"/complications/{episode_id}/resume-therapy", {"resumed_on": day(held + 3)})
        )
    late: list[Call] = []
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.sampled_from(["stay", "void", "delivery", "visit", "discontinue"]))
        if what == "stay":
            admitted = draw(offsets)
            late.append(
                (
                    "coordinator",
                    f"/complications/{episode_id}/admit-to-hospital",
                    {"admitted_on": day(admitted)},
                )
            )
            late.append(("coordinator", f"/complications/{episode_id}/discharge-from-hospital", {
                "discharged_on": day(admitted + draw(st.integers(0, 6)))}))  # fmt: skip
        elif what == "void":
            late.append(
                (
                    "pharmacist",
                    f"/deliveries/{episode_id}/void-delivery",
                    {"delivery_id": "d-0", "reason": "x"},
                )
            )
        elif what == "delivery":
            late.append(delivery(f"d-late-{len(late)}"))
        elif what == "visit":
            late.append(visit(f"v-late-{len(late)}", "follow_up", draw(offsets)))
        else:
            late.append(("coordinator", f"/referrals/{episode_id}/discontinue-therapy", {
                "discontinued_on": day(draw(offsets)), "reason": "completed"}))  # fmt: skip
    return calls, late


@st.composite
def practices(draw: st.DrawFn) -> tuple[list[Call], list[Call]]:
    """One or two patients, one or two episodes each; one patient's episodes share days."""
    calls: list[Call] = []
    late: list[Call] = []
    names = iter("abcd")
    for patient in [f"pt-{n}" for n in range(draw(st.integers(1, 2)))]:
        for n in range(draw(st.integers(1, 2))):
            first, then = draw(care(f"ep-{next(names)}", patient, new_patient=n == 0))
            calls += first
            late += then
    return calls, draw(st.permutations(late))


def send(api: Api, calls: list[Call]) -> None:
    for role, path, body in calls:
        status = api.client.post(path, json=body, headers=api.headers(role)).status_code
        assert status in (200, 409, 422), (path, status)  # care may break a domain rule: refused


def submit_everything(api: Api) -> int:
    submitted = 0
    for period in PERIODS:
        for claim in claims(api, period):
            if claim["action"] == "NONE":
                continue
            response = api.client.post(
                f"/claims/{claim['episode_id']}/submit",
                json={"period": period, "submitted_on": "2026-06-01"},
                headers=api.headers("biller"),
            )
            assert response.status_code == 200, response.text
            submitted += 1
    return submitted


def claims(api: Api, period: str) -> list[dict[str, Any]]:
    response = api.client.get("/claims", params={"period": period}, headers=api.headers("biller"))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["claims"]
    return found


def billable_days(api: Api, episode_id: str, period: str) -> int:
    year, month = map(int, period.split("-"))
    last = date(year, month, calendar.monthrange(year, month)[1])
    response = api.client.get(
        f"/episodes/{episode_id}/ledger", params={"through": last.isoformat()}, headers=api.headers("auditor")
    )
    assert response.status_code == 200, response.text
    return sum(1 for d in response.json()["days"] if d["billable"] and d["date"].startswith(period))


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(practices())
def test_after_submitting_every_claim_called_for_every_period_is_none_and_units_are_billable_days(
    practice: tuple[list[Call], list[Call]],
) -> None:
    calls, late = practice
    with tempfile.TemporaryDirectory() as folder, Api.start(Settings.embedded(Path(folder) / "var")) as api:
        send(api, calls)
        submit_everything(api)
        send(api, late)
        event(f"claims submitted after history changed: {min(submit_everything(api), 1)}+")
        for period in PERIODS:
            listed = claims(api, period)
            assert {claim["action"] for claim in listed} <= {"NONE"}, period
            units = {
                claim["episode_id"]: sum(
                    line["units"] for line in claim["submitted_lines"] if line["code"] == "S9363"
                )
                for claim in listed
            }
            episodes = api.client.get("/episodes", headers=api.headers("auditor")).json()["episodes"]
            for episode in episodes:
                episode_id = episode["episode_id"]
                assert units.get(episode_id, 0) == billable_days(api, episode_id, period), (
                    period,
                    episode_id,
                )
