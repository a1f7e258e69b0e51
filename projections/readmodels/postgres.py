"""The read models in PostgreSQL: what the Kafka consumers write, several processes at once.

Consumers of one group write concurrently, so this store takes turns where they meet (advisory
locks per episode and per patient, row locks on the positions of their own partitions, SKIP
LOCKED when claiming pending episodes) and sends rows in bulk: one statement per batch of events
(`unnest` of arrays sent in binary), one DELETE and one COPY per table for the episode rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from events import Event
from projections.core.records import EpisodeRecord
from projections.readmodels.datastore import Cursor, Datastore, SQLCursor
from projections.readmodels.sections import EPISODE_ROW_COLUMNS, SECTIONS, episode_row
from projections.readmodels.store import ReadModelStore, event_row, first_copies


class PostgresDatastore(Datastore):
    """One PostgreSQL database (a libpq URL or conninfo string), connections in autocommit mode."""

    dialect = "postgres"
    placeholder = "%s"

    def __init__(
        self, conninfo: str, *, per_thread: bool = False, idle_in_transaction_timeout_ms: int | None = None
    ) -> None:
        super().__init__(per_thread=per_thread)
        self.conninfo = conninfo
        self.idle_in_transaction_timeout_ms = idle_in_transaction_timeout_ms

    def connect(self) -> Any:
        import psycopg

        connection = psycopg.connect(self.conninfo, autocommit=True)
        if self.idle_in_transaction_timeout_ms is not None:
            connection.execute(
                "SELECT set_config('idle_in_transaction_session_timeout', %s, false)",
                (str(self.idle_in_transaction_timeout_ms),),
            )
        return connection

    @contextmanager
    def _begin(self, connection: Any, *, snapshot: bool) -> Iterator[Any]:
        with connection.transaction(), connection.cursor() as cursor:
            if snapshot:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield cursor


class PostgresReadModelStore(ReadModelStore):
    binary_collation = ' COLLATE "C"'

    def __init__(
        self,
        conninfo: str,
        prefix: str = "rm_",
        *,
        per_thread: bool = False,
        idle_in_transaction_timeout_ms: int | None = None,
    ) -> None:
        datastore = PostgresDatastore(
            conninfo, per_thread=per_thread, idle_in_transaction_timeout_ms=idle_in_transaction_timeout_ms
        )
        super().__init__(datastore, prefix)

    def _serialize_schema_changes(self, cursor: Cursor) -> None:
        # Concurrent CREATE TABLE IF NOT EXISTS of one name can fail (a unique violation in the
        # catalog): consumers started together create the tables one at a time.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"{self.prefix}create_tables",))

    def insert_events(self, cursor: Cursor, events: Sequence[Event]) -> list[Event]:
        """In one statement."""
        firsts = first_copies(events)
        if not firsts:
            return []
        cursor.execute(
            "INSERT INTO {p}events (event_id, episode_id, event_type, patient_ref, recorded_at, body) "
            # %b: arrays sent in binary, no text quoting of every JSON body (several times faster)
            "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[]) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            [list(column) for column in zip(*(event_row(e) for e in firsts), strict=True)],
        )
        new_ids = {event_id for (event_id,) in cursor.fetchall()}
        return [e for e in firsts if e.event_id in new_ids]

    def positions_for_update(self, cursor: Cursor, consumer: str, streams: Iterable[str]) -> dict[str, int]:
        """Only the rows of these streams are locked, in one order (no two consumers wait in a cycle)."""
        cursor.execute(
            "SELECT stream, position FROM {p}positions WHERE consumer = ? AND stream = ANY(?) "
            "ORDER BY stream FOR UPDATE",
            (consumer, sorted(set(streams))),
        )
        return {stream: int(position) for stream, position in cursor.fetchall()}

    def defer(self, cursor: Cursor, partition_of: Mapping[str, int]) -> None:
        rows = sorted(partition_of.items())
        if rows:
            cursor.execute(
                "INSERT INTO {p}pending (episode_id, kafka_partition) "
                "SELECT * FROM unnest(?::text[], ?::int[]) ON CONFLICT DO NOTHING",
                ([e for e, _ in rows], [n for _, n in rows]),
            )

    def claim_pending(self, cursor: Cursor, limit: int, partitions: Iterable[int] | None = None) -> list[str]:
        """Rows another transaction has claimed are skipped, not waited for: consumers draining
        together share the list."""
        if limit <= 0:
            return []
        where, params = "", list[Any]([limit])
        if partitions is not None:
            where, params = "WHERE kafka_partition = ANY(?) ", [sorted(set(partitions)), limit]
        cursor.execute(
            "DELETE FROM {p}pending WHERE episode_id IN (SELECT episode_id FROM {p}pending "
            + where
            + "ORDER BY episode_id LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING episode_id",
            params,
        )
        return sorted(episode_id for (episode_id,) in cursor.fetchall())

    def release_pending(self, cursor: Cursor, patients: Iterable[str]) -> None:
        wanted = sorted(set(patients))
        if wanted:
            # A row another transaction holds (claimed: it recomputes that episode) is left to it
            # rather than waited for.
            cursor.execute(
                "DELETE FROM {p}pending WHERE episode_id IN (SELECT episode_id FROM {p}pending "
                "WHERE episode_id IN (SELECT episode_id FROM {p}events WHERE patient_ref = ANY(?)) "
                "FOR UPDATE SKIP LOCKED)",
                (wanted,),
            )

    def lock(self, cursor: Cursor, kind: int, keys: Iterable[str]) -> None:
        """Transaction-level advisory locks, taken in one sorted order, so two consumers never wait
        for each other in a cycle."""
        names = sorted({f"{self.prefix}{key}" for key in keys})
        if names:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(?, k)) FROM "
                "(SELECT DISTINCT hashtext(x) AS k FROM unnest(?::text[]) AS x ORDER BY k) AS keys",
                (kind, names),
            )
            cursor.fetchall()

    def changed_groups(self, cursor: Cursor, patients: Iterable[str], sizes: Mapping[str, int]) -> list[str]:
        """Once the locks are held, every event committed by others for these patients' episodes is
        visible: a group that now holds more events than it was read from has changed."""
        wanted = set(patients)
        now = self.group_sizes(cursor, wanted)
        return sorted(p for p in wanted if now.get(p, 0) != sizes.get(p, 0))

    def _write_episodes(
        self,
        cursor: Cursor,
        records: Sequence[EpisodeRecord],
        rewritten: Mapping[str, Sequence[EpisodeRecord]],
        stamp: str,
        digests: Mapping[str, str],
    ) -> None:
        """By one DELETE and one COPY per table."""
        if not isinstance(cursor, SQLCursor):
            raise TypeError("COPY needs a cursor of this store (transaction() or prefixed())")
        for table, found in [*rewritten.items(), ("episodes", records)]:
            if found:
                ids = [r.episode_id for r in found]
                cursor.execute(f"DELETE FROM {{p}}{table} WHERE episode_id = ANY(?)", (ids,))
        cursor.copy(
            "episodes",
            EPISODE_ROW_COLUMNS,
            (episode_row(r, stamp, digests[r.episode_id]) for r in records),
        )
        for section in SECTIONS:
            found = rewritten.get(section.table, ())
            if found:
                cursor.copy(section.table, section.columns, (row for r in found for row in section.rows(r)))

    def _select_in(self, cursor: Cursor, sql: str, values: Sequence[Any]) -> list[Any]:
        """One statement, the values as one array: `= ANY(?)`."""
        if not values:
            return []
        cursor.execute(sql.replace("{in}", "= ANY(?)"), (list(values),))
        return cursor.fetchall()
