"""The API's read side: keeps the read models current on the embedded default, and reads them.

Read-your-writes: a command only stores its events and wakes a background projector; every
query first catches the projector up (a few empty reads when it already is), so a query always
sees the commands that returned before it. Commands thus never wait for the projection.
With `inline=False` (Kafka consumers keep the read models) the API only reads.

`as_of` (what was known at an instant), a `through` other than the stored one, and the ledger
and timeline of an episode still pending (a Kafka consumer catching up has stored its new events
but not yet recomputed it) are answered by running the pure core over the events stored in
`rm_events`; everything else is read from the `rm_` tables. The SQL is the read-model shell's
(projections/readmodels/tables.py); this module only chooses what to read and when.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from carecoord.api.db import read_model_store
from carecoord.config import Settings
from events import Event, instant
from projections.core.care_team import care_team
from projections.core.claim_actions import Month, PeriodClaim, patient_period_claims
from projections.core.claim_changes import ClaimChanges, claim_changes
from projections.core.episode import EpisodeView, patient_of, project_patient
from projections.core.episode_records import timeline_with_data
from projections.core.worklist import item_order, worklist_items
from projections.readmodels import tables
from projections.readmodels.datastore import Cursor
from projections.readmodels.projector import EventStream, Projector
from projections.readmodels.tables import EpisodeRow
from projections.readmodels.writer import refresh_stale

log = logging.getLogger("carecoord.api")

BATCH_WINDOW_SECONDS = 0.05
PATIENTS_PER_READ = 500  # recomputing on read (as_of, pending): patients read per transaction

__all__ = ["EpisodeRow", "Ledger", "ReadSide", "ledger_of"]

T = TypeVar("T")


@dataclass(frozen=True)
class Ledger:
    episode: EpisodeRow
    days: Sequence[tuple[str, bool, str, str | None]]  # date, billable, reason, authorization


class ReadSide:
    def __init__(
        self,
        settings: Settings,
        streams: Sequence[EventStream],
        *,
        inline: bool = True,
        today: Callable[[], date] = date.today,
    ) -> None:
        self._today = today
        self._writer = read_model_store(settings)
        self._writer.create_tables()
        self.projector = Projector(self._writer, streams, through=today) if inline else None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refreshed_for: date | None = None
        self._reader = read_model_store(settings, per_thread=True)  # endpoints run on a thread pool
        self.last_error: str | None = None

    # --- keeping current --------------------------------------------------------------------------

    def start(self) -> None:
        if self.projector is not None and self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="carecoord-projector", daemon=True)
            self._thread.start()
            self._wake.set()

    def notify(self) -> None:
        """A command stored events: project them soon."""
        self._wake.set()

    def _follow(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=60)
            # Let a burst of commands gather into one batch: a patient touched by several of them
            # is recomputed once. Queries never wait for this: they catch up themselves.
            self._stop.wait(BATCH_WINDOW_SECONDS)
            self._wake.clear()
            if not self._stop.is_set():
                self.catch_up()

    def catch_up(self) -> bool:
        """Project everything stored so far; False (logged, and kept in `last_error`) when it failed."""
        if self.projector is None:
            return True
        with self._lock:
            try:
                self.projector.catch_up()
                self._advance_through()
            except Exception as error:  # the read model stays as it was; the next call tries again
                log.exception("projection failed")
                self.last_error = f"{type(error).__name__}: {error}"
                return False
            self.last_error = None
            return True

    def _advance_through(self) -> None:
        """Once a day, recompute the episodes last computed through an earlier day."""
        today = self._today()
        if self._refreshed_for == today:
            return
        refresh_stale(self._writer, today)
        self._refreshed_for = today

    def stop(self) -> None:
        """Stop the background projector (`start` may run it again)."""
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join(timeout=30)
            self._thread = None
            self._stop.clear()

    def close(self) -> None:
        self.stop()
        self._reader.close()
        self._writer.close()

    def today(self) -> date:
        return self._today()

    # --- reads ------------------------------------------------------------------------------------

    def _read(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A query of projections.readmodels.tables, in a transaction of this thread's connection."""
        with self._reader.transaction() as cursor:
            return query(cursor, *args, **kwargs)

    def episodes(
        self,
        *,
        status: str | None = None,
        patient_ref: str | None = None,
        payer: str | None = None,
        days_from: date | None = None,
        days_to: date | None = None,
        limit: int = 100,
        offset: int = 0,
        among: Collection[str] | None = None,
    ) -> list[EpisodeRow]:
        """Episodes by the filters; only those `among` the given ids when given."""
        return self._read(
            tables.episodes,
            status=status,
            patient_ref=patient_ref,
            payer=payer,
            days_from=days_from,
            days_to=days_to,
            limit=limit,
            offset=offset,
            among=among,
        )

    def care_team(self, episode_id: str) -> dict[str, str]:
        """Who is on the episode's care team now: member -> role."""
        return care_team(self._read(tables.care_team_events, episode_id).get(episode_id, []))

    def care_team_episodes(self, member: str) -> set[str]:
        """The episodes whose care team `member` is on now."""
        by_episode = self._read(tables.care_team_events)
        return {episode_id for episode_id, events in by_episode.items() if member in care_team(events)}

    def episode(self, episode_id: str) -> EpisodeRow | None:
        return self._read(tables.episode, episode_id)

    def timeline(self, episode_id: str) -> list[tables.TimelineEntry] | None:
        """(occurred_at, recorded_at, event_type, source, event_id, summary) in timeline order;
        None for an unknown episode."""
        entries = self.timeline_with_data(episode_id)
        return None if entries is None else [entry[:6] for entry in entries]

    def timeline_with_data(
        self, episode_id: str, as_of: datetime | None = None
    ) -> list[tables.TimelineEntryWithData] | None:
        """The timeline, each entry with its event's contract `data`: the stored rows beside the
        stored events; from the events alone for a pending episode or `as_of`. None for an episode
        unknown (as of `as_of`)."""
        if as_of is None:
            episode, pending = self._read(tables.stored_episode, episode_id)
            if not pending:
                return None if episode is None else self._read(tables.timeline_with_data, episode_id)
        events = self.episode_events(episode_id, as_of)
        if events is None:
            return None
        return [(*record.entry.row(), record.data) for record in timeline_with_data(events)]

    def ledger(self, episode_id: str, through: date) -> Ledger | None:
        """The stored ledger when it was computed through `through` and the episode is not pending;
        else recomputed from the events. None for an unknown episode."""
        episode, pending = self._read(tables.stored_episode, episode_id)
        if episode is None and not pending:
            return None
        if episode is not None and not pending and episode.through == through.isoformat():
            return Ledger(episode, self._read(tables.ledger_days, episode_id))
        view = self.recompute(episode_id, through, as_of=None)
        return None if view is None else ledger_of(view, through)

    def recompute(self, episode_id: str, through: date, as_of: datetime | None) -> EpisodeView | None:
        """The episode as the pure core sees the stored events (only those recorded by `as_of`)."""
        settled = self.settle(episode_id, through, as_of)
        return None if settled is None else settled[0]

    def settle(
        self, episode_id: str, through: date, as_of: datetime | None
    ) -> tuple[EpisodeView, list[Event]] | None:
        """The episode settled with its patient's others from the stored events (only those
        recorded by `as_of`), and its own events; None for an episode unknown then."""

        def known(event: Event) -> bool:
            return as_of is None or instant(event.recorded_at) <= as_of

        def group(cursor: Cursor) -> dict[str, list[Event]] | None:
            patient = patient_of(e for e in self._reader.events_of(cursor, episode_id) if known(e))
            if patient is None:
                return None
            return self._reader.patient_groups(cursor, [patient], keep=known)[patient]

        episodes = self._read(group)
        if episodes is None:
            return None
        for view in project_patient(episodes, through):
            if view.episode_id == episode_id:
                return view, episodes[episode_id]
        return None

    def episode_events(self, episode_id: str, as_of: datetime | None = None) -> list[Event] | None:
        """One episode's stored events (only those recorded by `as_of`); None while it has no
        referral (then, as of then)."""

        def read(cursor: Cursor) -> list[Event]:
            return [
                event
                for event in self._reader.events_of(cursor, episode_id)
                if as_of is None or instant(event.recorded_at) <= as_of
            ]

        events = self._read(read)
        return events if patient_of(events) is not None else None

    def count_episodes(self, **filters: Any) -> int:
        """How many episodes `episodes` lists with these filters, over all pages."""
        return self._read(tables.count_episodes, **filters)

    def claim_lines(self, period_from: date, period_to: date, payer: str | None) -> list[tables.ClaimLineRow]:
        """Lines overlapping the period: (payer_id, episode_id, patient_ref, code, from, to, units,
        authorization)."""
        return self._read(tables.claim_lines, period_from, period_to, payer)

    def dead_letters(self, limit: int, offset: int) -> list[tables.DeadLetterRow]:
        return self._read(tables.dead_letters, limit, offset)

    # --- the worklist and the claims --------------------------------------------------------------

    def worklist(
        self,
        today: date,
        *,
        kind: str | None = None,
        episode_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
        as_of: datetime | None = None,
        among: Collection[str] | None = None,
    ) -> tables.WorklistPage:
        """The worklist on `today` from the stored item spans; with `as_of`, recomputed from the
        events recorded by then (every patient's, or `episode_id`'s patient's). With `among`, only
        the items of those episodes (a nurse's care teams)."""
        if as_of is None:
            return self._read(
                tables.worklist,
                today,
                kind=kind,
                episode_id=episode_id,
                limit=limit,
                offset=offset,
                among=among,
            )
        items = [
            item
            for group in self.patient_groups_as_of(as_of, episode_id)
            for item in worklist_items(group, today)
            if (kind is None or item.kind == kind)
            and (episode_id is None or item.episode_id == episode_id)
            and (among is None or item.episode_id in among)
        ]
        items.sort(key=item_order)
        return tables.WorklistPage(len(items), items[offset : offset + limit])

    def period_claims(
        self,
        period: Month,
        actions: Sequence[str] | None = None,
        as_of: datetime | None = None,
        through: date | None = None,
    ) -> list[PeriodClaim]:
        """The period's claims by episode_id (only those of `actions`, when given): stored, or
        with `as_of` (or an earlier `through` than the period's end: `carecoord claims --through`)
        recomputed from the events recorded by then. An episode still pending (a consumer catching
        up has stored its events, not yet its rows) is recomputed here too."""
        if as_of is not None or through is not None:
            found = [
                c
                for group in self.patient_groups_as_of(as_of)
                for c in patient_period_claims(group, period, through)
            ]
        else:

            def read(cursor: Cursor) -> tuple[list[PeriodClaim], dict[str, dict[str, list[Event]]]]:
                stored = tables.period_claims(cursor, str(period), actions)
                pending = [
                    episode_id
                    for (episode_id,) in cursor.execute("SELECT episode_id FROM {p}pending").fetchall()
                ]
                groups = (
                    self._reader.patient_groups(cursor, self._reader.patients_of(cursor, pending))
                    if pending
                    else {}
                )
                return stored, groups

            stored, groups = self._read(read)
            redone = [c for group in groups.values() for c in patient_period_claims(group, period)]
            again = {episode_id for group in groups.values() for episode_id in group}
            found = [c for c in stored if c.episode_id not in again] + redone
        chosen = [c for c in found if actions is None or str(c.action) in actions]
        return sorted(chosen, key=lambda claim: claim.episode_id)

    def episode_period_claim(self, episode_id: str, period: Month) -> PeriodClaim | None:
        """The episode's claim for the period, computed now from its patient's stored events (what
        a submission records); None when it has nothing for the period. LookupError for an
        episode whose referral is not stored."""
        for group in self.patient_groups_as_of(None, episode_id):
            if episode_id in group:
                found = [c for c in patient_period_claims(group, period) if c.episode_id == episode_id]
                return found[0] if found else None
        raise LookupError(f"episode {episode_id} is unknown")

    def claim_changes(
        self, claims: Sequence[PeriodClaim], as_of: datetime | None = None, through: date | None = None
    ) -> dict[str, ClaimChanges]:
        """Why each REPLACE or VOID claim is wrong now (projections/core/claim_changes.py), by
        episode: computed on read from its patient's events, being too costly to keep."""
        wanted = {c.episode_id: c for c in claims if c.action in ("REPLACE", "VOID")}
        if not wanted:
            return {}
        changes = {}
        for group in self.patient_groups_as_of(as_of, episodes=wanted):
            for episode_id in sorted(wanted.keys() & group.keys()):
                found = claim_changes(group, wanted[episode_id], through)
                if found is not None:
                    changes[episode_id] = found
        return changes

    def referral_events(self, episode_ids: Iterable[str]) -> dict[str, list[Event]]:
        """The stored referrals of these episodes (what an 837P takes from the referral)."""
        return self._read(self._reader.referral_events, episode_ids)

    def patient_groups_as_of(
        self, as_of: datetime | None, episode_id: str | None = None, episodes: Iterable[str] | None = None
    ) -> list[dict[str, list[Event]]]:
        """Patients' episodes with their stored events (only those recorded by `as_of`): of the
        patient of `episode_id`, of the patients of `episodes`, or of every patient. Read a
        chunk of patients per transaction."""

        def known(event: Event) -> bool:
            return as_of is None or instant(event.recorded_at) <= as_of

        def patients(cursor: Cursor) -> list[str]:
            if episode_id is not None:
                patient = patient_of(e for e in self._reader.events_of(cursor, episode_id) if known(e))
                return [patient] if patient is not None else []
            if episodes is not None:
                return sorted(self._reader.patients_of(cursor, episodes))
            return tables.patients(cursor)

        wanted = self._read(patients)
        groups: list[dict[str, list[Event]]] = []
        for first in range(0, len(wanted), PATIENTS_PER_READ):
            chunk = wanted[first : first + PATIENTS_PER_READ]
            read = self._read(self._reader.patient_groups, chunk, keep=known)
            groups += [group for group in read.values() if group]
        return groups


def ledger_of(view: EpisodeView, through: date) -> Ledger:
    episode = EpisodeRow(
        episode_id=view.episode_id,
        patient_ref=view.patient_ref,
        payer_id=view.payer_id,
        status=view.status,
        start_of_care=view.start_of_care.isoformat() if view.start_of_care else None,
        billable_days=view.billable_days,
        through=through.isoformat(),
    )
    days = [(d.date.isoformat(), d.billable, d.reason, d.authorization) for d in view.days]
    return Ledger(episode, days)
