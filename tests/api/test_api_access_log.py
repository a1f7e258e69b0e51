"""The access log: every read of an episode recorded; auditors query it; nobody changes it."""

from __future__ import annotations

import sqlite3

import pytest

from tests.support.api import Api, open_episode


def test_every_read_of_an_episode_is_recorded(api: Api) -> None:
    open_episode(api, "ep-1", "pt-1", nurses=("rn-lee",))
    open_episode(api, "ep-2", "pt-2", nurses=("rn-lee",))
    nurse = {"Authorization": f"Bearer {api.token('nurse', 'rn-lee')}"}
    api.client.get("/episodes/ep-1", headers=nurse)
    api.client.get("/episodes/ep-1/timeline", headers=nurse)
    api.client.get("/episodes/ep-2/ledger", params={"through": "2026-03-10"}, headers=nurse)
    api.client.get("/episodes", headers=nurse)
    api.client.get("/episodes/ep-404", headers=nurse)  # an attempt is a read too
    api.client.post(
        "/visits/ep-1/log-dose", json={"administered_on": "2026-03-04", "by": "nurse"}, headers=nurse
    )

    entries = api.client.get("/access-log", headers=api.headers("auditor")).json()["entries"]
    entries = [e for e in entries if e["outcome"] == "allowed"]
    assert [(e["subject"], e["role"], e["episode_id"], e["endpoint"]) for e in entries] == [
        ("rn-lee", "nurse", "ep-1", "GET /episodes/{episode_id}"),
        ("rn-lee", "nurse", "ep-1", "GET /episodes/{episode_id}/timeline"),
        ("rn-lee", "nurse", "ep-2", "GET /episodes/{episode_id}/ledger"),
        ("rn-lee", "nurse", "ep-1", "GET /episodes"),
        ("rn-lee", "nurse", "ep-2", "GET /episodes"),
    ]
    refused = api.client.get("/access-log", params={"outcome": "refused"}, headers=api.headers("auditor"))
    assert [(e["episode_id"], e["status"]) for e in refused.json()["entries"]] == [("ep-404", 404)]
    assert all(e["at"].endswith("+00:00") for e in entries)
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)


def test_auditors_filter_it_and_page_through_it(api: Api) -> None:
    open_episode(api, "ep-1", "pt-1")
    open_episode(api, "ep-2", "pt-2")
    for sub in ("a", "b"):
        api.client.get("/episodes/ep-1", headers={"Authorization": f"Bearer {api.token('pharmacist', sub)}"})
    api.client.get("/episodes/ep-2", headers=api.headers("coordinator"))
    auditor = api.headers("auditor")
    by_episode = api.client.get("/access-log", params={"episode_id": "ep-1"}, headers=auditor).json()[
        "entries"
    ]
    assert [e["subject"] for e in by_episode] == ["a", "b"]
    by_subject = api.client.get("/access-log", params={"subject": "b"}, headers=auditor).json()["entries"]
    assert [e["episode_id"] for e in by_subject] == ["ep-1"]
    first = api.client.get("/access-log", params={"limit": 1}, headers=auditor).json()["entries"]
    rest = api.client.get("/access-log", params={"after": first[0]["seq"]}, headers=auditor).json()["entries"]
    assert rest[0]["seq"] > first[0]["seq"]
    future = api.client.get("/access-log", params={"since": "2999-01-01T00:00:00Z"}, headers=auditor)
    assert future.json()["entries"] == []
    later = api.client.get("/access-log", params={"since": "2000-01-01T00:00:00-05:00"}, headers=auditor)
    assert len(later.json()["entries"]) >= 3


@pytest.mark.parametrize("role", ["coordinator", "pharmacist", "nurse"])
def test_only_auditors_read_it(api: Api, role: str) -> None:
    assert api.client.get("/access-log", headers=api.headers(role)).status_code == 403


def test_the_table_refuses_updates_and_deletes(api: Api) -> None:
    open_episode(api)
    api.client.get("/episodes/ep-1", headers=api.headers("nurse"))
    with sqlite3.connect(api.settings.data_dir / "api.sqlite3") as db:
        for statement in ("UPDATE api_access_log SET subject = 'nobody'", "DELETE FROM api_access_log"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(statement)
        assert db.execute("SELECT subject FROM api_access_log").fetchall() == [("nurse-1",)]
