"""HTTP benchmark: single commands per second through the API, beside the library's own save rate.

For each store (the embedded default, and PostgreSQL when CARECOORD_TEST_POSTGRES_URL is set, as
`make bench` does) the API runs as `carecoord serve` in a child process on 127.0.0.1. One client
sends single commands one after another (a nurse completing an assessment: a new aggregate each
time, like the baseline) for COMMAND_SECONDS. The baseline, in the same run and on the same store
with the same persistence settings, is the eventsourcing library saving a trivial new aggregate in
a loop (measured before and after the HTTP run, averaged). Both are sequential (concurrency 1): one
command, or one save, at a time. The commands go round-robin over EPISODES episodes, received and
accepted in-process before the server starts, so each gets a handful of assessments in a run.

The client is a load generator kept light: one keep-alive `http.client` connection (httpx costs
more CPU per request than the server's whole framework, on a machine whose 2 CPUs the client and
server share). Beside each rate the result records where a command's time goes: the server's and
the client's CPU per command (from /proc, Linux), and the same command called in-process without
HTTP. The command does by design more than the baseline's save: it makes sure it has seen every
referral stored before it (on SQLite a look at the referrals store's data_version, the stream read
only when it changed; on PostgreSQL a check of the referrals table's position inside the save's own
transaction, services/common/referrals_fence.py) and validates its values against the contract.

Three servers per store, each on fresh stores: as served on the embedded path (the API projects the
read models in a background thread, competing for the same CPUs), and with
CARECOORD_API_INLINE_PROJECTION=0 (the read models kept by another process, as with Kafka): the
command path alone, once sequential and once with CONCURRENCY clients at once against
`carecoord serve --workers N`, its baseline then CONCURRENCY processes saving at once (the library's
save takes a table lock on PostgreSQL and the file lock on SQLite, so its rate hardly grows with
concurrency; the commands' own work, outside that lock, overlaps). On the first, the latency of
GET ledger (p50, p99) after the commands.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
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
# The concurrent variant: client connections (one process each), and its baseline as many processes
# saving at once. The server runs one worker per CPU on PostgreSQL, one on SQLite: SQLite takes one
# writer at a time, and a second worker waiting for the file lock (SQLite's busy handler sleeps)
# measured slower than one (1,460 against 1,675 commands/s).
CONCURRENCY = 4
# Commands go round-robin over the episodes; with ~1,000 of them each gets a handful of assessments
# in a run, as a real episode does (20 made each one grow by hundreds, the inline projection with it).
EPISODES = 1000


class Trivial(Aggregate):
    """The baseline's aggregate: nothing but its creation event."""


class SaveRate(Application[uuid.UUID]):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(env: dict[str, str], port: int, workers: int = 1) -> Iterator[tuple[str, int]]:
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "carecoord.cli", "serve", "--port", str(port), "--no-access-log"]
    command += ["--workers", str(workers)]
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
        yield base, child.pid
    finally:
        child.terminate()
        child.wait(timeout=30)


def _library_save_rate(settings: Settings, seconds: float, start_at: float | None = None) -> float:
    """The eventsourcing library's own rate: save a trivial new aggregate, one per transaction."""
    from carecoord.commands.serve import one_process_at_a_time

    with one_process_at_a_time(settings.data_dir):  # as the server's workers open their stores
        app = SaveRate(env=application_env("saverate", settings))
    try:
        _wait_until(start_at)
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            app.save(Trivial())
            count += 1
        return count / elapsed
    finally:
        app.close()


def _wait_until(start_at: float | None) -> None:
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))


def _at_once(function: Callable[..., Any], arguments: list[tuple[Any, ...]]) -> list[Any]:
    """`function(*args, start_at)` for each args in its own process, all starting at one instant."""
    with multiprocessing.get_context("spawn").Pool(len(arguments)) as pool:
        start_at = time.time() + 3.0  # time for the processes to start and import
        return pool.starmap(function, [(*args, start_at) for args in arguments])


def _library_save_rate_at(settings: Settings, seconds: float, processes: int) -> float:
    """The library's save rate with `processes` processes saving at once (1: in this process)."""
    if processes == 1:
        return _library_save_rate(settings, seconds)
    return float(sum(_at_once(_library_save_rate, [(settings, seconds)] * processes)))


BENCH_NURSE = "bench-nurse"


