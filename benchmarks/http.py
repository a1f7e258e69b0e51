"""HTTP benchmark: single commands per second through the API, beside the library's own save rate.

For each store (the embedded default, and PostgreSQL when CARECOORD_TEST_POSTGRES_URL is set, as
`make bench` does) the API runs as `carecoord serve` in a child process on 127.0.0.1. One client
sends single commands one after another (a nurse completing an assessment: a new aggregate each
time, like the baseline) for COMMAND_SECONDS. The baseline, in the same run and on the same store
with the same persistence settings, is the eventsourcing library saving a trivial new aggregate in
a loop (measured before and after the HTTP run, averaged).

Two servers per store, each on fresh stores: as served on the embedded path (the API projects the
read models in a background thread, competing for the same CPUs), and with
CARECOORD_API_INLINE_PROJECTION=0 (the read models kept by another process, as with Kafka): the
command path alone. On the first, the latency of GET ledger (p50, p99) after the commands.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from benchmarks.postgres import scratch_schema
from benchmarks.results import record
from carecoord.config import Settings, application_env

COMMAND_SECONDS = 7.0
BASELINE_SECONDS = 2.5
LEDGER_QUERIES = 400
EPISODES = 20


class Trivial(Aggregate):
    """The baseline's aggregate: nothing but its creation event."""


