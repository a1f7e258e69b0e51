"""Worklist API benchmark: `GET /worklist` latency with 5,000+ active episodes in PostgreSQL.

A generated history (benchmarks/generate.py, ~60 events an episode, every episode starting within
30 days, so that on TODAY most are active) is settled patient by patient (`record_patient`, what
the write path computes) and written by the write path's `replace_episodes` into a scratch schema
(the events themselves are not needed by the query, and are left out). `carecoord serve` then runs
on it in a child process (CARECOORD_API_INLINE_PROJECTION=0: nothing to project), and one client
asks for the worklist of TODAY a page of 100 items at a time, mostly the first pages, sometimes one
kind: QUERIES requests, p50 and p99 of the wall time per request (the access log of the 100 episodes
read is written by each). Beside it, the same SQL alone (`tables.worklist`) in this process.
Goal: p99 < 50 ms.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.generate import EPOCH, history
from benchmarks.http import _Client, _free_port, _server
from benchmarks.postgres import scratch_schema
from benchmarks.results import record
from carecoord.config import Settings
from events import parse_event

EPISODES = 6_000
EVENTS_PER_EPISODE = 60
SPREAD_DAYS = 30
TODAY = date.fromordinal(EPOCH.toordinal() + SPREAD_DAYS + 3)
QUERIES = 400
KINDS = ["SUPPLY_RUNS_OUT", "AUTH_ENDING", "REASSESSMENT_DUE", "VISIT_OVERDUE"]


def _load(settings: Settings) -> dict[str, Any]:
    """The generated history settled and written by the write path; what it holds."""
    from carecoord.api.db import read_model_store
    from projections.core.records import record_patient

    lines_of: dict[str, list[str]] = {}
    patient_of: dict[str, str] = {}
    for line in history(EPISODES * EVENTS_PER_EPISODE, EPISODES, spread=SPREAD_DAYS):
        head = json.loads(line)
        lines_of.setdefault(head["episode_id"], []).append(line)
        if head["event_type"] == "ReferralReceived":
            patient_of[head["episode_id"]] = head["data"]["patient_ref"]
    episodes_of: dict[str, list[str]] = {}
    for episode_id, patient in patient_of.items():
        episodes_of.setdefault(patient, []).append(episode_id)
    patients = sorted(episodes_of)
    store = read_model_store(settings)
    store.create_tables()
    statuses: Counter[str] = Counter()
    spans = 0
    started = time.perf_counter()
    for first in range(0, len(patients), 500):
        records = []
        for patient in patients[first : first + 500]:
            group = {e: [parse_event(line) for line in lines_of[e]] for e in episodes_of[patient]}
            records += record_patient(group, TODAY)
        with store.transaction() as cursor:
            store.replace_episodes(cursor, records, TODAY)
        statuses.update(record.view.status for record in records)
        spans += sum(len(record.spans) for record in records)
    seconds = time.perf_counter() - started
    store.close()
    return {"statuses": statuses, "spans": spans, "load_seconds": seconds}


def _quantiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]


def _paths(total_pages: int) -> list[str]:
    paths = []
    for n in range(QUERIES):
        if n % 5 == 4:
            paths.append(f"/worklist?today={TODAY}&limit=100&kind={KINDS[n % len(KINDS)]}")
        else:
            paths.append(
                f"/worklist?today={TODAY}&limit=100&offset={100 * (n % max(1, min(total_pages, 10)))}"
            )
    return paths


def measure(workdir: Path, pg_url: str) -> dict[str, Any]:
    from eventsourcing.cipher import AESCipher

    from carecoord.api.auth import AuthConfig, mint_local_token
    from carecoord.api.db import read_model_store
    from projections.readmodels import tables

    env = {**os.environ, "CARECOORD_DATA": str(workdir / f"worklist-{uuid.uuid4().hex[:6]}")}
    for name in ("CARECOORD_JWKS", "CARECOORD_KAFKA_BOOTSTRAP"):
        env.pop(name, None)
    env["CARECOORD_API_INLINE_PROJECTION"] = "0"
    with contextlib.ExitStack() as stack:
        schema = stack.enter_context(scratch_schema(pg_url, "bench_worklist_"))
        env.update(
            CARECOORD_POSTGRES_URL=pg_url,
            CARECOORD_POSTGRES_SCHEMA=schema,
            CARECOORD_CIPHER_KEY=AESCipher.create_key(32),
        )
        settings = Settings.from_env(env)
        loaded = _load(settings)
        store = read_model_store(settings)
        with store.transaction() as cursor:
            cursor.execute("ANALYZE {p}worklist_spans")
            total = tables.worklist(cursor, TODAY, limit=1).total
        paths = _paths((total + 99) // 100)
        sql_times = []
        for path in paths:
            query = dict(part.split("=") for part in path.split("?")[1].split("&"))
            began = time.perf_counter()
            with store.transaction() as cursor:
                tables.worklist(
                    cursor,
                    TODAY,
                    kind=query.get("kind"),
                    limit=100,
                    offset=int(query.get("offset", 0)),
                )
            sql_times.append((time.perf_counter() - began) * 1000)
        store.close()
        auth = AuthConfig.from_env(settings, environ={})
        coordinator = {"Authorization": f"Bearer {mint_local_token(auth, 'coordinator', 'bench', ttl=3600)}"}
        port = _free_port()
        stack.enter_context(_server(env, port))
        client = _Client(port, coordinator)
        stack.callback(client.close)
        for path in paths[:20]:  # warm-up: connections, plans, caches
            client.request("GET", path)
        http_times = []
        for path in paths:
            began = time.perf_counter()
            status, body = client.request("GET", path)
            http_times.append((time.perf_counter() - began) * 1000)
            if status != 200:
                raise RuntimeError(f"GET {path}: {status} {body.decode(errors='replace')}")
    return {**loaded, "items_today": total, "http": _quantiles(http_times), "sql": _quantiles(sql_times)}


def run(workdir: Path) -> None:
    pg_url = os.environ.get("CARECOORD_TEST_POSTGRES_URL") or os.environ.get("CARECOORD_POSTGRES_URL")
    if not pg_url:
        raise SystemExit("worklist_api benchmark: set CARECOORD_TEST_POSTGRES_URL (make bench does)")
    figures = measure(workdir, pg_url)
    context = {
        "store": "postgres",
        "today": TODAY.isoformat(),
        "active_episodes": figures["statuses"]["active"],
        "episodes": sum(figures["statuses"].values()),
        "spans": figures["spans"],
        "items_today": figures["items_today"],
        "queries": QUERIES,
        "page": 100,
    }
    loaded = f"{context['episodes']} episodes ({context['active_episodes']} active on {TODAY})"
    print(f"  loaded {loaded}, {figures['spans']} spans, in {figures['load_seconds']:.0f}s")
    print(f"  {figures['items_today']} items on {TODAY}")
    record("worklist_api.get_worklist_p50_ms", figures["http"][0], "ms", **context)
    record("worklist_api.get_worklist_p99_ms", figures["http"][1], "ms", **context)
    record("worklist_api.sql_p50_ms", figures["sql"][0], "ms", **context)
    record("worklist_api.sql_p99_ms", figures["sql"][1], "ms", **context)


if __name__ == "__main__":
    run(Path("var/bench"))