def _open_episodes(settings: Settings) -> None:
    """EPISODES referrals received and accepted (ep-0, ep-1, ...), saved by the services in this
    process before the server starts: the setting for the commands, not part of what is measured."""
    from datetime import date

    from carecoord.bootstrap import Services
    from events import Order, Payer, Prescriber
    from services.referrals.domainmodel import PatientDetails

    with Services.from_config(settings) as services:
        for n in range(EPISODES):
            services.referrals.receive_referral(
                episode_id=f"ep-{n}",
                patient_ref=f"pt-{n}",
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
            services.referrals.accept_referral(f"ep-{n}", date(2026, 3, 2))
            # Nurses act only on their care teams' episodes (docs/roles.md): the bench nurse is on all.
            services.referrals.assign_care_team(
                f"ep-{n}", member=BENCH_NURSE, role="nurse", assigned_on=date(2026, 3, 2)
            )


def _assessment(n: int, prefix: str = "a") -> dict[str, Any]:
    """The n-th command's body: an assessment of episode ep-(n mod EPISODES)."""
    return {
        "assessment_id": f"{prefix}-{n}",
        "kind": "reassessment",
        "assessed_on": "2026-03-05",
        "eligible": True,
        "clinician": "RN Bench",
    }


def _inprocess_command_rate(settings: Settings, seconds: float) -> float:
    """The same command called on the application in this process, no HTTP, on the stores the
    served run used (its episodes): what HTTP adds shows as the gap between this rate and the served one."""
    from datetime import date

    from carecoord.bootstrap import Services

    with Services.from_config(settings) as services:
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            body = _assessment(count, prefix="inproc")
            services.assessments.complete_assessment(
                f"ep-{count % EPISODES}", **{**body, "assessed_on": date.fromisoformat(body["assessed_on"])}
            )
            count += 1
        return count / elapsed


class _Client:
    """One keep-alive HTTP/1.1 connection, as light a load generator as the standard library has."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self._headers = {**headers, "Content-Type": "application/json"}

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        encoded = None if body is None else json.dumps(body)
        self._connection.request(method, path, encoded, self._headers)
        response = self._connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self._connection.close()


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process and its children (uvicorn's workers) have used so far;
    None where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(int(child)) or 0.0 for child in children)


def _command_loop(
    port: int, headers: dict[str, str], seconds: float, prefix: str = "a", start_at: float | None = None
) -> tuple[int, float]:
    """One client sending single commands one after another: (how many, seconds taken)."""
    client = _Client(port, headers)
    try:
        _wait_until(start_at)
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            status, body = client.request(
                "POST", f"/assessments/ep-{count % EPISODES}/complete-assessment", _assessment(count, prefix)
            )
            if status != 200:
                raise RuntimeError(f"command refused: {status} {body.decode(errors='replace')}")
            count += 1
        return count, elapsed
    finally:
        client.close()


def _commands(port: int, headers: dict[str, str], server_pid: int, clients: int) -> dict[str, Any]:
    """Single commands from `clients` clients for COMMAND_SECONDS: the rate, and where the time went
    (client CPU only when the client is this process)."""
    server_cpu, client_cpu = _cpu_seconds(server_pid), time.process_time()
    if clients == 1:
        runs = [_command_loop(port, headers, COMMAND_SECONDS)]
    else:
        runs = _at_once(_command_loop, [(port, headers, COMMAND_SECONDS, f"c{n}") for n in range(clients)])
    server_used = _cpu_seconds(server_pid)
    count = sum(n for n, _ in runs)
    return {
        "rate": sum(n / elapsed for n, elapsed in runs),
        "count": count,
        "seconds": max(elapsed for _, elapsed in runs),
        "wall_us": runs[0][1] / runs[0][0] * 1e6,
        "client_cpu_us": (time.process_time() - client_cpu) / count * 1e6 if clients == 1 else None,
        "server_cpu_us": None
        if server_cpu is None or server_used is None
        else (server_used - server_cpu) / count * 1e6,
    }


def _variant(
    workdir: Path, store: str, pg_url: str | None, inline: bool, concurrency: int = 1
) -> dict[str, Any]:
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
        _open_episodes(settings)
        auth = AuthConfig.from_env(settings, environ={})
        nurse = {"Authorization": f"Bearer {mint_local_token(auth, 'nurse', BENCH_NURSE, ttl=3600)}"}
        port = _free_port()
        workers = 1 if concurrency == 1 or not pg_url else os.cpu_count() or 1
        _, server_pid = stack.enter_context(_server(env, port, workers))
        # Untimed: the first command's service reads the seeded referrals, and (when the API
        # projects) a query waits until the seeded episodes are projected.
        warm_up = _Client(port, nurse)
        path = "/assessments/ep-0/complete-assessment"
        status, body = warm_up.request("POST", path, _assessment(0, "warm"))
        if inline:
            status, body = warm_up.request("GET", "/episodes/ep-0/ledger")
        warm_up.close()
        if status != 200:
            raise RuntimeError(f"warm-up refused: {status} {body.decode(errors='replace')}")
        result: dict[str, Any] = {"settings": settings, "concurrency": concurrency, "workers": workers}
        result["baseline_before"] = _library_save_rate_at(settings, BASELINE_SECONDS, concurrency)
        result.update(_commands(port, nurse, server_pid, concurrency))
        result["baseline_after"] = _library_save_rate_at(settings, BASELINE_SECONDS, concurrency)
        if concurrency > 1:
            return result
        if not inline:  # the server idles now and projects nothing: this process has the CPUs
            result["inprocess"] = _inprocess_command_rate(settings, BASELINE_SECONDS)
        if inline:
            client = _Client(port, nurse)  # a new connection: the server closes idle ones
            stack.callback(client.close)
            began = time.perf_counter()  # the first query waits for the projector to catch up
            status, body = client.request("GET", "/episodes/ep-0/ledger")
            result["catch_up_ms"] = (time.perf_counter() - began) * 1000
            if status != 200:
                raise RuntimeError(f"ledger query refused: {status} {body.decode(errors='replace')}")
            latencies = []
            for n in range(LEDGER_QUERIES):
                began = time.perf_counter()
                status, body = client.request("GET", f"/episodes/ep-{n % EPISODES}/ledger")
                latencies.append((time.perf_counter() - began) * 1000)
                if status != 200:
                    raise RuntimeError(f"ledger query refused: {status} {body.decode(errors='replace')}")
            result["latencies"] = latencies
        return result


def _bench_store(workdir: Path, store: str, pg_url: str | None) -> None:
    served = _variant(workdir, store, pg_url, inline=True)
    commands_only = _variant(workdir, store, pg_url, inline=False)
    concurrent = _variant(workdir, store, pg_url, inline=False, concurrency=CONCURRENCY)
    sequential = "sequential, one client (one keep-alive http.client connection)"
    for name, result, how, clients in (
        (
            "http.commands_per_second",
            served,
            "as served on the embedded path: the API projects in a thread",
            sequential,
        ),
        (
            "http.commands_per_second_projection_elsewhere",
            commands_only,
            "CARECOORD_API_INLINE_PROJECTION=0: the read models kept by another process (Kafka consumers)",
            sequential,
        ),
        (
            "http.commands_per_second_concurrent",
            concurrent,
            f"CARECOORD_API_INLINE_PROJECTION=0, carecoord serve --workers {concurrent['workers']}",
            f"{CONCURRENCY} clients at once (one process and keep-alive connection each); "
            f"baseline: {CONCURRENCY} processes saving at once",
        ),
    ):
        baseline = (result["baseline_before"] + result["baseline_after"]) / 2
        record(
            name,
            result["rate"],
            "commands/s",
            baseline_value=baseline,
            ratio=round(result["rate"] / baseline, 3),
            store=store,
            how=how,
            command=f"POST /assessments/{{episode_id}}/complete-assessment, {clients}",
            concurrency=result["concurrency"],
            server_workers=result["workers"],
            commands=result["count"],
            seconds=round(result["seconds"], 1),
            wall_us_per_command=round(result["wall_us"]),
            server_cpu_us_per_command=_rounded(result["server_cpu_us"]),
            client_cpu_us_per_command=_rounded(result["client_cpu_us"]),
            baseline="eventsourcing Application.save of a trivial new aggregate, same store and settings, "
            "same concurrency, before and after the HTTP run",
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
        ratio=round(
            inprocess / ((commands_only["baseline_before"] + commands_only["baseline_after"]) / 2), 3
        ),
        http_share=round(commands_only["rate"] / inprocess, 3),
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


def _rounded(value: float | None) -> int | None:
    return None if value is None else round(value)


def run(workdir: Path) -> None:
    _bench_store(workdir, "sqlite", None)
    pg_url = os.environ.get("CARECOORD_TEST_POSTGRES_URL")
    if not pg_url:
        print("http: CARECOORD_TEST_POSTGRES_URL is not set; PostgreSQL skipped (make bench sets it)")
        return
    _bench_store(workdir, "postgres", pg_url)
