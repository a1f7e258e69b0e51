"""Timeline `data`: read it from the stored events (a join) or store a copy in the timeline table?

The timeline table holds each entry's summary; `GET /episodes/{id}/timeline` also answers each
event's contract `data`. Two ways to read it, measured here on the same read models (a generated
history, benchmarks/generate.py, ~60 events an episode), on SQLite and on PostgreSQL:
- summary: `tables.timeline`, the timeline as it was read before (the baseline);
- join: `tables.timeline_with_data`, the timeline joined with `{p}events` by event_id (its key),
  `data` taken from the stored body;
- column: a copy of the timeline with a `data` column (JSON text), as the write path would have
  to keep it, read and parsed the same way.
and what the column would cost the write path, which rewrites an episode's whole timeline at each
new event of it: bytes per timeline row, and the time to rewrite every episode's timeline rows
(DELETE + INSERT, as `replace_episodes` does) with and without the column.

Figures on the development machine (2 cores shared with other work: load average 9 to 15, so
take the ratios rather than the values; 400 episodes, ~24,000 events; medians per episode read, us):

| | summary | join | column |
| --- | ---: | ---: | ---: |
| SQLite read | 74 | 472 | 198 |
| PostgreSQL read | 222 | 703 | 383 |

(Over three runs the join read 2.2 to 3.5 times the column's time on SQLite, 1.8 to 2.5 on
PostgreSQL.) The whole `GET /episodes/{id}/timeline` (token, access log, JSON) took 3,900 us on
SQLite in the same run: the join's extra ~0.3 ms is under a tenth of the request. The column would
cost every write instead: a timeline row grows from 170 to 266 bytes (+56%), rewriting every
episode's timeline took 0.119 s without it and 0.138 s with it on SQLite (+16%), 0.675 s and
0.761 s on PostgreSQL (+13%), and the write path rewrites an episode's whole timeline at each new
event of it. It would also need a migration of stored tables (and a backfill), and would change
every stored digest (`verify` reports each episode until recomputed). A timeline is read when
someone opens it, while every event rewrites one: the join is chosen.

`python -m benchmarks.timeline_data [--episodes N]` prints the figures (PostgreSQL when
`CARECOORD_TEST_POSTGRES_URL` is set); it records nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.generate import history
from events import parse_event
from projections.readmodels import tables
from projections.readmodels.datastore import Cursor
from projections.readmodels.postgres import PostgresReadModelStore
from projections.readmodels.sqlite import SQLiteReadModelStore
from projections.readmodels.store import ReadModelStore
from projections.readmodels.writer import Batch, apply_batch

THROUGH = date(2026, 7, 1)
COLUMNS = "episode_id, seq, occurred_at, recorded_at, event_type, source, event_id, summary"


def load(store: ReadModelStore, episodes: int) -> list[str]:
    """The generated history through the one write path; the episode ids."""
    store.create_tables()
    events = [parse_event(line) for line in history(episodes * 60, episodes)]
    for first in range(0, len(events), 5_000):
        chunk = events[first : first + 5_000]
        apply_batch(store, Batch(events=chunk), THROUGH, consumer="bench")
    with store.transaction() as cursor:
        cursor.execute("SELECT episode_id FROM {p}episodes ORDER BY 1")
        return [e for (e,) in cursor.fetchall()]


def add_data_column_copy(store: ReadModelStore) -> None:
    """`{p}timeline_copy`: the timeline with a `data` column, as a write path would keep it."""
    with store.transaction() as cursor:
        cursor.execute("DROP TABLE IF EXISTS {p}timeline_copy")
        cursor.execute(
            "CREATE TABLE {p}timeline_copy (episode_id TEXT NOT NULL, seq INTEGER NOT NULL, "
            "occurred_at TEXT NOT NULL, recorded_at TEXT NOT NULL, event_type TEXT NOT NULL, "
            "source TEXT NOT NULL, event_id TEXT NOT NULL, summary TEXT NOT NULL, data TEXT NOT NULL, "
            "PRIMARY KEY (episode_id, seq))"
        )
        cursor.execute("SELECT t.*, e.body FROM {p}timeline t JOIN {p}events e USING (event_id)")
        rows = [(*row[:8], json.dumps(json.loads(row[8])["data"])) for row in cursor.fetchall()]
        cursor.executemany(
            f"INSERT INTO {{p}}timeline_copy ({COLUMNS}, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )


def read_column(cursor: Cursor, episode_id: str) -> list[Any]:
    cursor.execute(
        "SELECT occurred_at, recorded_at, event_type, source, event_id, summary, data "
        "FROM {p}timeline_copy WHERE episode_id = ? ORDER BY seq",
        (episode_id,),
    )
    return [(*row[:6], json.loads(row[6])) for row in cursor.fetchall()]


def median_read_us(store: ReadModelStore, episode_ids: list[str], read: Callable[..., Any]) -> float:
    """The median time of one episode's read, in its own transaction (as the API reads), in us."""
    times = []
    for _ in range(3):
        for episode_id in episode_ids:
            started = time.perf_counter()
            with store.transaction() as cursor:
                read(cursor, episode_id)
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def rewrite_seconds(store: ReadModelStore, table: str, with_data: bool) -> float:
    """Delete and insert again every episode's timeline rows, one transaction (rolled back)."""
    columns = COLUMNS + (", data" if with_data else "")
    with store.transaction() as cursor:
        cursor.execute(f"SELECT {columns} FROM {{p}}{table}")
        rows = cursor.fetchall()
    marks = ", ".join("?" * len(rows[0]))
    by_episode: dict[str, list[Any]] = {}
    for row in rows:
        by_episode.setdefault(row[0], []).append(row)

    class Rollback(Exception):
        pass

    started = time.perf_counter()
    try:
        with store.transaction() as cursor:
            for episode_id, episode_rows in by_episode.items():
                cursor.execute(f"DELETE FROM {{p}}{table} WHERE episode_id = ?", (episode_id,))
                cursor.executemany(f"INSERT INTO {{p}}{table} ({columns}) VALUES ({marks})", episode_rows)
            elapsed = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    return elapsed


