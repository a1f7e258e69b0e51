"""503 with Retry-After, never a 500, when PostgreSQL or the episode feed (Kafka) is away for the
moment: psycopg's OperationalError, the pool's timeout, the event store's wrappers of them, and the
episode feed's EpisodeFeedUnavailable. The command stores nothing; the same command succeeds once
the store is back. (tests/cluster/test_postgres_restart.py does it for real, restarting PostgreSQL.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import psycopg_pool
import pytest
from eventsourcing import persistence

from services.common.kafka_episodes import EpisodeFeedUnavailable
from tests.support.api import Api, open_episode, referral_body

ERRORS: dict[str, Callable[[], BaseException]] = {
    "psycopg": lambda: psycopg.OperationalError("connection failed: server closed the connection"),
    "pool": lambda: psycopg_pool.PoolTimeout("couldn't get a connection after 5.00 sec"),
    "eventsourcing": lambda: persistence.OperationalError(
        "terminating connection due to administrator command"
    ),
    "eventsourcing-interface": lambda: persistence.InterfaceError("the connection is lost"),
    "feed": lambda: EpisodeFeedUnavailable("cannot learn the episodes: did not answer"),
}


@pytest.mark.parametrize("kind", list(ERRORS))
def test_a_command_meeting_an_unavailable_store_gets_503_with_retry_after_and_stores_nothing(
    api: Api, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_episode(api)
    app = api.services.deliveries
    before = len(app.contract_events())
    real_save = app.save

    def failing_save(*args: object, **kwargs: object) -> object:
        raise ERRORS[kind]()

    monkeypatch.setattr(app, "save", failing_save)
    body = {
        "delivery_id": "d-1",
        "delivered_on": "2026-03-03",
        "days_supply": 7,
        "items": [{"code": "J0475", "units": 4}],
    }
    pharmacist = api.headers("pharmacist")
    response = api.client.post("/deliveries/ep-1/complete-delivery", json=body, headers=pharmacist)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "3"
    expected = "episode_feed_unavailable" if kind == "feed" else "database_unavailable"
    assert response.json()["error"] == expected
    assert "retry later" in response.json()["detail"]
    assert len(app.contract_events()) == before

    monkeypatch.setattr(app, "save", real_save)
    retried = api.client.post("/deliveries/ep-1/complete-delivery", json=body, headers=pharmacist)
    assert retried.status_code == 200, retried.text
    assert [e.event_type for _, e in app.contract_events()][before:] == ["DeliveryCompleted"]


def test_a_query_meeting_an_unavailable_database_gets_503(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    response = api.client.post(
        "/referrals/ep-9/receive-referral", json=referral_body(), headers=api.headers("coordinator")
    )
    assert response.status_code == 200

    def down(*args: object, **kwargs: object) -> object:
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(api.client.app.state.runtime.access_log, "record", down)  # type: ignore[attr-defined]
    response = api.client.get("/episodes/ep-9", headers=api.headers("auditor"))
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "3"


@pytest.mark.postgres
def test_the_api_database_replaces_a_lost_session(tmp_path: Path) -> None:
    """The API's own tables (access log, idempotency keys) are reached through one connection per
    thread; a lost one (PostgreSQL restarted) is replaced, where before every later request of that
    thread failed."""
    from carecoord.api.db import api_database
    from tests.support.postgres import postgres_settings, postgres_url

    with postgres_settings(tmp_path) as settings:
        db = api_database(settings)
        try:

            def pid() -> int:
                with db.transaction() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    return int(cursor.fetchall()[0][0])

            first = pid()
            with psycopg.connect(postgres_url(), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (first,))
            with pytest.raises(psycopg.OperationalError):
                pid()
            assert pid() != first
        finally:
            db.close()
