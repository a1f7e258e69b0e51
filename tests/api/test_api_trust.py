"""Who did what, patient details, care teams, corrections and the access log, through the HTTP API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import PATIENT, Api, referral_body

VISIT = {
    "visit_id": "v-1",
    "kind": "start_of_care",
    "started_at": "2026-03-03T09:00:00-05:00",
    "ended_at": "2026-03-03T10:00:00-05:00",
    "administered": True,
    "nurse": "RN Lee",
}
DOSE = {"administered_on": "2026-03-04", "by": "nurse"}


def bearer(api: Api, role: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token(role, sub)}"}


def referral(api: Api, episode_id: str = "ep-1", patient_ref: str = "pt-1", **changes: Any) -> int:
    body = {**referral_body(patient_ref), **changes}
    coordinator = api.headers("coordinator")
    response = api.client.post(f"/referrals/{episode_id}/receive-referral", json=body, headers=coordinator)
    if response.status_code == 200:
        accepted = api.client.post(
            f"/referrals/{episode_id}/accept-referral",
            json={"accepted_on": "2026-03-02"},
            headers=coordinator,
        )
        assert accepted.status_code == 200
    return response.status_code


def assign(api: Api, episode_id: str, member: str, role: str = "nurse") -> None:
    body = {"member": member, "role": role, "assigned_on": "2026-03-02"}
    response = api.client.post(
        f"/referrals/{episode_id}/assign-care-team", json=body, headers=api.headers("coordinator")
    )
    assert response.status_code == 200, response.text


def test_every_event_stored_through_the_api_records_the_tokens_subject_and_role(api: Api) -> None:
    api.client.post(
        "/referrals/ep-1/receive-referral", json=referral_body(), headers=bearer(api, "coordinator", "alice")
    )
    [event] = [e for _, e in api.services.referrals.contract_events()]
    assert event.recorded_by is not None
    assert (event.recorded_by.subject, event.recorded_by.role) == ("alice", "coordinator")


def test_a_referral_never_rewrites_a_known_patient(api: Api) -> None:
    assert referral(api, "ep-1", "pt-1") == 200
    other = {**PATIENT, "name": "Mallory Intruder"}
    answer = api.client.post(
        "/referrals/ep-2/receive-referral",
        json={**referral_body("pt-1"), "patient": other},
        headers=api.headers("coordinator"),
    )
    assert answer.status_code == 409 and "change-patient-details" in answer.json()["detail"]
    assert "Mallory" not in answer.text and "Agnes" not in answer.text
    assert api.services.referrals.patient_details("pt-1").name == PATIENT["name"]


def test_who_may_not_read_a_ref_learns_nothing_of_it(api: Api) -> None:
    assert referral(api, "ep-1", "pt-1") == 200
    answers = set()
    for ref in ("pt-1", "pt-404"):
        for role in ("nurse", "pharmacist", "auditor"):
            body = referral_body(ref, with_patient=False)
            response = api.client.post(
                "/referrals/ep-7/receive-referral", json=body, headers=api.headers(role)
            )
            answers.add((role, response.status_code, response.text))
    assert {status for _, status, _ in answers} == {403}
    assert len(answers) == 3  # the same answer for a known ref and an unknown one


def test_patient_details_change_by_their_own_command_shown_by_field_name(api: Api) -> None:
    assert referral(api, "ep-1", "pt-1") == 200
    body = {"name": "Agnes Q. Smith", "phone": "555-0199"}
    changed = api.client.post(
        "/referrals/ep-1/change-patient-details", json=body, headers=api.headers("coordinator")
    )
    assert changed.status_code == 200, changed.text
    assert api.services.referrals.patient_details("pt-1").name == "Agnes Q. Smith"
    timeline = api.client.get("/episodes/ep-1/timeline", headers=api.headers("auditor"))
    [entry] = [e for e in timeline.json()["entries"] if e["event_type"] == "PatientDetailsChanged"]
    assert "name" in entry["summary"] and "phone" in entry["summary"]
    assert "Smith" not in timeline.text and "0199" not in timeline.text
    for role in ("nurse", "pharmacist", "auditor"):
        refused = api.client.post(
            "/referrals/ep-1/change-patient-details", json=body, headers=api.headers(role)
        )
        assert refused.status_code == 403


def test_patient_is_documented_as_required_for_a_new_patient(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["ReceiveReferral"]
    assert "required" in schema["properties"]["patient"]["description"]
    assert "new" in schema["properties"]["patient"]["description"]


def test_a_nurse_reads_and_writes_only_her_care_teams_episodes(api: Api) -> None:
    for episode_id in ("ep-1", "ep-2"):
        assert referral(api, episode_id, f"pt-{episode_id}") == 200
    lee, kim = bearer(api, "nurse", "rn-lee"), bearer(api, "nurse", "rn-kim")
    assign(api, "ep-1", "rn-lee")
    assert api.client.get("/episodes/ep-1", headers=lee).status_code == 200
    unknown = api.client.get("/episodes/ep-404", headers=lee)
    for path in ("/episodes/ep-2", "/episodes/ep-2/timeline", "/episodes/ep-2/ledger"):
        refused = api.client.get(path, headers=lee)
        assert refused.status_code == 404, path
        assert refused.json()["detail"] == unknown.json()["detail"].replace("ep-404", "ep-2")
    listed = api.client.get("/episodes", headers=lee).json()["episodes"]
    assert [e["episode_id"] for e in listed] == ["ep-1"]
    assert api.client.get("/episodes", headers=kim).json()["episodes"] == []
    assert api.client.post("/visits/ep-1/log-dose", json=DOSE, headers=lee).status_code == 200
    write = api.client.post("/visits/ep-2/log-dose", json=DOSE, headers=lee)
    assert (
        write.status_code == 404 and write.json()["detail"] == "episode ep-2 is unknown: no referral received"
    )
    for role in ("coordinator", "pharmacist", "auditor"):
        everything = api.client.get("/episodes", headers=api.headers(role)).json()["episodes"]
        assert [e["episode_id"] for e in everything] == ["ep-1", "ep-2"], role
    released = api.client.post(
        "/referrals/ep-1/release-care-team",
        json={"member": "rn-lee", "released_on": "2026-03-09"},
        headers=api.headers("coordinator"),
    )
    assert released.status_code == 200
    assert api.client.get("/episodes/ep-1", headers=lee).status_code == 404
    timeline = api.client.get("/episodes/ep-1/timeline", headers=api.headers("auditor")).json()["entries"]
    assert {"CareTeamAssigned", "CareTeamReleased"} <= {e["event_type"] for e in timeline}


def test_refused_reads_and_requests_are_in_the_access_log_with_their_reason(api: Api) -> None:
    assert referral(api, "ep-1", "pt-1") == 200
    lee = bearer(api, "nurse", "rn-lee")
    api.client.get("/episodes/ep-1", headers=lee)  # not on the care team
    api.client.get("/episodes")  # no token
    api.client.get("/claims", params={"from": "2026-03-01", "to": "2026-03-31"}, headers=lee)  # wrong role
    api.client.get(
        "/episodes/ep-1/ledger",
        params={"through": "2026-03-10", "as_of": "2099-01-01T00:00:00Z"},
        headers=api.headers("auditor"),
    )
    auditor = api.headers("auditor")
    refused = api.client.get("/access-log", params={"outcome": "refused"}, headers=auditor).json()["entries"]
    assert [(e["subject"], e["status"], e["endpoint"]) for e in refused] == [
        ("rn-lee", 404, "GET /episodes/{episode_id}"),
        ("", 401, "GET /episodes"),
        ("rn-lee", 403, "GET /claims"),
    ]
    assert all(e["outcome"] == "refused" and e["reason"] for e in refused)
    assert "care team" in refused[0]["reason"] and "bearer token" in refused[1]["reason"]
    allowed = api.client.get("/access-log", params={"outcome": "allowed"}, headers=auditor).json()["entries"]
    [ledger] = [e for e in allowed if e["endpoint"] == "GET /episodes/{episode_id}/ledger"]
    assert ledger["query"] == {"through": "2026-03-10", "as_of": "2099-01-01T00:00:00Z"}
    assert ledger["status"] == 200 and ledger["outcome"] == "allowed"
    assert api.client.get("/access-log", params={"outcome": "maybe"}, headers=auditor).status_code == 422


@pytest.mark.parametrize("service", ["deliveries", "visits"])
def test_a_completion_is_corrected_and_the_ledger_takes_the_last(api: Api, service: str) -> None:
    assert referral(api, "ep-1", "pt-1") == 200
    assign(api, "ep-1", "nurse-1")
    nurse, pharmacist = api.headers("nurse"), api.headers("pharmacist")
    assert api.client.post("/visits/ep-1/complete-visit", json=VISIT, headers=nurse).status_code == 200
    delivery = {
        "delivery_id": "d-1",
        "delivered_on": "2026-03-03",
        "days_supply": 3,
        "items": [{"code": "J0475", "units": 4}],
    }
    assert (
        api.client.post("/deliveries/ep-1/complete-delivery", json=delivery, headers=pharmacist).status_code
        == 200
    )
    if service == "deliveries":
        again = api.client.post("/deliveries/ep-1/complete-delivery", json=delivery, headers=pharmacist)
        assert again.status_code == 409
        path, body, headers = "/deliveries/ep-1/correct-delivery", {**delivery, "days_supply": 7}, pharmacist
    else:
        path, body, headers = (
            "/visits/ep-1/correct-visit",
            {**VISIT, "ended_at": "2026-03-03T12:00:00-05:00"},
            nurse,
        )
    corrected = api.client.post(path, json={**body, "correction": "entered wrongly"}, headers=headers)
    assert corrected.status_code == 200, corrected.text
    without_reason = api.client.post(path, json=body, headers=headers)
    assert without_reason.status_code == 422
    timeline = api.client.get("/episodes/ep-1/timeline", headers=api.headers("auditor")).json()["entries"]
    assert any("correction: entered wrongly" in e["summary"] for e in timeline)
    claims = api.client.get(
        "/claims", params={"from": "2026-03-01", "to": "2026-03-31"}, headers=api.headers("coordinator")
    ).json()
    codes = {line["code"] for payer in claims["payers"] for line in payer["lines"]}
    if service == "visits":
        assert "99602" in codes  # three hours now: the corrected visit counts