def row_bytes(store: ReadModelStore) -> tuple[float, float]:
    with store.transaction() as cursor:
        cursor.execute(f"SELECT {COLUMNS}, data FROM {{p}}timeline_copy")
        rows = cursor.fetchall()
    without = statistics.mean(sum(len(str(v)) for v in row[:8]) for row in rows)
    return without, statistics.mean(sum(len(str(v)) for v in row) for row in rows)


def measure(store: ReadModelStore, episodes: int) -> dict[str, float]:
    episode_ids = load(store, episodes)
    add_data_column_copy(store)
    with store.transaction() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would have by now (PostgreSQL plans by it)
    without, with_data = row_bytes(store)
    figures = {
        "summary_us": median_read_us(store, episode_ids, tables.timeline),
        "join_us": median_read_us(store, episode_ids, tables.timeline_with_data),
        "column_us": median_read_us(store, episode_ids, read_column),
    }
    # After the reads: a rolled-back rewrite leaves dead rows behind in PostgreSQL.
    rewrites: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(3):
        for with_column in (False, True):
            table = "timeline_copy" if with_column else "timeline"
            rewrites[with_column].append(rewrite_seconds(store, table, with_data=with_column))
    return {
        **figures,
        "rewrite_s": min(rewrites[False]),
        "rewrite_with_data_s": min(rewrites[True]),
        "row_bytes": without,
        "row_bytes_with_data": with_data,
    }


def http_timeline_us(folder: Path, episode_ids: list[str]) -> float:
    """The median time of `GET /episodes/{id}/timeline` (token, access log, JSON) over the read
    models in `folder`, in us: what the join adds, beside the whole request."""
    import warnings

    from carecoord.api.app import create_app
    from carecoord.api.auth import AuthConfig, mint_local_token
    from carecoord.config import Settings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    settings = Settings.embedded(folder)
    auth = AuthConfig.from_env(settings, environ={})
    app = create_app(settings, auth=auth, inline_projection=False)
    headers = {"Authorization": f"Bearer {mint_local_token(auth, 'auditor', 'bench')}"}
    times = []
    try:
        with TestClient(app) as client:
            for episode_id in episode_ids:
                started = time.perf_counter()
                assert client.get(f"/episodes/{episode_id}/timeline", headers=headers).status_code == 200
                times.append(time.perf_counter() - started)
    finally:
        app.state.close()
    return statistics.median(times) * 1e6


def figures_per_database(episodes: int) -> Iterator[tuple[str, dict[str, float]]]:
    """SQLite in a temporary folder; PostgreSQL in a scratch schema when the test server is known."""
    with tempfile.TemporaryDirectory() as folder:
        store: ReadModelStore = SQLiteReadModelStore(Path(folder) / "projections.sqlite3")
        try:
            figures = measure(store, episodes)
            with store.transaction() as cursor:
                cursor.execute("SELECT episode_id FROM {p}episodes ORDER BY 1")
                episode_ids = [e for (e,) in cursor.fetchall()]
        finally:
            store.close()
        yield "sqlite", {**figures, "http_timeline_us": http_timeline_us(Path(folder), episode_ids)}
    url = os.environ.get("CARECOORD_TEST_POSTGRES_URL")
    if url:
        from benchmarks.postgres import scratch_schema
        from carecoord.api.db import postgres_conninfo
        from carecoord.config import PostgresSettings

        with scratch_schema(url) as schema:
            store = PostgresReadModelStore(postgres_conninfo(PostgresSettings.from_url(url, schema=schema)))
            try:
                yield "postgres", measure(store, episodes)
            finally:
                store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=400)
    args = parser.parse_args()
    for name, figures in figures_per_database(args.episodes):
        print(
            f"{name}: " + ", ".join(f"{k} {v:.3f}" if v < 10 else f"{k} {v:.0f}" for k, v in figures.items())
        )


if __name__ == "__main__":
    main()
