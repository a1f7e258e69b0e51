"""The read models in SQL: SQLite on the embedded default, PostgreSQL when configured.

This is the shell around the pure core: it stores events idempotently by `event_id`, replaces the
rows of recomputed episodes, and keeps each consumer's positions in the same transaction, so a
crash at any point leaves either the whole batch or none of it.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from events import Event, ReferralReceived, parse_event, to_json
from projections.core.episode import EpisodeView, first_referral_patient, patient_of

# Kinds of the advisory locks `lock` takes: consumers touching one episode or one patient take turns.
EPISODE_LOCK = 1
PATIENT_LOCK = 2

TABLES = ("events", "episodes", "days", "claim_lines", "timeline", "dead_letters", "positions", "pending")


def schema_sql(prefix: str) -> list[str]:
    p = prefix
    return [
        f"""CREATE TABLE IF NOT EXISTS {p}events (
            event_id TEXT PRIMARY KEY, episode_id TEXT NOT NULL, event_type TEXT NOT NULL,
            patient_ref TEXT, recorded_at TEXT NOT NULL, body TEXT NOT NULL)""",
        f"CREATE INDEX IF NOT EXISTS {p}events_episode ON {p}events (episode_id)",
        # Only referrals name a patient: a partial index holds those rows alone, and storing any
        # other event (nearly all of them) has one index fewer to update.
        f"CREATE INDEX IF NOT EXISTS {p}events_referral ON {p}events (patient_ref) "
        "WHERE patient_ref IS NOT NULL",
        f"DROP INDEX IF EXISTS {p}events_patient",  # the full index of earlier releases
        f"""CREATE TABLE IF NOT EXISTS {p}episodes (
            episode_id TEXT PRIMARY KEY, patient_ref TEXT NOT NULL, payer_id TEXT NOT NULL,
            status TEXT NOT NULL, start_of_care TEXT, billable_days INTEGER NOT NULL,
            through TEXT NOT NULL, digest TEXT NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {p}days (
            episode_id TEXT NOT NULL, day TEXT NOT NULL, billable BOOLEAN NOT NULL, reason TEXT NOT NULL,
            authorization_number TEXT, PRIMARY KEY (episode_id, day))""",
        f"""CREATE TABLE IF NOT EXISTS {p}claim_lines (
            episode_id TEXT NOT NULL, line_no INTEGER NOT NULL, code TEXT NOT NULL, from_date TEXT NOT NULL,
            to_date TEXT NOT NULL, units INTEGER NOT NULL, authorization_number TEXT,
            PRIMARY KEY (episode_id, line_no))""",
        f"""CREATE TABLE IF NOT EXISTS {p}timeline (
            episode_id TEXT NOT NULL, seq INTEGER NOT NULL, occurred_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL, event_type TEXT NOT NULL, source TEXT NOT NULL,
            event_id TEXT NOT NULL, summary TEXT NOT NULL, PRIMARY KEY (episode_id, seq))""",
        f"""CREATE TABLE IF NOT EXISTS {p}dead_letters (
            stream TEXT NOT NULL, position TEXT NOT NULL, event_id TEXT, error TEXT NOT NULL,
            payload TEXT NOT NULL, PRIMARY KEY (stream, position))""",
        f"""CREATE TABLE IF NOT EXISTS {p}positions (
            consumer TEXT NOT NULL, stream TEXT NOT NULL, position BIGINT NOT NULL,
            PRIMARY KEY (consumer, stream))""",
        # Episodes whose events are stored but whose read model is not yet recomputed: a consumer
        # catching up defers the recomputation (see ReadModelStore.defer). By the Kafka partition
        # (number) of their events, so that the consumer holding it, whose cache has the events
        # parsed, recomputes them.
        f"""CREATE TABLE IF NOT EXISTS {p}pending (
            episode_id TEXT PRIMARY KEY, kafka_partition INTEGER NOT NULL)""",
    ]


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Any: ...
    def fetchall(self) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    stream: str
    position: str
    event_id: str | None
    error: str
    payload: str


def episode_digest(view: EpisodeView) -> str:
    """A digest of everything an episode's read model stores, to compare live and rebuilt models.

    Made from the view's own values (frozen dataclasses of strings, dates, numbers and booleans,
    whose repr is canonical), not from a rendering of it: the replay document may change its form
    without changing a stored digest.
    """
    return hashlib.sha256(repr(view).encode()).hexdigest()


class WrittenViews:
    """The views one projector process last wrote, by episode, with the `through` stamp and their
    digests (bounded to the `capacity` most recently written episodes).

    An episode whose stored row carries the remembered view's digest holds exactly that view's rows
    (every writer writes an episode's rows and its digest in one transaction; whoever wrote them,
    an equal digest means an equal view). `replace_episodes` then leaves alone what did not change:
    each of its days, claim lines and timeline that is equal (a scheduled visit adds one timeline
    entry and leaves the ~300 days of the ledger as they are). An episode whose stored digest is
    that of its new view is left alone whole, remembered or not (catching up, about half the
    recomputed episodes are a patient's other episodes that come out unchanged).
    """

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._views: OrderedDict[str, tuple[EpisodeView, str, str]] = OrderedDict()
        self.skipped = 0

    def remembered(self, views: Iterable[EpisodeView], stamp: str) -> dict[str, tuple[EpisodeView, str]]:
        """episode_id -> (the view last written, its digest), for views of the same stamp."""
        found = {}
        for view in views:
            known = self._views.get(view.episode_id)
            if known is not None and known[1] == stamp:
                found[view.episode_id] = (known[0], known[2])
        return found

    def remember(self, views: Iterable[EpisodeView], stamp: str, digests: Mapping[str, str]) -> None:
        for view in views:
            self._views[view.episode_id] = (view, stamp, digests[view.episode_id])
            self._views.move_to_end(view.episode_id)
        while len(self._views) > self.capacity:
            self._views.popitem(last=False)

    def clear(self) -> None:
        self._views.clear()


class ReadModelStore:
    """Read-model tables under one name prefix (`rm_` live; other prefixes for rebuilds)."""

    def __init__(self, connect: Any, dialect: str, prefix: str = "rm_") -> None:
        self._connect = connect
        self.dialect = dialect
        self.prefix = prefix
        self._connection: Any = None

    @classmethod
    def sqlite(cls, path: Path | str, prefix: str = "rm_") -> ReadModelStore:
        def connect() -> sqlite3.Connection:
            connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA busy_timeout=10000")
            return connection

        return cls(connect, "sqlite", prefix)

    @classmethod
    def postgres(cls, url: str, prefix: str = "rm_") -> ReadModelStore:
        def connect() -> Any:
            import psycopg

            return psycopg.connect(url, autocommit=True)

        return cls(connect, "postgres", prefix)

    @property
    def connection(self) -> Any:
        # A PostgreSQL connection lost (the server restarted, the session was terminated) stays
        # closed for good: the next transaction opens a new one instead of failing for ever.
        if self._connection is None or getattr(self._connection, "closed", False):
            self._connection = self._connect()
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def sql(self, text: str) -> str:
        """Our SQL is written with `?` placeholders and `{p}` for the table prefix."""
        text = text.replace("{p}", self.prefix)
        return text.replace("?", "%s") if self.dialect == "postgres" else text

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One transaction: everything inside commits together or not at all."""
        connection = self.connection
        if self.dialect == "sqlite":
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield _PrefixedCursor(self, cursor)
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")
        else:
            with connection.transaction(), connection.cursor() as cursor:
                yield _PrefixedCursor(self, cursor)

    def prefixed(self, cursor: Any) -> Cursor:
        """A DB-API cursor of a transaction someone else owns, speaking this store's `{p}` and `?`."""
        return _PrefixedCursor(self, cursor)

    def create_tables(self) -> None:
        with self.transaction() as cursor:
            if self.dialect == "postgres":
                # Concurrent CREATE TABLE IF NOT EXISTS of one name can fail (a unique violation in
                # the catalog): consumers started together create the tables one at a time.
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"{self.prefix}create_tables",))
            for statement in schema_sql(self.prefix):
                cursor.execute(statement)

    def drop_tables(self) -> None:
        with self.transaction() as cursor:
            for table in TABLES:
                cursor.execute(f"DROP TABLE IF EXISTS {self.prefix}{table}")

    # --- writes, inside a transaction -----------------------------------------------------------

    def store_events(self, cursor: Cursor, events: Iterable[Event]) -> set[str]:
        """Store events not seen before (by event_id); return the episodes that got new events."""
        touched: set[str] = set()
        for event in events:
            patient_ref = getattr(event.data, "patient_ref", None)
            cursor.execute(
                "INSERT INTO {p}events (event_id, episode_id, event_type, patient_ref, recorded_at, body) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                (
                    event.event_id,
                    event.episode_id,
                    event.event_type,
                    patient_ref,
                    event.recorded_at,
                    to_json(event),
                ),
            )
            if cursor_rowcount(cursor) > 0:
                touched.add(event.episode_id)
        return touched

    def defer(self, cursor: Cursor, partition_of: Mapping[str, int]) -> None:
        """Mark episodes as pending: their new events are stored, their read models not yet redone.

        `partition_of`: episode_id -> the Kafka partition number its events came from. In the
        transaction that stored the events, so an episode with an event newer than its read model
        is always either recomputed or pending; a crash loses neither.
        """
        rows = sorted(partition_of.items())
        if not rows:
            return
        if self.dialect == "postgres":
            cursor.execute(
                "INSERT INTO {p}pending (episode_id, kafka_partition) "
                "SELECT * FROM unnest(?::text[], ?::int[]) ON CONFLICT DO NOTHING",
                ([e for e, _ in rows], [n for _, n in rows]),
            )
        else:
            cursor.executemany(
                "INSERT INTO {p}pending (episode_id, kafka_partition) VALUES (?, ?) ON CONFLICT DO NOTHING",
                rows,
            )

    def claim_pending(self, cursor: Cursor, limit: int, partitions: Iterable[int] | None = None) -> list[str]:
        """Take up to `limit` pending episodes off the list, for this transaction to recompute:
        of the given partition numbers only (a consumer's own), or of any.

        On PostgreSQL rows another transaction has claimed are skipped, not waited for: consumers
        draining together share the list. Rolled back, the claimed rows are pending again.
        """
        if limit <= 0:
            return []
        where, params = "", list[Any]([limit])
        if partitions is not None:
            where, params = "WHERE kafka_partition = ANY(?) ", [sorted(set(partitions)), limit]
        if self.dialect == "postgres":
            cursor.execute(
                "DELETE FROM {p}pending WHERE episode_id IN (SELECT episode_id FROM {p}pending "
                + where
                + "ORDER BY episode_id LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING episode_id",
                params,
            )
            return sorted(episode_id for (episode_id,) in cursor.fetchall())
        cursor.execute("SELECT episode_id, kafka_partition FROM {p}pending ORDER BY episode_id")
        wanted = None if partitions is None else set(partitions)
        claimed = [e for e, n in cursor.fetchall() if wanted is None or n in wanted][:limit]
        cursor.executemany("DELETE FROM {p}pending WHERE episode_id = ?", [(e,) for e in claimed])
        return claimed

    def release_pending(self, cursor: Cursor, patients: Iterable[str]) -> None:
        """Take the episodes of these patients off the pending list: the caller recomputes every one
        of them in this transaction. Before it reads their events: an event committed after this
        statement keeps its episode's row (inserted with it), so nothing is recomputed too early."""
        wanted = sorted(set(patients))
        if not wanted:
            return
        if self.dialect == "postgres":
            # A row another transaction holds (claimed: it recomputes that episode) is left to it
            # rather than waited for.
            cursor.execute(
                "DELETE FROM {p}pending WHERE episode_id IN (SELECT episode_id FROM {p}pending "
                "WHERE episode_id IN (SELECT episode_id FROM {p}events WHERE patient_ref = ANY(?)) "
                "FOR UPDATE SKIP LOCKED)",
                (wanted,),
            )
        else:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                cursor.execute(
                    "DELETE FROM {p}pending WHERE episode_id IN (SELECT episode_id FROM {p}events "
                    f"WHERE patient_ref IN ({', '.join('?' * len(chunk))}))",
                    chunk,
                )

    def pending(self) -> set[str]:
        """The episodes waiting for their read models to be recomputed."""
        with self.transaction() as cursor:
            cursor.execute("SELECT episode_id FROM {p}pending")
            return {episode_id for (episode_id,) in cursor.fetchall()}

    def has_pending(self) -> bool:
        with self.transaction() as cursor:
            cursor.execute("SELECT EXISTS (SELECT 1 FROM {p}pending)")
            return bool(cursor.fetchall()[0][0])

    def store_dead_letters(self, cursor: Cursor, letters: Iterable[DeadLetter]) -> None:
        cursor.executemany(
            "INSERT INTO {p}dead_letters (stream, position, event_id, error, payload) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (stream, position) DO NOTHING",
            [(x.stream, x.position, x.event_id, x.error, x.payload) for x in letters],
        )

    def patient_groups(self, cursor: Cursor, episode_ids: Iterable[str]) -> dict[str, dict[str, list[Event]]]:
        """For the given episodes, every episode of the same patients with all its stored events.

        An episode whose referral has not arrived stays ungrouped: its events wait in the table.
        """
        patients: set[str] = set()
        for episode_id in episode_ids:
            cursor.execute(
                "SELECT recorded_at, event_id, patient_ref FROM {p}events "
                "WHERE episode_id = ? AND patient_ref IS NOT NULL",
                (episode_id,),
            )
            first = first_referral_patient(cursor.fetchall())
            if first is not None:
                patients.add(first)
            # A late, earlier-recorded referral can move an episode to another patient: the one it
            # was settled with before must be settled again without it.
            cursor.execute("SELECT patient_ref FROM {p}episodes WHERE episode_id = ?", (episode_id,))
            patients.update(patient for (patient,) in cursor.fetchall())
        groups: dict[str, dict[str, list[Event]]] = {}
        for patient in sorted(patients):
            cursor.execute("SELECT DISTINCT episode_id FROM {p}events WHERE patient_ref = ?", (patient,))
            episodes: dict[str, list[Event]] = {}
            for (episode_id,) in cursor.fetchall():
                cursor.execute("SELECT body FROM {p}events WHERE episode_id = ?", (episode_id,))
                events = [parse_event(body) for (body,) in cursor.fetchall()]
                if patient_of(events) == patient:
                    episodes[episode_id] = events
            groups[patient] = episodes
        return groups

    def replace_episode(
        self,
        cursor: Cursor,
        view: EpisodeView,
        through: date,
        digest: str | None = None,
        *,
        days: bool = True,
        claim_lines: bool = True,
        timeline: bool = True,
    ) -> None:
        """One episode's row, row by row, and those of its sections that are flagged."""
        episode_id = view.episode_id
        sections = {"days": days, "claim_lines": claim_lines, "timeline": timeline}
        for table in [table for table, rewrite in sections.items() if rewrite]:
            cursor.execute(f"DELETE FROM {{p}}{table} WHERE episode_id = ?", (episode_id,))
        cursor.execute("DELETE FROM {p}episodes WHERE episode_id = ?", (episode_id,))
        cursor.execute(
            "INSERT INTO {p}episodes (episode_id, patient_ref, payer_id, status, start_of_care, "
            "billable_days, through, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                episode_id,
                view.patient_ref,
                view.payer_id,
                view.status,
                view.start_of_care.isoformat() if view.start_of_care else None,
                view.billable_days,
                through.isoformat(),
                digest or episode_digest(view),
            ),
        )
        written_days = view.days if days else ()
        written_claim_lines = view.claim_lines if claim_lines else ()
        written_timeline = view.timeline if timeline else ()
        cursor.executemany(
            "INSERT INTO {p}days (episode_id, day, billable, reason, authorization_number) "
            "VALUES (?, ?, ?, ?, ?)",
            [(episode_id, d.date.isoformat(), d.billable, d.reason, d.authorization) for d in written_days],
        )
        cursor.executemany(
            "INSERT INTO {p}claim_lines (episode_id, line_no, code, from_date, to_date, units, "
            "authorization_number) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    episode_id,
                    n,
                    c.code,
                    c.from_date.isoformat(),
                    c.to_date.isoformat(),
                    c.units,
                    c.authorization,
                )
                for n, c in enumerate(written_claim_lines)
            ],
        )
        cursor.executemany(
            "INSERT INTO {p}timeline (episode_id, seq, occurred_at, recorded_at, event_type, source, "
            "event_id, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (episode_id, n, t.occurred_at, t.recorded_at, t.event_type, t.source, t.event_id, t.summary)
                for n, t in enumerate(written_timeline)
            ],
        )

    # --- bulk variants for PostgreSQL (the Kafka consumers): same rows, fewer round trips ---------

    def insert_new_events(self, cursor: Cursor, events: Sequence[Event]) -> list[Event]:
        """Store events not seen before (by event_id) in one statement; return those inserted.

        The same rows as `store_events`: within the batch the first copy of an event_id wins.
        """
        if self.dialect != "postgres":
            inserted = []
            for event in _first_copies(events):
                before = self.store_events(cursor, [event])
                if before:
                    inserted.append(event)
            return inserted
        firsts = _first_copies(events)
        if not firsts:
            return []
        cursor.execute(
            "INSERT INTO {p}events (event_id, episode_id, event_type, patient_ref, recorded_at, body) "
            # %b: arrays sent in binary, no text quoting of every JSON body (several times faster)
            "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[]) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            (
                [e.event_id for e in firsts],
                [e.episode_id for e in firsts],
                [e.event_type for e in firsts],
                [e.data.patient_ref if isinstance(e.data, ReferralReceived) else None for e in firsts],
                [e.recorded_at for e in firsts],
                [to_json(e) for e in firsts],
            ),
        )
        new_ids = {event_id for (event_id,) in cursor.fetchall()}
        return [e for e in firsts if e.event_id in new_ids]

    def lock(self, cursor: Cursor, kind: int, keys: Iterable[str]) -> None:
        """PostgreSQL transaction-level advisory locks on `keys` (EPISODE_LOCK or PATIENT_LOCK).

        Consumers in one group recompute concurrently; two that touch the same episode or the same
        patient take turns, so the later one sees what the earlier one committed. Taken in one
        sorted order, so two consumers never wait for each other in a cycle. SQLite needs none
        (BEGIN IMMEDIATE already admits one writer at a time).
        """
        if self.dialect != "postgres":
            return
        names = sorted({f"{self.prefix}{key}" for key in keys})
        if names:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(?, k)) FROM "
                "(SELECT DISTINCT hashtext(x) AS k FROM unnest(?::text[]) AS x ORDER BY k) AS keys",
                (kind, names),
            )
            cursor.fetchall()

    def patients_of(self, cursor: Cursor, episode_ids: Iterable[str]) -> set[str]:
        """The patients whose episode groups must be settled again when these episodes changed.

        As in `patient_groups`: each episode's patient by its first recorded referral, and the
        patient it was settled with before (a late, earlier-recorded referral can move it).
        """
        ids = sorted(set(episode_ids))
        if self.dialect != "postgres" or not ids:
            return set(self.patient_groups(cursor, ids)) if ids else set()
        cursor.execute(
            "SELECT episode_id, patient_ref, recorded_at, event_id FROM {p}events "
            "WHERE episode_id = ANY(?) AND patient_ref IS NOT NULL",
            (ids,),
        )
        referrals: dict[str, list[tuple[str, str, str]]] = {}
        for episode_id, patient_ref, recorded_at, event_id in cursor.fetchall():
            referrals.setdefault(episode_id, []).append((recorded_at, event_id, patient_ref))
        patients = {patient for found in referrals.values() if (patient := first_referral_patient(found))}
        cursor.execute("SELECT patient_ref FROM {p}episodes WHERE episode_id = ANY(?)", (ids,))
        patients.update(patient for (patient,) in cursor.fetchall())
        return patients

    def groups_of(
        self,
        cursor: Cursor,
        patients: Iterable[str],
        parse: Callable[[str, str], Event] | None = None,
        cached: Callable[[str], Event | None] | None = None,
        fingerprints: dict[str, int] | None = None,
    ) -> dict[str, dict[str, list[Event]]]:
        """`patient_groups` for known patients, in three or four queries.

        `parse(event_id, body)` may cache; with `cached(event_id)` (an event already parsed, or
        None) only the bodies of the events it does not know are read from the table.
        With `cached` on PostgreSQL, `fingerprints` (when given) receives what each patient's
        group was read from, as `group_fingerprints` gives it.
        """
        wanted = sorted(set(patients))
        if self.dialect != "postgres":
            groups: dict[str, dict[str, list[Event]]] = {}
            for patient in wanted:
                cursor.execute("SELECT DISTINCT episode_id FROM {p}events WHERE patient_ref = ?", (patient,))
                episode_ids = [episode_id for (episode_id,) in cursor.fetchall()]
                groups.update(
                    (p, g) for p, g in self.patient_groups(cursor, episode_ids).items() if p == patient
                )
                groups.setdefault(patient, {})
            return groups
        read = parse or (lambda _event_id, body: parse_event(body))
        candidates = self._candidates(cursor, wanted)
        episode_ids = sorted({e for episodes in candidates.values() for e in episodes})
        events_of: dict[str, list[Event]] = {e: [] for e in episode_ids}
        if episode_ids and cached is not None:
            cursor.execute(
                "SELECT episode_id, event_id FROM {p}events WHERE episode_id = ANY(?)", (episode_ids,)
            )
            pairs = cursor.fetchall()
            if fingerprints is not None:
                fingerprints.update(_group_sizes(wanted, candidates, Counter(e for e, _ in pairs)))
            unknown: dict[str, str] = {}
            for episode_id, event_id in pairs:
                known = cached(event_id)
                if known is None:
                    unknown[event_id] = episode_id
                else:
                    events_of[episode_id].append(known)
            if unknown:
                cursor.execute(
                    "SELECT event_id, body FROM {p}events WHERE event_id = ANY(?)", (list(unknown),)
                )
                for event_id, body in cursor.fetchall():
                    events_of[unknown[event_id]].append(read(event_id, body))
        elif episode_ids:
            cursor.execute(
                "SELECT episode_id, event_id, body FROM {p}events WHERE episode_id = ANY(?)", (episode_ids,)
            )
            for episode_id, event_id, body in cursor.fetchall():
                events_of[episode_id].append(read(event_id, body))
        result: dict[str, dict[str, list[Event]]] = {}
        for patient in wanted:
            result[patient] = {
                episode_id: events_of[episode_id]
                for episode_id in sorted(candidates.get(patient, ()))
                if patient_of(events_of[episode_id]) == patient
            }
        return result

    def _candidates(self, cursor: Cursor, patients: list[str]) -> dict[str, list[str]]:
        """PostgreSQL: the episodes with a referral naming each patient."""
        cursor.execute(
            "SELECT DISTINCT patient_ref, episode_id FROM {p}events WHERE patient_ref = ANY(?)", (patients,)
        )
        candidates: dict[str, list[str]] = {}
        for patient, episode_id in cursor.fetchall():
            candidates.setdefault(patient, []).append(episode_id)
        return candidates

    def group_fingerprints(self, cursor: Cursor, patients: Iterable[str]) -> dict[str, int]:
        """What each patient's group is made of now (PostgreSQL): the number of events of the
        episodes with a referral naming the patient. Events are only ever added, and so are such
        episodes: a group read earlier in the transaction is the same group exactly when the number
        is the same (an episode's patient follows from its own events only)."""
        wanted = sorted(set(patients))
        candidates = self._candidates(cursor, wanted)
        episode_ids = sorted({e for episodes in candidates.values() for e in episodes})
        cursor.execute(
            "SELECT episode_id, count(*) FROM {p}events WHERE episode_id = ANY(?) GROUP BY episode_id",
            (episode_ids,),
        )
        return _group_sizes(wanted, candidates, {e: int(count) for e, count in cursor.fetchall()})

    def replace_episodes(
        self,
        cursor: Cursor,
        views: Sequence[EpisodeView],
        through: date,
        written: WrittenViews | None = None,
    ) -> None:
        """Write the episodes' rows: on PostgreSQL with one DELETE and one COPY per table.

        An episode whose stored digest is its view's, computed through the same day, is left as it
        is. With `written`, an episode whose stored rows are a remembered view (see WrittenViews)
        has only its changed sections rewritten, and the views written are remembered.
        """
        stamp = through.isoformat()
        digests = {view.episode_id: episode_digest(view) for view in views}
        stored_rows = self._stored_stamps(cursor, list(digests))
        stored_digests = {e: digest for e, (digest, _) in stored_rows.items()}
        # Left whole only when computed through the same day too: the daily refresh looks for
        # episodes by their `through`, and an ended episode's days do not change with it.
        unchanged = {e for e, digest in digests.items() if stored_rows.get(e) == (digest, stamp)}
        if written is not None:
            written.skipped += len(unchanged)
        views = [view for view in views if view.episode_id not in unchanged]
        if not views:
            return
        stored: dict[str, EpisodeView] = {}  # episodes whose rows are known to hold this view
        if written is not None:
            candidates = written.remembered(views, stamp)
            stored = {e: view for e, (view, digest) in candidates.items() if stored_digests.get(e) == digest}

        def changed(section: Callable[[EpisodeView], object]) -> list[EpisodeView]:
            return [
                v for v in views if v.episode_id not in stored or section(stored[v.episode_id]) != section(v)
            ]

        days = changed(lambda v: v.days)
        claim_lines = changed(lambda v: v.claim_lines)
        timeline = changed(lambda v: v.timeline)
        if self.dialect == "postgres" and hasattr(cursor, "copy"):
            self._copy_episodes(cursor, views, days, claim_lines, timeline, stamp, digests)
        else:
            # By id: `view in days` would compare whole views, ledger day by ledger day.
            day_ids, claim_ids, timeline_ids = (
                {v.episode_id for v in s} for s in (days, claim_lines, timeline)
            )
            for view in views:
                self.replace_episode(
                    cursor,
                    view,
                    through,
                    digests[view.episode_id],
                    days=view.episode_id in day_ids,
                    claim_lines=view.episode_id in claim_ids,
                    timeline=view.episode_id in timeline_ids,
                )
        if written is not None:
            written.remember(views, stamp, digests)

    def _stored_stamps(self, cursor: Cursor, episode_ids: list[str]) -> dict[str, tuple[str, str]]:
        """episode_id -> (digest, through) of the stored episode rows."""
        if self.dialect == "postgres":
            cursor.execute(
                "SELECT episode_id, digest, through FROM {p}episodes WHERE episode_id = ANY(?)",
                (episode_ids,),
            )
            return {e: (digest, through) for e, digest, through in cursor.fetchall()}
        found = {}
        for episode_id in episode_ids:
            cursor.execute("SELECT digest, through FROM {p}episodes WHERE episode_id = ?", (episode_id,))
            for digest, through in cursor.fetchall():
                found[episode_id] = (digest, through)
        return found

    def _copy_episodes(
        self,
        cursor: Any,  # a _PrefixedCursor on PostgreSQL: it has `copy`
        views: Sequence[EpisodeView],
        days: Sequence[EpisodeView],
        claim_lines: Sequence[EpisodeView],
        timeline: Sequence[EpisodeView],
        stamp: str,
        digests: Mapping[str, str],
    ) -> None:
        """PostgreSQL: the episode rows, and the sections listed, by one DELETE and one COPY each."""
        for table, rewritten in (
            ("days", days),
            ("claim_lines", claim_lines),
            ("timeline", timeline),
            ("episodes", views),
        ):
            if rewritten:
                rewritten_ids = [v.episode_id for v in rewritten]
                cursor.execute(f"DELETE FROM {{p}}{table} WHERE episode_id = ANY(?)", (rewritten_ids,))
        cursor.copy(
            "episodes",
            (
                "episode_id",
                "patient_ref",
                "payer_id",
                "status",
                "start_of_care",
                "billable_days",
                "through",
                "digest",
            ),
            (
                (
                    v.episode_id,
                    v.patient_ref,
                    v.payer_id,
                    v.status,
                    v.start_of_care.isoformat() if v.start_of_care else None,
                    v.billable_days,
                    stamp,
                    digests[v.episode_id],
                )
                for v in views
            ),
        )
        cursor.copy(
            "days",
            ("episode_id", "day", "billable", "reason", "authorization_number"),
            (
                (v.episode_id, d.date.isoformat(), d.billable, d.reason, d.authorization)
                for v in days
                for d in v.days
            ),
        )
        cursor.copy(
            "claim_lines",
            ("episode_id", "line_no", "code", "from_date", "to_date", "units", "authorization_number"),
            (
                (
                    v.episode_id,
                    n,
                    c.code,
                    c.from_date.isoformat(),
                    c.to_date.isoformat(),
                    c.units,
                    c.authorization,
                )
                for v in claim_lines
                for n, c in enumerate(v.claim_lines)
            ),
        )
        cursor.copy(
            "timeline",
            (
                "episode_id",
                "seq",
                "occurred_at",
                "recorded_at",
                "event_type",
                "source",
                "event_id",
                "summary",
            ),
            (
                (v.episode_id, n, t.occurred_at, t.recorded_at, t.event_type, t.source, t.event_id, t.summary)
                for v in timeline
                for n, t in enumerate(v.timeline)
            ),
        )

    def positions_for_update(
        self, cursor: Cursor, consumer: str, streams: Iterable[str] | None = None
    ) -> dict[str, int]:
        """A consumer's positions, read inside a transaction (locked on PostgreSQL until it ends).

        With `streams`, only those rows are read and locked: consumer processes of one group own
        different partitions and must not wait for each other's batches.
        """
        if streams is None:
            lock = " FOR UPDATE" if self.dialect == "postgres" else ""
            cursor.execute("SELECT stream, position FROM {p}positions WHERE consumer = ?" + lock, (consumer,))
            return {stream: int(position) for stream, position in cursor.fetchall()}
        wanted = sorted(set(streams))
        if self.dialect != "postgres":
            return {s: p for s, p in self.positions_for_update(cursor, consumer).items() if s in wanted}
        cursor.execute(
            "SELECT stream, position FROM {p}positions WHERE consumer = ? AND stream = ANY(?) "
            "ORDER BY stream FOR UPDATE",
            (consumer, wanted),
        )
        return {stream: int(position) for stream, position in cursor.fetchall()}

    def positions(self, consumer: str) -> dict[str, int]:
        with self.transaction() as cursor:
            cursor.execute("SELECT stream, position FROM {p}positions WHERE consumer = ?", (consumer,))
            return {stream: int(position) for stream, position in cursor.fetchall()}

    def save_position(self, cursor: Cursor, consumer: str, stream: str, position: int) -> None:
        cursor.execute(
            "INSERT INTO {p}positions (consumer, stream, position) VALUES (?, ?, ?) "
            "ON CONFLICT (consumer, stream) DO UPDATE SET position = excluded.position",
            (consumer, stream, position),
        )

    # --- reads ------------------------------------------------------------------------------------

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every read-model row, sorted: what `verify` and the tests compare (positions left out)."""
        tables = {}
        with self.transaction() as cursor:
            for table in ("events", "episodes", "days", "claim_lines", "timeline", "dead_letters"):
                cursor.execute(f"SELECT * FROM {{p}}{table}")
                tables[table] = sorted(tuple(_plain(v) for v in row) for row in cursor.fetchall())
        return tables

    def digests(self) -> dict[str, str]:
        with self.transaction() as cursor:
            cursor.execute("SELECT episode_id, digest FROM {p}episodes")
            return dict(cursor.fetchall())


def _group_sizes(
    patients: Iterable[str], candidates: Mapping[str, list[str]], events_of: Mapping[str, int]
) -> dict[str, int]:
    """Per patient, the number of events of its candidate episodes (`events_of`: per episode)."""
    return {p: sum(events_of.get(e, 0) for e in candidates.get(p, ())) for p in patients}


def _first_copies(events: Iterable[Event]) -> list[Event]:
    """Each event_id once, its first copy, in order."""
    seen: set[str] = set()
    firsts = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            firsts.append(event)
    return firsts


def _plain(value: Any) -> Any:
    return bool(value) if isinstance(value, bool) else value


def cursor_rowcount(cursor: Cursor) -> int:
    return int(getattr(cursor, "rowcount", 0))


class _PrefixedCursor:
    """A DB-API cursor that rewrites `{p}` and `?` for the store's prefix and dialect."""

    def __init__(self, store: ReadModelStore, cursor: Any) -> None:
        self._store = store
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(self._store.sql(sql), params)

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Any:
        rows = list(params)
        if rows:
            return self._cursor.executemany(self._store.sql(sql), rows)
        return None

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """PostgreSQL COPY of rows into `{p}table` (psycopg adapts each value as for a query)."""
        statement = f"COPY {self._store.prefix}{table} ({', '.join(columns)}) FROM STDIN"
        with self._cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
