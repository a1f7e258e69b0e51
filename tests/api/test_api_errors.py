"""Errors: 401 and 403 say why, 422 names the field, 409 names the rule, 404 for an unknown episode;
never a 500 for bad input, and never a patient's details in an answer."""

from __future__ import annotations

import pytest

from tests.support.api import PATIENT, Api, open_episode, referral_body


def fields(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    return [entry["msg"] for entry in response.json()["detail"]]


def test_401_says_why_and_asks_for_a_bearer_token(api: Api) -> None:
    response = api.client.get("/episodes")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json() == {
        "detail": "a bearer token is required: Authorization: Bearer <JWT>",
        "error": "unauthenticated",
    }
    expired = api.client.get("/episodes", headers=api.headers("auditor", ttl=-3600))
    assert expired.status_code == 401 and expired.json()["detail"] == "the token has expired"
    audience = api.client.get("/episodes", headers=api.headers("auditor", audience="x"))
    assert audience.json()["detail"] == "the token's audience is not 'carecoord-api'"


def test_403_names_the_role_and_who_may(api: Api) -> None:
    response = api.client.post(
        "/visits/ep-1/log-dose",
        json={"administered_on": "2026-03-04", "by": "nurse"},
        headers=api.headers("auditor"),
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": "role 'auditor' may not log_dose (allowed: nurse)",
        "error": "forbidden",
    }


def test_an_unauthenticated_call_gets_401_before_its_body_is_judged(api: Api) -> None:
    assert api.client.post("/visits/ep-1/log-dose", json={"by": 3}).status_code == 401


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        ({"administered_on": "2026-03-04"}, ["by: Field required"]),
        (
            {"administered_on": "2026-03-04", "by": "dog"},
            ["by: Input should be 'nurse', 'patient' or 'caregiver'"],
        ),
        (
            {"administered_on": "04/03/2026", "by": "nurse"},
            ["administered_on: Value error, expected a date written YYYY-MM-DD"],
        ),
        (
            {"administered_on": "2026-02-30", "by": "nurse"},
            [
                "administered_on: Input should be a valid date or datetime, "
                "day value is outside expected range"
            ],
        ),
        (
            {"administered_on": "2026-03-04", "by": "nurse", "dose": 1},
            ["dose: Extra inputs are not permitted"],
        ),
        (
            {"administered_on": "2026-03-04", "by": "nurse", "occurred_at": "2026-03-04T09:00:00"},
            [
                "occurred_at: Value error, expected an RFC 3339 timestamp with an offset and a real date, "
                "got '2026-03-04T09:00:00'"
            ],
        ),
    ],
)
def test_422_names_the_field(api: Api, body: dict[str, object], messages: list[str]) -> None:
    open_episode(api)
    response = api.client.post("/visits/ep-1/log-dose", json=body, headers=api.headers("nurse"))
    assert fields(response) == messages


@pytest.mark.parametrize(
    ("units", "why"), [("4", "integer"), (4.0, "integer"), (True, "integer"), (-1, "greater")]
)
def test_numbers_are_strict_as_in_the_contract(api: Api, units: object, why: str) -> None:
    open_episode(api)
    body = {
        "delivery_id": "d-1",
        "delivered_on": "2026-03-03",
        "days_supply": 7,
        "items": [{"code": "J0475", "units": units}],
    }
    [message] = fields(
        api.client.post("/deliveries/ep-1/complete-delivery", json=body, headers=api.headers("pharmacist"))
    )
    assert message.startswith("items.0.units: ") and why in message


def test_bad_json_and_no_body_are_422_not_500(api: Api) -> None:
    headers = {**api.headers("nurse"), "Content-Type": "application/json"}
    assert api.client.post("/visits/ep-1/log-dose", content=b"{not json", headers=headers).status_code == 422
    assert fields(api.client.post("/visits/ep-1/log-dose", headers=api.headers("nurse"))) == [
        "body: Field required"
    ]
    query = api.client.get("/episodes/ep-1/ledger", params={"through": "soon"}, headers=api.headers("nurse"))
    assert fields(query) == ["query through: Value error, expected a date written YYYY-MM-DD"]


def test_a_command_whose_own_values_are_wrong_is_422_with_the_services_words(api: Api) -> None:
    open_episode(api)
    body = {
        "visit_id": "v-1",
        "started_at": "2026-03-03T11:00:00-05:00",
        "ended_at": "2026-03-03T09:00:00-05:00",
        "administered": True,
        "nurse": "RN Lee",
        "kind": "start_of_care",
    }
    [message] = fields(
        api.client.post("/visits/ep-1/complete-visit", json=body, headers=api.headers("nurse"))
    )
    assert "ended_at" in message


def test_409_names_the_rule_and_stores_nothing(api: Api) -> None:
    open_episode(api)
    before = api.stored_events()
    resume = api.client.post(
        "/complications/ep-1/resume-therapy",
        json={"resumed_on": "2026-03-08"},
        headers=api.headers("coordinator"),
    )
    assert resume.status_code == 409
    assert resume.json() == {
        "detail": "therapy for episode ep-1 is not on hold: there is nothing to resume",
        "error": "rule_violated",
    }
    again = api.client.post(
        "/referrals/ep-1/receive-referral", json=referral_body(), headers=api.headers("coordinator")
    )
    assert again.status_code == 409 and again.json()["error"] == "already_recorded"
    assert api.stored_events() == before


def test_404_for_an_unknown_episode_in_commands_and_queries(api: Api) -> None:
    nurse = api.headers("nurse")
    command = api.client.post(
        "/visits/ep-404/log-dose", json={"administered_on": "2026-03-04", "by": "nurse"}, headers=nurse
    )
    assert command.status_code == 404
    assert command.json() == {
        "detail": "episode ep-404 is unknown: no referral received",
        "error": "episode_unknown",
    }
    for path in ("/episodes/ep-404", "/episodes/ep-404/timeline", "/episodes/ep-404/ledger"):
        response = api.client.get(path, headers=nurse)
        assert response.status_code == 404 and response.json()["error"] == "episode_unknown", path


def test_no_answer_or_error_gives_the_patients_details_back(api: Api) -> None:
    open_episode(api)
    bad = referral_body("pt-2")
    bad["patient"] = {**PATIENT, "birth_date": "14 July 1961"}
    rejected = api.client.post(
        "/referrals/ep-2/receive-referral", json=bad, headers=api.headers("coordinator")
    )
    auditor = api.headers("auditor")
    answers = [
        rejected.text,
        api.client.get("/episodes", headers=auditor).text,
        api.client.get("/episodes/ep-1/timeline", headers=auditor).text,
        api.client.get("/episodes/ep-1/ledger", headers=auditor).text,
        api.client.get("/access-log", headers=auditor).text,
    ]
    assert rejected.status_code == 422
    for answer in answers:
        for secret in ("Quillfeather", "1961", "Larkspur", "555-0142", "14 July"):
            assert secret not in answer
