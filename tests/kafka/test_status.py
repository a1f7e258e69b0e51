"""`carecoord status` on a running deployment: exit 1 while a lag is above `--max-lag` (the outbox
while no relay runs, the partitions while no consumer runs), 0 once everything has flowed, 3 when
Kafka cannot be reached; and what it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from events import SERVICE_NAMES
from tests.support.cluster import (
    ROOT,
    Cluster,
    Load,
    Probe,
    System,
    free_port,
    referral_body,
    running_system,
    wait_until,
)
from tests.support.kafka import kafka_bootstrap
from tests.support.postgres import postgres_url

pytestmark = pytest.mark.kafka


def status(system: System, *args: str, bootstrap: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "carecoord.cli", "status",
            "--postgres-url", system.read_model_url,
            "--bootstrap", bootstrap or system.cluster.bootstrap,
            *args,
        ],
        cwd=ROOT, env=system.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def state(system: System, *args: str) -> tuple[int, dict[str, object]]:
    result = status(system, "--json", *args)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout[: result.stdout.rindex("}") + 1])


def test_status_exits_non_zero_while_a_lag_is_above_the_threshold(tmp_path: Path) -> None:
    cluster = Cluster(kafka_bootstrap(), replication=1, min_insync=None)
    with running_system(cluster, postgres_url(), tmp_path, "status") as system:
        system.start_api()
        load = Load(system)
        for n in range(5):
            path = f"/referrals/ep-status-{n}/receive-referral"
            answer = load.post(path, referral_body(f"pt-{n}"), "coordinator")
            assert answer.status_code == 200, answer.text
        load.client.close()

        # No relay yet: the referrals' outbox holds the five events.
        code, seen = state(system, "--max-lag", "0")
        assert code == 1
        outbox = {o["service"]: o for o in seen["outbox"]}  # type: ignore[attr-defined]
        assert set(outbox) == set(SERVICE_NAMES)
        assert outbox["referrals"]["lag"] == outbox["referrals"]["stored"] > 0
        assert outbox["referrals"]["published"] == 0
        assert all(o["lag"] == 0 for name, o in outbox.items() if name != "referrals")
        assert status(system, "--max-lag", "1000").returncode == 0  # within a looser threshold

        # The relay publishes them; no consumer yet: the partitions lag.
        system.start_relay()
        probe = Probe(system)
        try:
            wait_until(lambda: probe.published() >= probe.stored()[1], 90, "the referrals published", system)
        finally:
            probe.close()
        code, seen = state(system, "--max-lag", "0")
        assert code == 1
        assert all(o["lag"] == 0 for o in seen["outbox"])  # type: ignore[attr-defined]
        partitions = seen["partitions"]
        assert len(partitions) == len(SERVICE_NAMES) * 6  # type: ignore[arg-type]
        assert sum(p["lag"] for p in partitions) == 5  # type: ignore[attr-defined]
        assert all(p["committed"] == 0 for p in partitions)  # type: ignore[attr-defined]

        # Consumers: everything flows, and the check passes.
        system.start_consumers("project", 1)
        wait_until(lambda: status(system, "--max-lag", "0").returncode == 0, 120, "status to pass", system)
        code, seen = state(system, "--max-lag", "0", "--max-dead-letters", "0")
        assert code == 0 and seen["over"] == [] and seen["dead_letters"] == 0
        assert any(p["consumer"] == "kafka" and p["position"] > 0 for p in seen["positions"])  # type: ignore[attr-defined]

        printed = status(system)
        assert printed.returncode == 0, printed.stdout
        assert "outbox" in printed.stdout and "consumer lag" in printed.stdout
        assert "dead letters: 0" in printed.stdout
        assert "total: outbox lag 0, consumer lag 0" in printed.stdout
        # The episode ids and the patient are nowhere in what it prints.
        assert "ep-status" not in printed.stdout and "Test Patient" not in printed.stdout

        # Kafka unreachable: status 3, whatever the threshold.
        unreachable = status(system, "--max-lag", "1000", bootstrap=f"127.0.0.1:{free_port()}")
        assert unreachable.returncode == 3, unreachable.stdout
        assert "cannot read" in unreachable.stdout
