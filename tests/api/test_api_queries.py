"""Queries: read-your-writes, the ledger (through, as_of), timeline, episodes' filters, claim lines."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime

from tests.support.api import Api, open_episode

DAY = {"through": "2026-03-10"}


def care(api: Api, episode_id: str = "ep-1") -> None:
    """Enough for billable days from 2026-03-03: eligible, start of care, a delivery, authorization."""
    nurse, pharmacist, coordinator = (
        api.headers("nurse"),
        api.headers("pharmacist"),
        api.headers("coordinator"),
    )
    calls = [
        (
            f"/assessments/{episode_id}/complete-assessment",
            nurse,
            {
                "assessment_id": "a-1",
                "kind": "initial",
                "assessed_on": "2026-03-02",
                "eligible": True,
                "clinician": "RN Lee",
            },
        ),
        (
            f"/visits/{episode_id}/complete-visit",
            nurse,
            {
                "visit_id": "v-1",
                "kind": "start_of_care",
                "started_at": "2026-03-03T09:00:00-05:00",
                "ended_at": "2026-03-03T12:00:00-05:00",
                "administered": True,
                "nurse": "RN Lee",
            },
        ),
        (
            f"/deliveries/{episode_id}/complete-delivery",
            pharmacist,
            {
                "delivery_id": "d-1",
                "delivered_on": "2026-03-03",
                "days_supply": 14,
                "items": [{"code": "J0475", "units": 4, "description": "baclofen 10 mg"}],
            },
        ),
        (
            f"/referrals/{episode_id}/record-authorization",
            coordinator,
            {"auth_number": "A-1", "start_date": "2026-03-01", "end_date": "2026-03-31", "units": 30},
        ),
    ]
    for path, headers, body in calls:
        response = api.client.post(path, json=body, headers=headers)
        assert response.status_code == 200, response.text


def test_a_query_sees_the_command_that_returned_before_it(api: Api) -> None:
    open_episode(api)
    care(api)
    ledger = api.client.get("/episodes/ep-1/ledger", params=DAY, headers=api.headers("nurse")).json()
    assert ledger["status"] == "active" and ledger["start_of_care"] == "2026-03-03"
    assert [(d["date"], d["reason"]) for d in ledger["days"][:3]] == [
        ("2026-03-02", "BEFORE_SOC"),
        ("2026-03-03", "BILLABLE"),
        ("2026-03-04", "BILLABLE"),
    ]
    assert ledger["billable_days"] == 8 and ledger["days"][1]["authorization"] == "A-1"
    hold = api.client.post(
        "/complications/ep-1/hold-therapy",
        json={"held_from": "2026-03-08", "reason": "fever"},
        headers=api.headers("coordinator"),
    )
    assert hold.status_code == 200
    again = api.client.get("/episodes/ep-1/ledger", params=DAY, headers=api.headers("nurse")).json()
    assert [d["reason"] for d in again["days"][-3:]] == ["ON_HOLD"] * 3


def test_as_of_answers_what_was_known_then(api: Api) -> None:
    open_episode(api)
    care(api)
    time.sleep(0.01)
    before_hold = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    api.client.post(
        "/complications/ep-1/hold-therapy",
        json={"held_from": "2026-03-08", "reason": "fever"},
        headers=api.headers("coordinator"),
    )
    auditor = api.headers("auditor")
    then = api.client.get(
        "/episodes/ep-1/ledger", params={**DAY, "as_of": before_hold}, headers=auditor
    ).json()
    now = api.client.get("/episodes/ep-1/ledger", params=DAY, headers=auditor).json()
    assert then["as_of"] == before_hold and then["billable_days"] == 8 and now["billable_days"] == 5
    assert "ON_HOLD" not in {d["reason"] for d in then["days"]}
    timeline = api.client.get(
        "/episodes/ep-1/timeline", params={"as_of": before_hold}, headers=auditor
    ).json()
    assert "TherapyHeld" not in [e["event_type"] for e in timeline["entries"]]
    live = api.client.get("/episodes/ep-1/timeline", headers=auditor).json()
    assert [e["event_type"] for e in live["entries"]][-1] == "TherapyHeld"
    nobody = api.client.get(
        "/episodes/ep-1/ledger", params={"as_of": "2000-01-01T00:00:00Z"}, headers=auditor
    )
    assert nobody.status_code == 404 and "was not known as of" in nobody.json()["detail"]
    refused = api.client.get(
        "/episodes/ep-1/ledger", params={"as_of": before_hold}, headers=api.headers("coordinator")
    )
    assert refused.status_code == 403


def test_the_ledger_through_today_by_default_and_any_other_day(api: Api) -> None:
    open_episode(api)
    nurse = api.headers("nurse")
    default = api.client.get("/episodes/ep-1/ledger", headers=nurse).json()
    assert default["through"] == datetime.now().date().isoformat()  # the server's local date
    short = api.client.get("/episodes/ep-1/ledger", params={"through": "2026-03-04"}, headers=nurse).json()
    assert [d["date"] for d in short["days"]] == ["2026-03-02", "2026-03-03", "2026-03-04"]


def test_episodes_filters(api: Api) -> None:
    open_episode(api, "ep-1", "pt-1")
    open_episode(api, "ep-2", "pt-2")
    api.client.post(
        "/referrals/ep-2/discontinue-therapy",
        json={"discontinued_on": "2026-03-05", "reason": "transfer"},
        headers=api.headers("coordinator"),
    )
    pharmacist = api.headers("pharmacist")

    def ids(**params: object) -> list[str]:
        response = api.client.get("/episodes", params=params, headers=pharmacist)
        assert response.status_code == 200, response.text
        return [e["episode_id"] for e in response.json()["episodes"]]

    assert ids() == ["ep-1", "ep-2"]
    assert ids(status="discontinued") == ["ep-2"]
    assert ids(patient_ref="pt-1") == ["ep-1"]
    assert ids(payer="bcbs-nd") == ["ep-1", "ep-2"] and ids(payer="aetna") == []
    assert ids(**{"from": "2026-03-10", "to": "2026-03-20"}) == ["ep-1"]  # ep-2's days end on 03-05
    assert ids(limit=1, offset=1) == ["ep-2"]


def test_claim_lines_for_a_period_per_payer_in_json_and_csv(api: Api) -> None:
    open_episode(api)
    care(api)
    coordinator = api.headers("coordinator")
    period = {"from": "2026-03-01", "to": "2026-03-31"}
    claims = api.client.get("/claims", params=period, headers=coordinator).json()
    [payer] = claims["payers"]
    assert (claims["from"], claims["to"], payer["payer_id"]) == ("2026-03-01", "2026-03-31", "bcbs-nd")
    codes = [(line["code"], line["from"], line["units"]) for line in payer["lines"]]
    assert ("99601", "2026-03-03", 1) in codes and ("J0475", "2026-03-03", 4) in codes
    assert ("99602", "2026-03-03", 1) in codes  # a three-hour visit
    assert any(code == "S9363" for code, _, _ in codes)
    text = api.client.get("/claims", params={**period, "format": "csv"}, headers=coordinator)
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert len(rows) == len(payer["lines"]) and rows[0]["payer_id"] == "bcbs-nd"
    assert (
        api.client.get("/claims", params={**period, "payer": "aetna"}, headers=coordinator).json()["payers"]
        == []
    )
    outside = api.client.get(
        "/claims", params={"from": "2026-05-01", "to": "2026-05-31"}, headers=coordinator
    )
    assert outside.json()["payers"] == []
    backwards = api.client.get(
        "/claims", params={"from": "2026-03-31", "to": "2026-03-01"}, headers=coordinator
    )
    assert backwards.status_code == 422 and backwards.json()["detail"][0]["loc"] == ["query", "to"]


def test_dead_letters_are_listed(api: Api) -> None:
    assert api.client.get("/dead-letters", headers=api.headers("coordinator")).json() == {"dead_letters": []}
