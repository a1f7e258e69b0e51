"""Idempotency-Key: a retried command returns the first response and stores nothing new."""

from __future__ import annotations

from tests.support.api import Api, open_episode

DOSE = {"administered_on": "2026-03-04", "by": "caregiver"}


def test_a_retry_returns_the_first_response_and_stores_nothing(api: Api) -> None:
    open_episode(api)
    headers = {**api.headers("nurse"), "Idempotency-Key": "dose-2026-03-04-1"}
    first = api.client.post("/visits/ep-1/log-dose", json=DOSE, headers=headers)
    stored = api.stored_events()
    retries = [api.client.post("/visits/ep-1/log-dose", json=DOSE, headers=headers) for _ in range(3)]
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    for retry in retries:
        assert (retry.status_code, retry.json()) == (first.status_code, first.json())
        assert retry.headers["idempotent-replayed"] == "true"
    assert api.stored_events() == stored
    # without a key the same command is a new dose
    api.client.post("/visits/ep-1/log-dose", json=DOSE, headers=api.headers("nurse"))
    assert api.stored_events() == stored + 1


def test_a_refusal_is_replayed_too(api: Api) -> None:
    open_episode(api)
    headers = {**api.headers("coordinator"), "Idempotency-Key": "resume-1"}
    first = api.client.post(
        "/complications/ep-1/resume-therapy", json={"resumed_on": "2026-03-08"}, headers=headers
    )
    again = api.client.post(
        "/complications/ep-1/resume-therapy", json={"resumed_on": "2026-03-08"}, headers=headers
    )
    assert first.status_code == again.status_code == 409
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"


def test_the_same_key_for_another_request_is_refused(api: Api) -> None:
    open_episode(api)
    headers = {**api.headers("nurse"), "Idempotency-Key": "k-1"}
    assert api.client.post("/visits/ep-1/log-dose", json=DOSE, headers=headers).status_code == 200
    stored = api.stored_events()
    other = api.client.post("/visits/ep-1/log-dose", json={**DOSE, "by": "patient"}, headers=headers)
    assert other.status_code == 422
    [error] = other.json()["detail"]
    assert error["loc"] == ["header", "Idempotency-Key"]
    assert "already used for a different request" in error["msg"]
    assert api.stored_events() == stored


def test_keys_belong_to_their_caller(api: Api) -> None:
    open_episode(api, nurses=("nurse-a", "nurse-b"))
    for nurse in ("nurse-a", "nurse-b"):
        headers = {"Authorization": f"Bearer {api.token('nurse', nurse)}", "Idempotency-Key": "same"}
        response = api.client.post("/visits/ep-1/log-dose", json=DOSE, headers=headers)
        assert response.status_code == 200 and "idempotent-replayed" not in response.headers


def test_an_invalid_body_is_not_remembered(api: Api) -> None:
    open_episode(api)
    headers = {**api.headers("nurse"), "Idempotency-Key": "k-2"}
    assert api.client.post("/visits/ep-1/log-dose", json={"by": "nurse"}, headers=headers).status_code == 422
    assert api.client.post("/visits/ep-1/log-dose", json=DOSE, headers=headers).status_code == 200
