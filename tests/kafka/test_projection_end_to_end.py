"""End to end: commands to the five services on PostgreSQL -> outbox relay -> Kafka ->
`carecoord project` -> the read models in PostgreSQL, all real, as separate processes."""

from __future__ import annotations

import random
import subprocess
import time
import uuid
from datetime import date
from pathlib import Path

import pytest

from carecoord.bootstrap import Services
from projections.kafka.batch import CONSUMER
from tests.support.kafka import ROOT, project_command, reference, run_project, wait_for
from tests.support.postgres import private_schema, settings_for
from tests.support.relay import relay_command, relay_env
from tests.support.services import at, open_episode

pytestmark = pytest.mark.kafka

THROUGH = date(2026, 3, 31)


def drive_demo_month(services: Services, seed: int = 2026) -> None:
    """The demo's March 2026 (twenty episodes, every service, refusals included) on these services."""
    from carecoord.demo.episodes import PLANS, plan_episode
    from carecoord.demo.incidents import refusals, special_cases
    from carecoord.demo.script import Script

    script = Script(services, random.Random(seed))
    for plan in PLANS:
        plan_episode(script, plan)
    special_cases(script)
    refusals(script)
    script.run(lambda what, why: None)


def relay_once(pg_url: str, schema: str, bootstrap: str, topic_prefix: str) -> None:
    result = subprocess.run(
        relay_command("--once", "--quiet"),
        env=relay_env(pg_url, schema, bootstrap, topic_prefix),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_commands_to_the_five_services_appear_in_the_read_models_through_kafka(  # type: ignore[no-untyped-def]
    bootstrap, pg_url, topic_prefix, make_store, tmp_path: Path
) -> None:
    with private_schema(pg_url) as schema:
        services = Services.from_config(settings_for(pg_url, schema, tmp_path / "var"))
        try:
            drive_demo_month(services)
            events = services.contract_events()
            assert {e.source for e in events} == {
                "referrals",
                "assessments",
                "deliveries",
                "visits",
                "complications",
            }
            relay_once(pg_url, schema, bootstrap, topic_prefix)
            live = make_store("live")
            group = f"test-{uuid.uuid4().hex[:10]}"
            run_project(pg_url, bootstrap, live.prefix, topic_prefix, group, THROUGH)
            assert live.dump() == reference(make_store("ref"), events, THROUGH).dump()
            assert len(live.digests()) >= 20

            # Live: relay and consumer keep running; a new command shows up in the read model.
            env = relay_env(pg_url, schema, bootstrap, topic_prefix)
            relay = subprocess.Popen(relay_command("--quiet"), env=env, cwd=ROOT)
            consumer = subprocess.Popen(
                project_command(pg_url, bootstrap, live.prefix, topic_prefix, group, THROUGH),
                cwd=ROOT,
                stderr=subprocess.DEVNULL,
            )
            try:
                started = time.monotonic()
                open_episode(services, "ep-e2e-new", accepted_on=date(2026, 3, 20))
                services.visits.complete_visit(
                    "ep-e2e-new",
                    visit_id="v-e2e",
                    kind="start_of_care",
                    started_at=at("2026-03-20", 9),
                    ended_at=at("2026-03-20", 11),
                    administered=True,
                    nurse="RN Example",
                )

                def visible() -> bool:
                    with live.transaction() as cursor:
                        cursor.execute(
                            "SELECT count(*) FROM {p}timeline WHERE episode_id = 'ep-e2e-new'"
                            " AND event_type = 'VisitCompleted'"
                        )
                        return bool(cursor.fetchall()[0][0])

                wait_for(visible, 60, "the new episode's visit in the read model")
                print(f"command to read model: {time.monotonic() - started:.2f}s")
            finally:
                for process in (consumer, relay):
                    process.terminate()
                for process in (consumer, relay):
                    try:
                        process.wait(30)
                    except subprocess.TimeoutExpired:
                        process.kill()
            assert live.dump() == reference(make_store("ref2"), services.contract_events(), THROUGH).dump()
            assert sum(live.positions(CONSUMER).values()) == len(services.contract_events())
        finally:
            services.close()
