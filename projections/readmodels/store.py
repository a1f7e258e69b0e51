"""The read-model store: one abstract class here, one concrete class per database beside it.

This is the shell around the pure core: it stores events idempotently by `event_id`, reads a
patient's episodes back, replaces the rows of recomputed episodes, and keeps each consumer's
positions and pending episodes (the tracking tables) in the same transaction, so a crash at any
point leaves either the whole batch or none of it. What is written once for both databases is
here; what a database does its own way (bulk statements, locks, claiming rows) is an abstract
method, implemented in sqlite.py and postgres.py, as the eventsourcing library's recorders are.
The write path that calls all this is writer.py; the schema and the reads are tables.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date
from typing import Any

from events import Event, ReferralReceived, parse_event, to_json
from projections.core.episode import first_referral_patient, patient_of
from projections.core.records import EpisodeRecord
from projections.readmodels import tables
from projections.readmodels.caches import EventCache, WrittenViews
from projections.readmodels.datastore import Cursor, Datastore, SQLCursor
from projections.readmodels.sections import SECTIONS, Section, episode_digest
from projections.readmodels.tables import TABLES, DeadLetter, schema_sql

# Kinds of the advisory locks `lock` takes: consumers touching one episode or one patient take turns.
EPISODE_LOCK = 1
PATIENT_LOCK = 2

# patient_ref -> episode_id -> the episode's stored events
PatientGroups = dict[str, dict[str, list[Event]]]


class ReadModelStore(ABC):
    """Read-model tables under one name prefix (`rm_` live; other prefixes for rebuilds)."""

    # The collation clause of text columns that the worklist and the claims sort by in SQL, so
    # that they sort by code point as Python does (see tables.schema_sql).
    binary_collation = ""

    def __init__(self, datastore: Datastore, prefix: str = "rm_") -> None:
        self.datastore = datastore
        self.prefix = prefix

    def transaction(self, *, snapshot: bool = False) -> AbstractContextManager[SQLCursor]:
        """One transaction: everything inside commits together or not at all. With `snapshot`,
        every read in it sees one instant."""
        return self.datastore.transaction(self.prefix, snapshot=snapshot)

    def prefixed(self, cursor: Any) -> SQLCursor:
        """A DB-API cursor of a transaction someone else owns, speaking this store's `{p}` and `?`."""
        return self.datastore.cursor(cursor, self.prefix)

    def close(self) -> None:
        self.datastore.close()

    # --- the tables -------------------------------------------------------------------------------

    def create_tables(self) -> None:
        with self.transaction() as cursor:
            self._serialize_schema_changes(cursor)
            for statement in schema_sql(self.prefix, self.binary_collation):
                cursor.execute(statement)

    @abstractmethod
    def _serialize_schema_changes(self, cursor: Cursor) -> None:
        """Wait, in this transaction, until no other one is creating these tables."""

    def drop_tables(self) -> None:
        with self.transaction() as cursor:
            for table in TABLES:
                cursor.execute(f"DROP TABLE IF EXISTS {self.prefix}{table}")

    # --- events and dead letters ------------------------------------------------------------------

    @abstractmethod
    def insert_events(self, cursor: Cursor, events: Sequence[Event]) -> list[Event]:
        """Store the events not seen before (by event_id); return those inserted, in order.

        Within the batch the first copy of an event_id wins.
        """

    def store_dead_letters(self, cursor: Cursor, letters: Iterable[DeadLetter]) -> None:
        cursor.executemany(
            "INSERT INTO {p}dead_letters (stream, position, event_id, error, payload) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (stream, position) DO NOTHING",
            [(x.stream, x.position, x.event_id, x.error, x.payload) for x in letters],
        )

    # --- positions --------------------------------------------------------------------------------

    @abstractmethod
    def positions_for_update(self, cursor: Cursor, consumer: str, streams: Iterable[str]) -> dict[str, int]:
        """A consumer's positions of these streams, read inside a transaction and held by it until
        it ends: consumer processes of one group own different partitions and must not wait for
        each other's batches."""

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

    # --- pending episodes (catching up) -----------------------------------------------------------

    @abstractmethod
    def defer(self, cursor: Cursor, partition_of: Mapping[str, int]) -> None:
        """Mark episodes as pending: their new events are stored, their read models not yet redone.

        `partition_of`: episode_id -> the Kafka partition number its events came from. In the
        transaction that stored the events, so an episode with an event newer than its read model
        is always either recomputed or pending; a crash loses neither.
        """

    @abstractmethod
    def claim_pending(self, cursor: Cursor, limit: int, partitions: Iterable[int] | None = None) -> list[str]:
        """Take up to `limit` pending episodes off the list, for this transaction to recompute:
        of the given partition numbers only (a consumer's own), or of any. Rolled back, the
        claimed rows are pending again."""

    @abstractmethod
    def release_pending(self, cursor: Cursor, patients: Iterable[str]) -> None:
        """Take the episodes of these patients off the pending list: the caller recomputes every one
        of them in this transaction. Before it reads their events: an event committed after this
        statement keeps its episode's row (inserted with it), so nothing is recomputed too early."""

    def pending(self) -> set[str]:
        """The episodes waiting for their read models to be recomputed."""
        with self.transaction() as cursor:
            cursor.execute("SELECT episode_id FROM {p}pending")
            return {episode_id for (episode_id,) in cursor.fetchall()}

    def has_pending(self) -> bool:
        with self.transaction() as cursor:
            cursor.execute("SELECT EXISTS (SELECT 1 FROM {p}pending)")
            return bool(cursor.fetchall()[0][0])

    # --- patient groups: the one reader of a patient's episodes -----------------------------------

    def patients_of(self, cursor: Cursor, episode_ids: Iterable[str]) -> set[str]:
        """The patients whose episode groups must be settled again when these episodes changed:
        each episode's patient by its first recorded referral, and the patient it was settled with
        before (a late, earlier-recorded referral can move an episode to another patient, and the
        one it was settled with must be settled again without it).

        An episode whose referral has not arrived has no patient yet: its events wait in the table.
        """
        ids = sorted(set(episode_ids))
        referrals: dict[str, list[tuple[str, str, str]]] = {}
        for episode_id, patient_ref, recorded_at, event_id in self._select_in(
            cursor,
            "SELECT episode_id, patient_ref, recorded_at, event_id FROM {p}events "
            "WHERE episode_id {in} AND patient_ref IS NOT NULL",
            ids,
        ):
            referrals.setdefault(episode_id, []).append((recorded_at, event_id, patient_ref))
        patients = {patient for found in referrals.values() if (patient := first_referral_patient(found))}
        rows = self._select_in(cursor, "SELECT patient_ref FROM {p}episodes WHERE episode_id {in}", ids)
        patients.update(patient for (patient,) in rows)
        return patients

    def patient_groups(
        self,
        cursor: Cursor,
        patients: Iterable[str],
        cache: EventCache | None = None,
        sizes: dict[str, int] | None = None,
        keep: Callable[[Event], bool] | None = None,
    ) -> PatientGroups:
        """Every episode of each patient, with its stored events: the episodes with a referral
        naming the patient whose own first referral names it (an episode's patient follows from
        its own events only).

        With `cache` only the bodies of the events it does not hold are read (and parsed into it).
        `sizes` (when given) receives what each patient's group was read from, as `group_sizes`
        gives it. With `keep`, only the events it keeps count (`as_of`: those recorded by then).
        """
        wanted = sorted(set(patients))
        candidates = self._candidates(cursor, wanted)
        events_of = self._events_of(
            cursor, sorted({e for found in candidates.values() for e in found}), cache
        )
        if sizes is not None:
            sizes.update(_group_sizes(wanted, candidates, {e: len(found) for e, found in events_of.items()}))
        if keep is not None:
            events_of = {e: [event for event in found if keep(event)] for e, found in events_of.items()}
        return {
            patient: {
                episode_id: events_of[episode_id]
                for episode_id in sorted(candidates.get(patient, ()))
                if patient_of(events_of[episode_id]) == patient
            }
            for patient in wanted
        }

    def group_sizes(self, cursor: Cursor, patients: Iterable[str]) -> dict[str, int]:
        """What each patient's group is made of now: the number of events of the episodes with a
        referral naming the patient. Events are only ever added, and so are such episodes: a
        group read earlier in the transaction is the same group exactly when the number is the
        same (an episode's patient follows from its own events only)."""
        wanted = sorted(set(patients))
        candidates = self._candidates(cursor, wanted)
        rows = self._select_in(
            cursor,
            "SELECT episode_id, count(*) FROM {p}events WHERE episode_id {in} GROUP BY episode_id",
            sorted({e for found in candidates.values() for e in found}),
        )
        return _group_sizes(wanted, candidates, {e: int(count) for e, count in rows})

    def events_of(self, cursor: Cursor, episode_id: str) -> list[Event]:
        """One episode's stored events."""
        return self._events_of(cursor, [episode_id], None)[episode_id]

    def _candidates(self, cursor: Cursor, patients: list[str]) -> dict[str, list[str]]:
        """The episodes with a referral naming each patient (the partial index holds just those)."""
        candidates: dict[str, list[str]] = {}
        for patient, episode_id in self._select_in(
            cursor, "SELECT DISTINCT patient_ref, episode_id FROM {p}events WHERE patient_ref {in}", patients
        ):
            candidates.setdefault(patient, []).append(episode_id)
        return candidates

    def _events_of(
        self, cursor: Cursor, episode_ids: list[str], cache: EventCache | None
    ) -> dict[str, list[Event]]:
        events_of: dict[str, list[Event]] = {e: [] for e in episode_ids}
        if cache is None:
            for episode_id, _, body in self._select_in(
                cursor, "SELECT episode_id, event_id, body FROM {p}events WHERE episode_id {in}", episode_ids
            ):
                events_of[episode_id].append(parse_event(body))
            return events_of
        unknown: dict[str, str] = {}
        for episode_id, event_id in self._select_in(
            cursor, "SELECT episode_id, event_id FROM {p}events WHERE episode_id {in}", episode_ids
        ):
            known = cache.get(event_id)
            if known is None:
                unknown[event_id] = episode_id
            else:
                events_of[episode_id].append(known)
        for event_id, body in self._select_in(
            cursor, "SELECT event_id, body FROM {p}events WHERE event_id {in}", list(unknown)
        ):
            events_of[unknown[event_id]].append(cache.parse(event_id, body))
        return events_of

    @abstractmethod
    def lock(self, cursor: Cursor, kind: int, keys: Iterable[str]) -> None:
        """Until the transaction ends, hold the lock of each key (EPISODE_LOCK or PATIENT_LOCK):
        two writers that touch the same episode or the same patient take turns, so the later one
        sees what the earlier one committed."""

    @abstractmethod
    def changed_groups(self, cursor: Cursor, patients: Iterable[str], sizes: Mapping[str, int]) -> list[str]:
        """With the patients' locks held: the patients whose group has changed since it was read
        from `sizes` events (see `group_sizes`), in order."""

    # --- episode rows -----------------------------------------------------------------------------

    def replace_episodes(
        self,
        cursor: Cursor,
        records: Sequence[EpisodeRecord],
        through: date,
        written: WrittenViews | None = None,
    ) -> None:
        """Write the episodes' rows: each one's row of `episodes` and its sections (sections.py).

        An episode whose stored digest is its record's, computed through the same day, is left as
        it is. With `written`, an episode whose stored rows are a remembered record (see
        WrittenViews) has only its changed sections rewritten, and the records written are
        remembered.
        """
        stamp = through.isoformat()
        digests = {record.episode_id: episode_digest(record) for record in records}
        stored_rows = {
            e: (digest, stored_through)
            for e, digest, stored_through in self._select_in(
                cursor,
                "SELECT episode_id, digest, through FROM {p}episodes WHERE episode_id {in}",
                list(digests),
            )
        }
        stored_digests = {e: digest for e, (digest, _) in stored_rows.items()}
        # Left whole only when computed through the same day too: the daily refresh looks for
        # episodes by their `through`, and an ended episode's days do not change with it.
        unchanged = {e for e, digest in digests.items() if stored_rows.get(e) == (digest, stamp)}
        if written is not None:
            written.skipped += len(unchanged)
        records = [record for record in records if record.episode_id not in unchanged]
        if not records:
            return
        stored: dict[str, EpisodeRecord] = {}  # episodes whose rows are known to hold this record
        if written is not None:
            candidates = written.remembered(records, stamp)
            stored = {e: r for e, (r, digest) in candidates.items() if stored_digests.get(e) == digest}

        def changed(section: Section) -> list[EpisodeRecord]:
            return [
                r
                for r in records
                if r.episode_id not in stored or section.part(stored[r.episode_id]) != section.part(r)
            ]

        rewritten = {section.table: changed(section) for section in SECTIONS}
        self._write_episodes(cursor, records, rewritten, stamp, digests)
        if written is not None:
            written.remember(records, stamp, digests)

    @abstractmethod
    def _write_episodes(
        self,
        cursor: Cursor,
        records: Sequence[EpisodeRecord],
        rewritten: Mapping[str, Sequence[EpisodeRecord]],
        stamp: str,
        digests: Mapping[str, str],
    ) -> None:
        """Replace the episode rows of `records` (through `stamp`, with their digests) and, for
        each section's table, the rows of the records `rewritten` lists under it; leave the other
        episodes' sections as they are."""

    def referral_events(self, cursor: Cursor, episode_ids: Iterable[str]) -> dict[str, list[Event]]:
        """The stored referrals of these episodes (what an 837P takes from the referral)."""
        found: dict[str, list[Event]] = {}
        for episode_id, body in self._select_in(
            cursor,
            "SELECT episode_id, body FROM {p}events WHERE episode_id {in} AND patient_ref IS NOT NULL",
            sorted(set(episode_ids)),
        ):
            found.setdefault(episode_id, []).append(parse_event(body))
        return found

    # --- reads (see tables.py) --------------------------------------------------------------------

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        with self.transaction() as cursor:
            return tables.dump(cursor)

    def digests(self) -> dict[str, str]:
        with self.transaction() as cursor:
            return tables.digests(cursor)

    def live_state(self, consumer: str) -> tables.LiveState:
        with self.transaction(snapshot=True) as cursor:
            return tables.live_state(cursor, consumer)

    @abstractmethod
    def _select_in(self, cursor: Cursor, sql: str, values: Sequence[Any]) -> list[Any]:
        """The rows of `sql`, whose `{in}` stands for "is one of `values`" (its only parameter).
        None when `values` is empty."""


def event_row(event: Event) -> tuple[str, str, str, str | None, str, str]:
    """An event's row of `events`: only referrals name a patient."""
    patient_ref = event.data.patient_ref if isinstance(event.data, ReferralReceived) else None
    return (
        event.event_id,
        event.episode_id,
        event.event_type,
        patient_ref,
        event.recorded_at,
        to_json(event),
    )


def first_copies(events: Iterable[Event]) -> list[Event]:
    """Each event_id once, its first copy, in order."""
    seen: set[str] = set()
    firsts = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            firsts.append(event)
    return firsts


def _group_sizes(
    patients: Iterable[str], candidates: Mapping[str, list[str]], events_of: Mapping[str, int]
) -> dict[str, int]:
    """Per patient, the number of events of its candidate episodes (`events_of`: per episode)."""
    return {p: sum(events_of.get(e, 0) for e in candidates.get(p, ())) for p in patients}