class SaveRate(Application[uuid.UUID]):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(env: dict[str, str], port: int) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "carecoord.cli", "serve", "--port", str(port), "--no-access-log"]
    child = subprocess.Popen([*command, "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"carecoord serve did not start (exit status {child.poll()})")
            time.sleep(0.1)
        yield base
    finally:
        child.terminate()
        child.wait(timeout=30)


def _library_save_rate(settings: object, seconds: float) -> float:
    """The eventsourcing library's own rate: save a trivial new aggregate, one per transaction."""
    assert isinstance(settings, Settings)
    app = SaveRate(env=application_env("saverate", settings))
    try:
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            app.save(Trivial())
            count += 1
        return count / elapsed
    finally:
        app.close()


def _inprocess_command_rate(settings: object, seconds: float) -> float:
    """The same command called on the application in this process, no HTTP: what HTTP adds shows
    as the gap between this rate and the served one."""
    from datetime import date

    from events import Order, Payer, Prescriber
    from services.referrals.domainmodel import PatientDetails
    from services.registry import Services

    assert isinstance(settings, Settings)
    services = Services.from_config(settings)
    try:
        run = uuid.uuid4().hex[:6]
        for n in range(EPISODES):
            services.referrals.receive_referral(
                episode_id=f"inproc-{run}-{n}",
                patient_ref=f"inproc-{run}-pt-{n}",
                payer=Payer(payer_id="bcbs-nd"),
                prescriber=Prescriber(npi="1234567890", name="Dr. Ruth Okafor"),
                diagnosis_codes=["G35"],
                order=Order(
                    drug="baclofen",
                    drug_code="J0475",
                    route="intrathecal",
                    dose="200 mcg/day",
                    dosing_interval_hours=0,
                    start_date=date(2026, 3, 2),
                ),
                patient=PatientDetails("Bench Patient", date(1960, 1, 1), "x", "x"),
            )
            services.referrals.accept_referral(f"inproc-{run}-{n}", date(2026, 3, 2))
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            services.assessments.complete_assessment(
                f"inproc-{run}-{count % EPISODES}",
                assessment_id=f"inproc-{run}-a-{count}",
                kind="reassessment",
                assessed_on=date(2026, 3, 5),
                eligible=True,
                clinician="RN Bench",
            )
            count += 1
        return count / elapsed
    finally:
        services.close()


def _seed(client: httpx.Client, coordinator: dict[str, str]) -> None:
    for n in range(EPISODES):
        referral = {
            "patient_ref": f"pt-{n}",
            "payer": {"payer_id": "bcbs-nd"},
            "prescriber": {"npi": "1234567890", "name": "Dr. Ruth Okafor"},
            "diagnosis_codes": ["G35"],
            "order": {
                "drug": "baclofen",
                "drug_code": "J0475",
                "route": "intrathecal",
                "dose": "200 mcg/day",
                "dosing_interval_hours": 0,
                "start_date": "2026-03-02",
            },
            "patient": {"name": "Bench Patient", "birth_date": "1960-01-01", "address": "x", "phone": "x"},
        }
        for path, body in (
            (f"/referrals/ep-{n}/receive-referral", referral),
            (f"/referrals/ep-{n}/accept-referral", {"accepted_on": "2026-03-02"}),
        ):
            client.post(path, json=body, headers=coordinator).raise_for_status()


def _commands(client: httpx.Client, nurse: dict[str, str], seconds: float) -> tuple[int, float]:
    """Single commands, one after another: (how many, seconds taken)."""
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        response = client.post(
            f"/assessments/ep-{count % EPISODES}/complete-assessment",
            json={
                "assessment_id": f"a-{count}",
                "kind": "reassessment",
                "assessed_on": "2026-03-05",
                "eligible": True,
                "clinician": "RN Bench",
            },
            headers=nurse,
        )
        if response.status_code != 200:
            raise RuntimeError(f"command refused: {response.status_code} {response.text}")
        count += 1
    return count, elapsed


def _variant(workdir: Path, store: str, pg_url: str | None, inline: bool) -> dict[str, Any]:
    """One server on fresh stores: commands/s; with the projection on, ledger latency too."""
    from eventsourcing.cipher import AESCipher

    from carecoord.api.auth import AuthConfig, mint_local_token

    env = {**os.environ, "CARECOORD_DATA": str(workdir / f"http-{store}-{uuid.uuid4().hex[:6]}")}
    # The API alone, without Kafka: with a broker configured (as `make bench` exports for the other
    # benchmarks) the services would wait for referrals to arrive through a relay that is not running.
    for name in (
        "CARECOORD_JWKS",
        "CARECOORD_POSTGRES_URL",
        "CARECOORD_POSTGRES_SCHEMA",
        "CARECOORD_KAFKA_BOOTSTRAP",
    ):
        env.pop(name, None)
    env["CARECOORD_API_INLINE_PROJECTION"] = "1" if inline else "0"
    with contextlib.ExitStack() as stack:
        if pg_url:
            schema = stack.enter_context(scratch_schema(pg_url, "bench_http_"))
            env.update(
                CARECOORD_POSTGRES_URL=pg_url,
                CARECOORD_POSTGRES_SCHEMA=schema,
                CARECOORD_CIPHER_KEY=AESCipher.create_key(32),
            )
        settings = Settings.from_env(env)
        auth = AuthConfig.from_env(settings, environ={})
        coordinator, nurse = (
            {"Authorization": f"Bearer {mint_local_token(auth, role, f'bench-{role}', ttl=3600)}"}
            for role in ("coordinator", "nurse")
        )
        base = stack.enter_context(_server(env, _free_port()))
        client = stack.enter_context(httpx.Client(base_url=base, timeout=30))
        _seed(client, coordinator)
        result: dict[str, Any] = {"settings": settings}
        result["baseline_before"] = _library_save_rate(settings, BASELINE_SECONDS)
        result["count"], result["seconds"] = _commands(client, nurse, COMMAND_SECONDS)
        result["baseline_after"] = _library_save_rate(settings, BASELINE_SECONDS)
        if not inline:  # the server idles now and projects nothing: this process has the CPUs
            result["inprocess"] = _inprocess_command_rate(settings, BASELINE_SECONDS)
        if inline:
            began = time.perf_counter()  # the first query waits for the projector to catch up
            client.get("/episodes/ep-0/ledger", headers=nurse).raise_for_status()
            result["catch_up_ms"] = (time.perf_counter() - began) * 1000
            latencies = []
            for n in range(LEDGER_QUERIES):
                began = time.perf_counter()
                client.get(f"/episodes/ep-{n % EPISODES}/ledger", headers=nurse).raise_for_status()
                latencies.append((time.perf_counter() - began) * 1000)
            result["latencies"] = latencies
        return result


def _bench_store(workdir: Path, store: str, pg_url: str | None) -> None:
    served = _variant(workdir, store, pg_url, inline=True)
    commands_only = _variant(workdir, store, pg_url, inline=False)
    for name, result, how in (
        ("http.commands_per_second", served, "as served on the embedded path: the API projects in a thread"),
        (
            "http.commands_per_second_projection_elsewhere",
            commands_only,
            "CARECOORD_API_INLINE_PROJECTION=0: the read models kept by another process (Kafka consumers)",
        ),
    ):
        rate = result["count"] / result["seconds"]
        baseline = (result["baseline_before"] + result["baseline_after"]) / 2
        record(
            name,
            rate,
            "commands/s",
            baseline_value=baseline,
            ratio=round(rate / baseline, 3),
            store=store,
            how=how,
            command="POST /assessments/{episode_id}/complete-assessment, sequential, one client",
            commands=result["count"],
            seconds=round(result["seconds"], 1),
            baseline="eventsourcing Application.save of a trivial new aggregate, same store and settings, "
            "before and after the HTTP run",
            baseline_before=round(result["baseline_before"], 1),
            baseline_after=round(result["baseline_after"], 1),
            cpus=os.cpu_count(),
        )
    inprocess = commands_only["inprocess"]
    record(
        "http.inprocess_commands_per_second",
        inprocess,
        "commands/s",
        baseline_value=(commands_only["baseline_before"] + commands_only["baseline_after"]) / 2,
        store=store,
        how="AssessmentsApplication.complete_assessment called in-process, no HTTP, same store",
        http_share=round(commands_only["count"] / commands_only["seconds"] / inprocess, 3),
    )
    quantiles = statistics.quantiles(served["latencies"], n=100)
    context: dict[str, Any] = {"store": store, "queries": LEDGER_QUERIES, "through": "today (stored ledger)"}
    record("http.ledger_query_p50_ms", quantiles[49], "ms", **context)
    record("http.ledger_query_p99_ms", quantiles[98], "ms", **context)
    record(
        "http.first_query_after_commands_ms",
        served["catch_up_ms"],
        "ms",
        store=store,
        pending_commands=served["count"],
    )


def run(workdir: Path) -> None:
    _bench_store(workdir, "sqlite", None)
    pg_url = os.environ.get("CARECOORD_TEST_POSTGRES_URL")
    if not pg_url:
        print("http: CARECOORD_TEST_POSTGRES_URL is not set; PostgreSQL skipped (make bench sets it)")
        return
    _bench_store(workdir, "postgres", pg_url)
