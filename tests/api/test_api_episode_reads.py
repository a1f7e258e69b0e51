"""The structured episode reads over HTTP: authorizations with units used, deliveries, visits and
complications by state, the timeline's event data, the episodes' count and page links, and the
calendar page; each read by the episode readers, `as_of` for auditors, every read logged."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.api import Api, open_episode

THROUGH = {"through": "2026-03-20"}


def post(api: Api, role: str, path: str, body: dict[str, Any]) -> None:
    response = api.client.post(path, json=body, headers=api.headers(role))
    assert response.status_code == 200, response.text


def visit(visit_id: str, day: str, kind: str = "follow_up", minutes: int = 60) -> dict[str, Any]:
    return {
        "visit_id": visit_id,
        "kind": kind,
        "started_at": f"{day}T09:00:00-05:00",
        "ended_at": f"{day}T{9 + minutes // 60:02d}:{minutes % 60:02d}:00-05:00",
        "administered": True,
        "nurse": "RN Lee",
    }


def delivery(delivery_id: str, day: str, days: int) -> dict[str, Any]:
    items = [{"code": "J0475", "units": 4, "description": "baclofen 10 mg"}, {"code": "A4221", "units": 1}]
    return {"delivery_id": delivery_id, "delivered_on": day, "days_supply": days, "items": items}


def authorization(number: str, start: str, end: str, units: int, code: str = "S9363") -> dict[str, Any]:
    return {"auth_number": number, "start_date": start, "end_date": end, "units": units, "code": code}


def complication(complication_id: str, kind: str, severity: str, onset_on: str) -> dict[str, Any]:
    return {"complication_id": complication_id, "kind": kind, "severity": severity, "onset_on": onset_on}


def a_month_of_care(api: Api, e: str = "ep-1") -> None:
    """Every state of a delivery, a visit and a complication, and three authorizations."""
    assessment = {"assessment_id": "a-1", "kind": "initial", "assessed_on": "2026-03-02"}
    calls: list[tuple[str, str, dict[str, Any]]] = [
        (
            "coordinator",
            "referrals/record-authorization",
            authorization("A-1", "2026-03-01", "2026-03-10", 5),
        ),
        (
            "coordinator",
            "referrals/record-authorization",
            authorization("A-2", "2026-03-01", "2026-04-30", 30),
        ),
        (
            "coordinator",
            "referrals/record-authorization",
            authorization("P-1", "2026-03-01", "2026-03-31", 1, "E0781"),
        ),
        ("nurse", "assessments/complete-assessment", {**assessment, "eligible": True, "clinician": "RN Lee"}),
        ("nurse", "visits/complete-visit", visit("v-1", "2026-03-03", "start_of_care", 150)),
        (
            "nurse",
            "visits/schedule-visit",
            {"visit_id": "v-2", "scheduled_for": "2026-03-10", "kind": "follow_up"},
        ),
        ("nurse", "visits/miss-visit", {"visit_id": "v-2", "reason": "patient out"}),
        ("nurse", "visits/complete-visit", visit("v-3", "2026-03-11")),
        ("nurse", "visits/void-visit", {"visit_id": "v-3", "reason": "entered twice"}),
        (
            "nurse",
            "visits/schedule-visit",
            {"visit_id": "v-4", "scheduled_for": "2026-03-24", "kind": "teaching"},
        ),
        ("pharmacist", "deliveries/schedule-delivery", {"delivery_id": "d-1", "scheduled_for": "2026-03-03"}),
        ("pharmacist", "deliveries/complete-delivery", delivery("d-1", "2026-03-03", 14)),
        ("pharmacist", "deliveries/schedule-delivery", {"delivery_id": "d-2", "scheduled_for": "2026-03-16"}),
        ("pharmacist", "deliveries/fail-delivery", {"delivery_id": "d-2", "reason": "nobody home"}),
        ("pharmacist", "deliveries/complete-delivery", delivery("d-3", "2026-03-17", 7)),
        ("pharmacist", "deliveries/void-delivery", {"delivery_id": "d-3", "reason": "wrong lot"}),
        ("pharmacist", "deliveries/schedule-delivery", {"delivery_id": "d-4", "scheduled_for": "2026-03-18"}),
        (
            "nurse",
            "complications/report-complication",
            complication("c-1", "site_irritation", "mild", "2026-03-05"),
        ),
        (
            "nurse",
            "complications/resolve-complication",
            {"complication_id": "c-1", "resolved_on": "2026-03-08"},
        ),
        (
            "nurse",
            "complications/report-complication",
            complication("c-2", "bruising", "moderate", "2026-03-12"),
        ),
    ]
    for role, command, body in calls:
        service, name = command.split("/")
        post(api, role, f"/{service}/{e}/{name}", body)


@pytest.fixture
def cared(any_api: Api) -> Api:
    open_episode(any_api)
    a_month_of_care(any_api)
    return any_api


def get(api: Api, path: str, role: str = "nurse", **params: Any) -> Any:
    response = api.client.get(path, params=params or None, headers=api.headers(role))
    assert response.status_code == 200, response.text
    return response.json() if response.headers["content-type"].startswith("application/json") else response


def ids(answer: dict[str, Any], key: str) -> dict[str, list[str]]:
    """The ids listed under each state of a structured read."""
    return {
        state: [r[key] for r in records] for state, records in answer.items() if isinstance(records, list)
    }


def test_authorizations_with_units_used_by_the_ledger(cared: Api) -> None:
    found = get(cared, "/episodes/ep-1/authorizations", **THROUGH)
    ledger = get(cared, "/episodes/ep-1/ledger", **THROUGH)
    assert (found["through"], found["as_of"]) == ("2026-03-20", None)
    assert [
        (a["auth_number"], a["units"], a["units_used"], a["units_left"]) for a in found["authorizations"]
    ] == [
        ("A-1", 5, 5, 0),
        ("A-2", 30, ledger["billable_days"] - 5, 35 - ledger["billable_days"]),
    ]
    paid = [d["authorization"] for d in ledger["days"] if d["billable"]]
    assert paid.count("A-1") == 5 and paid.count("A-2") == ledger["billable_days"] - 5
    [other] = found["other_codes"]
    assert (other["auth_number"], other["code"], other["units_used"], other["units_left"]) == (
        "P-1",
        "E0781",
        None,
        None,
    )
    assert [s["event_type"] for s in other["history"]] == ["AuthorizationRecorded"]
    assert ledger["billable_days"] == 14  # 03-03 to 03-16: d-1's supply (d-3 was voided)
    earlier = get(cared, "/episodes/ep-1/authorizations", through="2026-03-10")
    assert [a["units_used"] for a in earlier["authorizations"]] == [5, 3]


def test_deliveries_visits_and_complications_by_state(cared: Api) -> None:
    deliveries = get(cared, "/episodes/ep-1/deliveries", role="pharmacist")
    assert ids(deliveries, "delivery_id") == {
        "scheduled": ["d-4"], "completed": ["d-1"], "failed": ["d-2"], "voided": ["d-3"],
    }  # fmt: skip
    [d1] = deliveries["completed"]
    assert (d1["delivered_on"], d1["days_supply"], d1["covered_through"], d1["scheduled_for"]) == (
        "2026-03-03", 14, "2026-03-16", "2026-03-03",
    )  # fmt: skip
    assert [(i["code"], i["units"]) for i in d1["items"]] == [("J0475", 4), ("A4221", 1)]
    assert [s["event_type"] for s in d1["history"]] == ["DeliveryScheduled", "DeliveryCompleted"]
    assert d1["completion_event_id"] == d1["history"][1]["event_id"]
    assert (
        deliveries["voided"][0]["void_reason"] == "wrong lot"
        and deliveries["failed"][0]["failure_reason"] == "nobody home"
    )

    visits = get(cared, "/episodes/ep-1/visits", role="coordinator")
    assert ids(visits, "visit_id") == {
        "scheduled": ["v-4"], "completed": ["v-1"], "missed": ["v-2"], "voided": ["v-3"],
    }  # fmt: skip
    [v1] = visits["completed"]
    assert (v1["kind"], v1["visit_date"], v1["minutes"], v1["administered"], v1["nurse"]) == (
        "start_of_care", "2026-03-03", 150, True, "RN Lee",
    )  # fmt: skip
    assert (
        visits["scheduled"][0]["kind"] == "teaching" and visits["missed"][0]["missed_reason"] == "patient out"
    )

    complications = get(cared, "/episodes/ep-1/complications", role="auditor")
    [resolved], [still_open] = complications["resolved"], complications["open"]
    fields = ("complication_id", "kind", "severity", "onset_on", "resolved_on")
    assert [resolved[f] for f in fields] == ["c-1", "site_irritation", "mild", "2026-03-05", "2026-03-08"]
    assert (still_open["complication_id"], still_open["resolved_on"]) == ("c-2", None)


def test_timeline_entries_carry_their_events_data(cared: Api) -> None:
    stored = get(cared, "/episodes/ep-1/timeline")["entries"]
    by_type = {e["event_type"]: e["data"] for e in stored}
    assert by_type["DeliveryFailed"] == {"delivery_id": "d-2", "reason": "nobody home"}
    assert by_type["ReferralReceived"]["order"]["drug_code"] == "J0475"
    assert not {"name", "birth_date", "address", "phone", "patient"} & set(by_type["ReferralReceived"])
    now = datetime.now(UTC).isoformat()
    from_events = get(cared, "/episodes/ep-1/timeline", role="auditor", as_of=now)["entries"]
    assert from_events == stored  # the as_of path (the pure core over the events) equals the stored rows


def test_as_of_is_for_auditors_and_answers_what_was_known(api: Api) -> None:
    open_episode(api)
    post(
        api,
        "nurse",
        "/complications/ep-1/report-complication",
        complication("c-1", "bleeding", "severe", "2026-03-05"),
    )
    time.sleep(0.01)
    before = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    post(
        api,
        "nurse",
        "/complications/ep-1/resolve-complication",
        {"complication_id": "c-1", "resolved_on": "2026-03-07"},
    )
    then = get(api, "/episodes/ep-1/complications", role="auditor", as_of=before)
    assert ([c["complication_id"] for c in then["open"]], then["resolved"], then["as_of"]) == (
        ["c-1"],
        [],
        before,
    )
    for path in ("authorizations", "deliveries", "visits", "complications", "calendar.html"):
        refused = api.client.get(
            f"/episodes/ep-1/{path}", params={"as_of": before}, headers=api.headers("nurse")
        )
        assert refused.status_code == 403, path
        unknown = api.client.get(f"/episodes/ep-404/{path}", headers=api.headers("nurse"))
        assert unknown.status_code == 404 and unknown.json()["error"] == "episode_unknown", path
        not_yet = api.client.get(
            f"/episodes/ep-1/{path}", params={"as_of": "2001-01-01T00:00:00Z"}, headers=api.headers("auditor")
        )
        assert not_yet.status_code == 404 and "was not known as of" in not_yet.json()["detail"], path


def test_every_structured_read_is_logged(api: Api) -> None:
    open_episode(api)  # nurse-1 is on its care team
    nurse = {"Authorization": f"Bearer {api.token('nurse', 'nurse-1')}"}
    paths = ("authorizations", "deliveries", "visits", "complications", "calendar.html")
    for path in paths:
        assert api.client.get(f"/episodes/ep-1/{path}", headers=nurse).status_code == 200
    entries = api.client.get(
        "/access-log", params={"subject": "nurse-1"}, headers=api.headers("auditor")
    ).json()
    assert [(e["episode_id"], e["endpoint"]) for e in entries["entries"]] == [
        ("ep-1", f"GET /episodes/{{episode_id}}/{path}") for path in paths
    ]


def test_a_nurse_off_the_care_team_gets_404_and_the_refusal_is_logged(api: Api) -> None:
    open_episode(api)
    stranger = {"Authorization": f"Bearer {api.token('nurse', 'rn-kim')}"}
    paths = ("authorizations", "deliveries", "visits", "complications", "calendar.html")
    for path in paths:
        answer = api.client.get(f"/episodes/ep-1/{path}", headers=stranger)
        assert answer.status_code == 404 and answer.json()["error"] == "episode_unknown", path
    entries = api.client.get(
        "/access-log", params={"subject": "rn-kim"}, headers=api.headers("auditor")
    ).json()["entries"]
    assert len(entries) == len(paths)
    assert {e["outcome"] for e in entries} == {"refused"}


def test_no_token_no_read(api: Api) -> None:
    open_episode(api)
    for path in ("authorizations", "deliveries", "visits", "complications", "calendar.html"):
        assert api.client.get(f"/episodes/ep-1/{path}").status_code == 401


def test_episodes_count_filter_and_link_their_pages(api: Api) -> None:
    for n in range(1, 6):
        open_episode(api, f"ep-{n}", f"pt-{n}")
    api.client.post(
        "/referrals/ep-5/discontinue-therapy",
        json={"discontinued_on": "2026-03-05", "reason": "transfer"},
        headers=api.headers("coordinator"),
    )
    page = get(api, "/episodes", limit=2, offset=2)
    assert [e["episode_id"] for e in page["episodes"]] == ["ep-3", "ep-4"] and page["total"] == 5
    assert page["links"] == {"next": "/episodes?limit=2&offset=4", "prev": "/episodes?limit=2&offset=0"}
    last = get(api, page["links"]["next"])
    assert [e["episode_id"] for e in last["episodes"]] == ["ep-5"] and last["links"]["next"] is None
    first = get(api, "/episodes", limit=2)
    assert first["links"]["prev"] is None and first["links"]["next"] == "/episodes?limit=2&offset=2"
    filtered = get(api, "/episodes", status="accepted", payer="bcbs-nd", limit=3)
    assert (filtered["total"], len(filtered["episodes"])) == (4, 3)
    assert filtered["links"]["next"] == "/episodes?status=accepted&payer=bcbs-nd&limit=3&offset=3"
    assert get(api, "/episodes", patient_ref="pt-2")["total"] == 1
    assert get(api, "/episodes", status="discontinued")["total"] == 1
    refused = api.client.get("/episodes", params={"status": "sleeping"}, headers=api.headers("nurse"))
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["query", "status"]


def test_the_calendar_page(cared: Api) -> None:
    page = get(cared, "/episodes/ep-1/calendar.html", role="auditor", **THROUGH)
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script" not in html and "Episode ep-1" in html and "March 2026" in html
    assert (
        'title="Tuesday 3 March 2026: BILLABLE, billable, unit 1 of 5 of authorization A-1; start of care'
        in html
    )
    assert 'aria-label="Monday 2 March 2026: BEFORE_SOC, before the start of care"' in html
    assert "Not S9363, not counted: P-1 (E0781)" in html
    assert ">1/5<" in html and ">5/5<" in html and ">1/30<" in html


def test_the_calendar_escapes_what_events_say(api: Api) -> None:
    open_episode(api)
    body = authorization("<b>A&1</b>", "2026-03-01", "2026-03-31", 3)
    post(api, "coordinator", "/referrals/ep-1/record-authorization", body)
    html = get(api, "/episodes/ep-1/calendar.html", **THROUGH).text
    assert "<b>A&1</b>" not in html and "&lt;b&gt;A&amp;1&lt;/b&gt;" in html
