"""The read models in one SQLite file: the embedded default (no servers).

One writer at a time: every transaction begins with BEGIN IMMEDIATE, which takes the database's
write lock at once, so a transaction that reads a patient's episodes and writes their rows sees
nothing change in between, and needs no locks of its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from events import Event
from projections.core.records import EpisodeRecord
from projections.readmodels.datastore import Cursor, Datastore
from projections.readmodels.sections import EPISODE_ROW_COLUMNS, SECTIONS, episode_row
from projections.readmodels.store import ReadModelStore, event_row, first_copies

# Values per `IN (...)` list: SQLite builds before 3.32 allow 999 parameters in a statement.
IN_CHUNK = 500


class SQLiteDatastore(Datastore):
    """One SQLite file. WAL lets readers go on while one transaction writes; a writer waits up to
    10 s for another's commit rather than failing at once."""

    dialect = "sqlite"
    placeholder = "?"

    def __init__(self, path: Path | str, *, per_thread: bool = False) -> None:
        super().__init__(per_thread=per_thread)
        self.path = path

    def connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA busy_timeout=10000")
        return connection

    @contextmanager
    def _begin(self, connection: Any, *, snapshot: bool) -> Iterator[Any]:
        # Every transaction already reads one instant: it holds the write lock from its start.
        cursor = connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")


class SQLiteReadModelStore(ReadModelStore):
    def __init__(self, path: Path | str, prefix: str = "rm_", *, per_thread: bool = False) -> None:
        super().__init__(SQLiteDatastore(path, per_thread=per_thread), prefix)

    def _serialize_schema_changes(self, cursor: Cursor) -> None:
        pass  # BEGIN IMMEDIATE already admits one transaction at a time

    def insert_events(self, cursor: Cursor, events: Sequence[Event]) -> list[Event]:
        inserted = []
        for event in first_copies(events):
            cursor.execute(
                "INSERT INTO {p}events (event_id, episode_id, event_type, patient_ref, recorded_at, body) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                event_row(event),
            )
            if _rowcount(cursor) > 0:
                inserted.append(event)
        return inserted

    def positions_for_update(self, cursor: Cursor, consumer: str, streams: Iterable[str]) -> dict[str, int]:
        wanted = set(streams)
        cursor.execute("SELECT stream, position FROM {p}positions WHERE consumer = ?", (consumer,))
        return {stream: int(position) for stream, position in cursor.fetchall() if stream in wanted}

    def defer(self, cursor: Cursor, partition_of: Mapping[str, int]) -> None:
        cursor.executemany(
            "INSERT INTO {p}pending (episode_id, kafka_partition) VALUES (?, ?) ON CONFLICT DO NOTHING",
            sorted(partition_of.items()),
        )

    def claim_pending(self, cursor: Cursor, limit: int, partitions: Iterable[int] | None = None) -> list[str]:
        if limit <= 0:
            return []
        cursor.execute("SELECT episode_id, kafka_partition FROM {p}pending ORDER BY episode_id")
        wanted = None if partitions is None else set(partitions)
        claimed = [e for e, n in cursor.fetchall() if wanted is None or n in wanted][:limit]
        cursor.executemany("DELETE FROM {p}pending WHERE episode_id = ?", [(e,) for e in claimed])
        return claimed

    def release_pending(self, cursor: Cursor, patients: Iterable[str]) -> None:
        wanted = sorted(set(patients))
        for start in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[start : start + IN_CHUNK]
            cursor.execute(
                "DELETE FROM {p}pending WHERE episode_id IN (SELECT episode_id FROM {p}events "
                f"WHERE patient_ref IN ({', '.join('?' * len(chunk))}))",
                chunk,
            )

    def lock(self, cursor: Cursor, kind: int, keys: Iterable[str]) -> None:
        pass  # BEGIN IMMEDIATE already admits one writer at a time

    def changed_groups(self, cursor: Cursor, patients: Iterable[str], sizes: Mapping[str, int]) -> list[str]:
        return []  # nobody else has written since this transaction began (BEGIN IMMEDIATE)

    def _write_episodes(
        self,
        cursor: Cursor,
        records: Sequence[EpisodeRecord],
        rewritten: Mapping[str, Sequence[EpisodeRecord]],
        stamp: str,
        digests: Mapping[str, str],
    ) -> None:
        """Row by row, episode by episode."""
        # By id: `record in rewritten[...]` would compare whole records, ledger day by ledger day.
        rewritten_ids = {table: {r.episode_id for r in found} for table, found in rewritten.items()}
        for record in records:
            episode_id = record.episode_id
            sections = [s for s in SECTIONS if episode_id in rewritten_ids.get(s.table, ())]
            for section in sections:
                cursor.execute(f"DELETE FROM {{p}}{section.table} WHERE episode_id = ?", (episode_id,))
            cursor.execute("DELETE FROM {p}episodes WHERE episode_id = ?", (episode_id,))
            cursor.execute(
                f"INSERT INTO {{p}}episodes ({', '.join(EPISODE_ROW_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(EPISODE_ROW_COLUMNS))})",
                episode_row(record, stamp, digests[episode_id]),
            )
            for section in sections:
                cursor.executemany(
                    f"INSERT INTO {{p}}{section.table} ({', '.join(section.columns)}) "
                    f"VALUES ({', '.join('?' * len(section.columns))})",
                    section.rows(record),
                )

    def _select_in(self, cursor: Cursor, sql: str, values: Sequence[Any]) -> list[Any]:
        """A chunk of values at a time, each as `IN (?, ...)`."""
        rows: list[Any] = []
        for start in range(0, len(values), IN_CHUNK):
            chunk = list(values[start : start + IN_CHUNK])
            cursor.execute(sql.replace("{in}", f"IN ({', '.join('?' * len(chunk))})"), chunk)
            rows.extend(cursor.fetchall())
        return rows


def _rowcount(cursor: Cursor) -> int:
    return int(getattr(cursor, "rowcount", 0))
