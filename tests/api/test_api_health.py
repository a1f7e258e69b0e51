"""`/health/live`, `/health/ready` and `/metrics`: no token; ready answers 503 (with `Retry-After`)
while the database is away and 200 again once it is back; the metrics count answers by route
template and status, and refusals (409) by rule code, never an episode id."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from carecoord.api.db import api_database
from carecoord.api.health import Readiness
from carecoord.config import Settings
from tests.support.api import PATIENT, Api, referral_body
from tests.support.cluster import free_port
from tests.support.kafka import kafka_bootstrap
from tests.support.postgres import TEST_CIPHER_KEY, postgres_settings

ROOT = Path(__file__).resolve().parents[2]


def samples(api: Api) -> list[tuple[str, dict[str, str], float]]:
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    ]


def count(found: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(v for n, ls, v in found if n == name and all(ls.get(k) == x for k, x in labels.items()))


def test_live_and_ready_need_no_token(api: Api) -> None:
    assert api.client.get("/health/live").json() == {"status": "ok"}
    ready = api.client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}  # embedded: no Kafka
    assert api.client.get("/health").json() == {"status": "ok"}


def test_metrics_count_answers_by_route_template_and_refusals_by_rule(api: Api) -> None:
    before = samples(api)
    coordinator = api.headers("coordinator")
    path = "/referrals/ep-metrics-1/receive-referral"
    assert api.client.post(path, json=referral_body(), headers=coordinator).status_code == 200
    again = api.client.post(path, json=referral_body(), headers=coordinator)
    assert again.status_code == 409
    assert api.client.post(path, json=referral_body()).status_code == 401
    assert api.client.get("/no/such/path").status_code == 404

    after = samples(api)
    route = "/referrals/{episode_id}/receive-referral"
    name = "carecoord_api_requests_total"
    for status in ("200", "409", "401"):
        labels = {"route": route, "status": status}
        assert count(after, name, **labels) - count(before, name, **labels) == 1, status
    assert count(after, name, route="unmatched", status="404") >= 1
    refused = "carecoord_api_commands_refused_total"
    rule = again.json()["error"]
    assert count(after, refused, route=route, rule=rule) - count(before, refused, route=route, rule=rule) == 1
    assert count(after, "carecoord_api_request_seconds_count", route=route) >= 3
    # Route templates, methods, statuses and rule codes: no episode id, no patient detail, no path as sent.
    values = {value for _, labels, _ in after for value in labels.values()}
    assert not [v for v in values if "ep-metrics" in v or any(d in v for d in PATIENT.values())]
    assert "/no/such/path" not in values


@pytest.mark.kafka
def test_readiness_checks_the_brokers_in_kafka_mode(tmp_path: Path) -> None:
    with postgres_settings(tmp_path) as settings:
        db = api_database(settings)
        try:
            assert Readiness(db, kafka_bootstrap()).check() == {"database": "ok", "kafka": "ok"}
            nobody = f"127.0.0.1:{free_port()}"
            checks = Readiness(db, nobody).check()
            assert checks["database"] == "ok"
            assert checks["kafka"].startswith("unavailable")
        finally:
            db.close()


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[tuple[str, dict[str, str]]]:
    """A PostgreSQL of this test's own (deploy/postgres.sh, its own data folder and port), which it
    may stop: the shared one is never stopped. Its URL and the environment of deploy/postgres.sh."""
    env = {
        **os.environ,
        # Under the checkout's var/: the server's user must reach it (a /tmp folder of root's may not).
        "CARECOORD_VAR": str(ROOT / "var" / f"throwaway-pg-{uuid.uuid4().hex[:8]}"),
        "CARECOORD_PG_PORT": str(free_port()),
    }

    def script(action: str) -> str:
        result = subprocess.run(
            [str(ROOT / "deploy" / "postgres.sh"), action], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=180,
        )  # fmt: skip
        assert result.returncode == 0, f"deploy/postgres.sh {action}:\n{result.stdout}{result.stderr}"
        return result.stdout

    try:
        script("start")
        yield script("url").strip(), env
    finally:
        script("destroy")
        with contextlib.suppress(OSError):
            Path(env["CARECOORD_VAR"]).rmdir()


@pytest.mark.postgres
def test_ready_answers_503_while_the_database_is_stopped_and_200_once_it_is_back(tmp_path: Path) -> None:
    with throwaway_postgres() as (url, env):
        settings = Settings.from_env(
            {
                "CARECOORD_POSTGRES_URL": url,
                "CARECOORD_CIPHER_KEY": TEST_CIPHER_KEY,
                "CARECOORD_DATA": str(tmp_path),
            }
        )
        with Api.start(settings) as api:
            assert api.client.get("/health/ready").status_code == 200

            def postgres(action: str) -> None:
                subprocess.run([str(ROOT / "deploy" / "postgres.sh"), action], cwd=ROOT, env=env, check=True,
                               capture_output=True, timeout=180)  # fmt: skip

            postgres("stop")
            try:
                down = api.client.get("/health/ready")
                assert down.status_code == 503
                assert down.headers["retry-after"]
                assert down.json()["status"] == "not_ready"
                assert down.json()["checks"]["database"].startswith("unavailable")
                assert api.client.get("/health/live").status_code == 200  # alive, only not ready
            finally:
                postgres("start")
            back = api.client.get("/health/ready")
            assert back.status_code == 200, back.text
