"""The same API on SQLite and on a real PostgreSQL: commands, queries, idempotency, the access log."""

from __future__ import annotations

import pytest

from carecoord.api.db import api_database
from tests.support.api import Api, open_episode


def test_a_day_of_work_through_the_api(any_api: Api) -> None:
    api = any_api
    open_episode(api)
    nurse = {**api.headers("nurse"), "Idempotency-Key": "assess-1"}
    assessment = {
        "assessment_id": "a-1",
        "kind": "initial",
        "assessed_on": "2026-03-02",
        "eligible": True,
        "clinician": "RN Lee",
    }
    first = api.client.post("/assessments/ep-1/complete-assessment", json=assessment, headers=nurse)
    stored = api.stored_events()
    retry = api.client.post("/assessments/ep-1/complete-assessment", json=assessment, headers=nurse)
    assert first.status_code == retry.status_code == 200 and retry.headers["idempotent-replayed"] == "true"
    assert api.stored_events() == stored
    refused = api.client.post(
        "/complications/ep-1/resume-therapy",
        json={"resumed_on": "2026-03-08"},
        headers=api.headers("coordinator"),
    )
    assert refused.status_code == 409
    assert (
        api.client.post("/visits/ep-1/log-dose", json={}, headers=api.headers("auditor")).status_code == 403
    )
    assert api.client.get("/episodes").status_code == 401

    ledger = api.client.get(
        "/episodes/ep-1/ledger", params={"through": "2026-03-04"}, headers=api.headers("nurse")
    )
    assert ledger.status_code == 200
    assert [d["reason"] for d in ledger.json()["days"]] == ["BEFORE_SOC"] * 3
    entries = api.client.get("/access-log", headers=api.headers("auditor")).json()["entries"]
    entries = [e for e in entries if e["outcome"] == "allowed"]
    assert [(e["role"], e["episode_id"], e["endpoint"]) for e in entries] == [
        ("nurse", "ep-1", "GET /episodes/{episode_id}/ledger")
    ]
    assert api.client.get("/episodes/ep-9", headers=api.headers("nurse")).status_code == 404


def test_the_access_log_refuses_updates_and_deletes_in_the_database(any_api: Api) -> None:
    api = any_api
    open_episode(api)
    api.client.get("/episodes/ep-1", headers=api.headers("nurse"))
    db = api_database(api.settings)
    try:
        statements = ["UPDATE api_access_log SET subject = 'nobody'", "DELETE FROM api_access_log"]
        if db.dialect == "postgres":
            statements.append("TRUNCATE api_access_log")
        for statement in statements:
            with pytest.raises(Exception, match="append-only"), db.transaction() as cursor:
                cursor.execute(statement)
        with db.transaction() as cursor:
            assert cursor.execute("SELECT subject FROM api_access_log").fetchall() == [("nurse-1",)]
    finally:
        db.close()
