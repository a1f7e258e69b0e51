"""The access log: every read of an episode, append-only (who, role, when, which episode, which endpoint).

There is no update or delete here, and the database refuses them too: a trigger on the table
aborts any UPDATE or DELETE (and, in PostgreSQL, TRUNCATE). Auditors read it through
`GET /access-log`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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


class AccessLog:
    def __init__(self, db: Datastore) -> None:
        self.db = db

    def create_tables(self) -> None:
        with self.db.transaction() as cursor:
            for statement in POSTGRES_SCHEMA if self.db.dialect == "postgres" else SQLITE_SCHEMA:
                cursor.execute(statement)

    def record(self, subject: str, role: str, endpoint: str, episode_ids: Iterable[str | None]) -> None:
        """One entry per episode read (one with no episode when the read returned none)."""
        at = utc_now()
        rows = [(at, subject, role, episode_id, endpoint) for episode_id in dict.fromkeys(episode_ids)]
        with self.db.transaction() as cursor:
            cursor.executemany(
                f"INSERT INTO {TABLE} (at, subject, role, episode_id, endpoint) VALUES (?, ?, ?, ?, ?)",
                rows or [(at, subject, role, None, endpoint)],
            )

    def entries(
        self,
        *,
        episode_id: str | None = None,
        subject: str | None = None,
        since: str | None = None,
        until: str | None = None,
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
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        with self.db.transaction() as cursor:
            rows = cursor.execute(
                f"SELECT seq, at, subject, role, episode_id, endpoint FROM {TABLE} "
                f"WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [AccessEntry(*row) for row in rows]
