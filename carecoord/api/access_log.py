"""The access log: every read of an episode, append-only (who, role, when, which episode, which endpoint,
with which query parameters, and how it was answered), and every refused request (401, 403, and the
404 of an episode the caller may not read), with the reason.

There is no update or delete here, and the database refuses them too: a trigger on the table
aborts any UPDATE or DELETE (and, in PostgreSQL, TRUNCATE). Auditors read it through
`GET /access-log`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from projections.readmodels.datastore import Datastore
from runtime.clock import utc_now

TABLE = "api_access_log"

SQLITE_SCHEMA = [
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, subject TEXT NOT NULL,
        role TEXT NOT NULL, episode_id TEXT, endpoint TEXT NOT NULL)""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_episode ON {TABLE} (episode_id)",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END""",
]

# Added after the first release: (name, type). Added to an older table by ALTER TABLE (the trigger
# guards rows, not the table's shape). `outcome` is `allowed` or `refused`.
ADDED_COLUMNS = (("outcome", "TEXT"), ("status", "INTEGER"), ("reason", "TEXT"), ("query", "TEXT"))
ALLOWED, REFUSED = "allowed", "refused"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

POSTGRES_SCHEMA = [
    "SELECT pg_advisory_xact_lock(hashtext('carecoord api_access_log schema'))",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        seq BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, subject TEXT NOT NULL,
        role TEXT NOT NULL, episode_id TEXT, endpoint TEXT NOT NULL)""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_episode ON {TABLE} (episode_id)",
    f"""CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN RAISE EXCEPTION 'the access log is append-only'; END $body$""",
    f"""CREATE OR REPLACE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only()""",
    f"""CREATE OR REPLACE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_append_only()""",
]


@dataclass(frozen=True)
class AccessEntry:
    seq: int
    at: str
    subject: str
    role: str
    episode_id: str | None
    endpoint: str
    outcome: str = ALLOWED
    status: int | None = None
    reason: str | None = None
    query: dict[str, str] = field(default_factory=dict)


def _text(value: str, limit: int = 500) -> str:
    """Storable text (no NUL, which PostgreSQL refuses), cut short: it may come from a stranger."""
    return _UNSTORABLE.sub("\ufffd", value)[:limit]


class AccessLog:
    def __init__(self, db: Datastore) -> None:
        self.db = db

    def create_tables(self) -> None:
        with self.db.transaction() as cursor:
            for statement in POSTGRES_SCHEMA if self.db.dialect == "postgres" else SQLITE_SCHEMA:
                cursor.execute(statement)
            if self.db.dialect == "postgres":
                for name, kind in ADDED_COLUMNS:
                    cursor.execute(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {name} {kind}")
            else:
                have = {row[1] for row in cursor.execute(f"PRAGMA table_info({TABLE})").fetchall()}
                for name, kind in ADDED_COLUMNS:
                    if name not in have:
                        cursor.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {kind}")

    def record(
        self,
        subject: str,
        role: str,
        endpoint: str,
        episode_ids: Iterable[str | None],
        *,
        status: int = 200,
        outcome: str = ALLOWED,
        reason: str | None = None,
        query: Mapping[str, str] | None = None,
    ) -> None:
        """One entry per episode read (one with no episode when the read returned none)."""
        at = utc_now()
        shown = json.dumps({_text(k, 100): _text(v) for k, v in (query or {}).items()})[:4000]
        why = None if reason is None else _text(reason)
        who = (_text(subject, 200), _text(role, 50))
        rows = [
            (at, *who, episode_id, endpoint, outcome, status, why, shown)
            for episode_id in dict.fromkeys(episode_ids)
        ]
        with self.db.transaction() as cursor:
            cursor.executemany(
                f"INSERT INTO {TABLE} (at, subject, role, episode_id, endpoint, outcome, status, reason, "
                "query) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows or [(at, *who, None, endpoint, outcome, status, why, shown)],
            )

    def entries(
        self,
        *,
        episode_id: str | None = None,
        subject: str | None = None,
        since: str | None = None,
        until: str | None = None,
        outcome: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[AccessEntry]:
        """Entries in the order they were written; `since`/`until` are UTC timestamps as stored."""
        where: list[str] = ["seq > ?"]
        params: list[object] = [after]
        for clause, value in (
            ("episode_id = ?", episode_id),
            ("subject = ?", subject),
            ("at >= ?", since),
            ("at <= ?", until),
            ("COALESCE(outcome, 'allowed') = ?", outcome),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        with self.db.transaction() as cursor:
            rows = cursor.execute(
                f"SELECT seq, at, subject, role, episode_id, endpoint, outcome, status, reason, query "
                f"FROM {TABLE} WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [
            AccessEntry(
                seq=row[0],
                at=row[1],
                subject=row[2],
                role=row[3],
                episode_id=row[4],
                endpoint=row[5],
                outcome=row[6] or ALLOWED,
                status=row[7],
                reason=row[8],
                query=json.loads(row[9]) if row[9] else {},
            )
            for row in rows
        ]
