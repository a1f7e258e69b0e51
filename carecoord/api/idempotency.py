"""Idempotent commands: an `Idempotency-Key` makes a retried command return the first response.

A key belongs to the caller (`sub`) who sent it. The first request with a key claims it and,
when the command has run, stores its status and body together with a fingerprint of the request
(method, path, body). A retry with the same fingerprint gets the stored response and runs
nothing. The same key with another request is refused (422); a retry while the first is still
running gets 409. A claim left behind by a crashed process is taken over after `STALE_AFTER`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from projections.readmodels.datastore import Datastore
from runtime.clock import utc_now

TABLE = "api_idempotency"
STALE_AFTER = timedelta(minutes=5)

SCHEMA = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    subject TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER,
    body TEXT, created_at TEXT NOT NULL, PRIMARY KEY (subject, key))"""


class KeyReused(Exception):
    """The key was first used for a different request (422)."""


class KeyInProgress(Exception):
    """The first request with this key has not finished yet (409)."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, db: Datastore) -> None:
        self.db = db

    def create_tables(self) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(SCHEMA)

    def claim(self, subject: str, key: str, print_: str) -> StoredResponse | None:
        """None: the key is ours, run the command. Otherwise the first response to give back."""
        now = utc_now()
        stale = (datetime.now(UTC) - STALE_AFTER).isoformat(timespec="microseconds")
        with self.db.transaction() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (subject, key, fingerprint, status, body, created_at) "
                "VALUES (?, ?, ?, NULL, NULL, ?) ON CONFLICT (subject, key) DO NOTHING",
                (subject, key, print_, now),
            )
            if cursor.rowcount == 1:
                return None
            row = cursor.execute(
                f"SELECT fingerprint, status, body, created_at FROM {TABLE} WHERE subject = ? AND key = ?",
                (subject, key),
            ).fetchone()
            stored_print, status, body, created_at = row
            if stored_print != print_:
                raise KeyReused(
                    f"Idempotency-Key {key!r} was already used for a different request "
                    "(another path or body); use a new key for a new command"
                )
            if status is None:
                if created_at >= stale:
                    raise KeyInProgress(f"a request with Idempotency-Key {key!r} is still being processed")
                cursor.execute(
                    f"UPDATE {TABLE} SET created_at = ? WHERE subject = ? AND key = ?", (now, subject, key)
                )
                return None
            return StoredResponse(int(status), json.loads(body))

    def finish(self, subject: str, key: str, status: int, body: Any) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(
                f"UPDATE {TABLE} SET status = ?, body = ? WHERE subject = ? AND key = ?",
                (status, json.dumps(body), subject, key),
            )

    def release(self, subject: str, key: str) -> None:
        """Give the key up after an unexpected failure, so that a retry runs the command."""
        with self.db.transaction() as cursor:
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE subject = ? AND key = ? AND status IS NULL", (subject, key)
            )
