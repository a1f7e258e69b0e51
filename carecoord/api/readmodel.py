"""The API's read side: keeps the read models current on the embedded default, and reads them.

Read-your-writes: a command only stores its events and wakes a background projector; every
query first catches the projector up (a few empty reads when it already is), so a query always
sees the commands that returned before it. Commands thus never wait for the projection.
With `inline=False` (Kafka consumers keep the read models) the API only reads.

`as_of` (what was known at an instant), a `through` other than the stored one, and the ledger
and timeline of an episode still pending (a Kafka consumer catching up has stored its new events
but not yet recomputed it) are answered by running the pure core over the events stored in
`rm_events`; everything else is read from the `rm_` tables.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import astuple, dataclass
from datetime import date, datetime
from typing import Any

from carecoord.api.db import read_model_store
from carecoord.config import Settings
from events import Event, instant, parse_event
from projections.core.care_team import CARE_TEAM_EVENT_TYPES, care_team
from projections.core.episode import EpisodeView, patient_of, project_patient
from projections.readmodels.projector import EventStream, Projector
from projections.readmodels.store import ReadModelStore
from projections.readmodels.writer import recompute

log = logging.getLogger("carecoord.api")

BATCH_WINDOW_SECONDS = 0.05
EPISODE_COLUMNS = "episode_id, patient_ref, payer_id, status, start_of_care, billable_days, through"


@dataclass(frozen=True)
class EpisodeRow:
    episode_id: str
    patient_ref: str
    payer_id: str
    status: str
    start_of_care: str | None
    billable_days: int
    through: str


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
        self._settings = settings
        self._today = today
        self._writer = read_model_store(settings)
        self._writer.create_tables()
        self.projector = Projector(self._writer, streams, through=today) if inline else None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refreshed_for: date | None = None
        self._local = threading.local()
        self._readers: list[ReadModelStore] = []
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
        with self._writer.transaction() as cursor:
            cursor.execute("SELECT episode_id FROM {p}episodes WHERE through < ?", (today.isoformat(),))
            stale = [episode_id for (episode_id,) in cursor.fetchall()]
            if stale:
                recompute(self._writer, cursor, stale, today)
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
        for store in self._readers:
            store.close()
        self._readers.clear()
        self._writer.close()

    def today(self) -> date:
        return self._today()

    # --- reads ------------------------------------------------------------------------------------

    def _reader(self) -> ReadModelStore:
        store: ReadModelStore | None = getattr(self._local, "store", None)
        if store is None:
            store = read_model_store(self._settings)
            self._local.store = store
            self._readers.append(store)
        return store

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._reader().transaction() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

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
        where, params = ["1 = 1"], []
        if among is not None:
            if not among:
                return []
            where.append(f"episode_id IN ({', '.join('?' * len(among))})")
            params += sorted(among)
        for clause, value in (
            ("status = ?", status),
            ("patient_ref = ?", patient_ref),
            ("payer_id = ?", payer),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        if days_from is not None or days_to is not None:
            where.append(
                "EXISTS (SELECT 1 FROM {p}days d "
                "WHERE d.episode_id = e.episode_id AND d.day >= ? AND d.day <= ?)"
            )
            params += [(days_from or date.min).isoformat(), (days_to or date.max).isoformat()]
        rows = self._rows(
            f"SELECT {EPISODE_COLUMNS} FROM {{p}}episodes e WHERE {' AND '.join(where)} "
            "ORDER BY episode_id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [EpisodeRow(*row) for row in rows]

    def care_team(self, episode_id: str) -> dict[str, str]:
        """Who is on the episode's care team now: member -> role."""
        rows = self._rows(
            "SELECT body FROM {p}events WHERE episode_id = ? AND event_type IN (?, ?)",
            (episode_id, *CARE_TEAM_EVENT_TYPES),
        )
        return care_team(parse_event(body) for (body,) in rows)

    def care_team_episodes(self, member: str) -> set[str]:
        """The episodes whose care team `member` is on now."""
        by_episode: dict[str, list[Event]] = defaultdict(list)
        for episode_id, body in self._rows(
            "SELECT episode_id, body FROM {p}events WHERE event_type IN (?, ?)", CARE_TEAM_EVENT_TYPES
        ):
            by_episode[episode_id].append(parse_event(body))
        return {episode_id for episode_id, events in by_episode.items() if member in care_team(events)}

    def episode(self, episode_id: str) -> EpisodeRow | None:
        rows = self._rows(f"SELECT {EPISODE_COLUMNS} FROM {{p}}episodes WHERE episode_id = ?", (episode_id,))
        return EpisodeRow(*rows[0]) if rows else None

    def _stored(self, episode_id: str) -> tuple[EpisodeRow | None, bool]:
        """The episode's stored row (None when there is none) and whether it is pending."""
        rows = self._rows(
            f"SELECT {EPISODE_COLUMNS}, NULL FROM {{p}}episodes WHERE episode_id = ? "
            "UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1 FROM {p}pending "
            "WHERE episode_id = ?",
            (episode_id, episode_id),
        )
        stored = [EpisodeRow(*row[:-1]) for row in rows if row[-1] is None]
        return (stored[0] if stored else None), any(row[-1] is not None for row in rows)

    def timeline(self, episode_id: str) -> list[tuple[str, str, str, str, str, str]] | None:
        """(occurred_at, recorded_at, event_type, source, event_id, summary) in timeline order;
        None for an unknown episode."""
        episode, pending = self._stored(episode_id)
        if pending:
            view = self.recompute(episode_id, self.today(), as_of=None)
            if view is not None:
                return [astuple(entry) for entry in view.timeline]
        if episode is None:
            return None
        return [
            tuple(row)
            for row in self._rows(
                "SELECT occurred_at, recorded_at, event_type, source, event_id, summary FROM {p}timeline "
                "WHERE episode_id = ? ORDER BY seq",
                (episode_id,),
            )
        ]

    def ledger(self, episode_id: str, through: date) -> Ledger | None:
        """The stored ledger when it was computed through `through` and the episode is not pending;
        else recomputed from the events. None for an unknown episode."""
        episode, pending = self._stored(episode_id)
        if episode is None and not pending:
            return None
        if episode is not None and not pending and episode.through == through.isoformat():
            days = self._rows(
                "SELECT day, billable, reason, authorization_number FROM {p}days WHERE episode_id = ? "
                "ORDER BY day",
                (episode_id,),
            )
            return Ledger(episode, [(d, bool(b), r, a) for d, b, r, a in days])
        view = self.recompute(episode_id, through, as_of=None)
        return None if view is None else ledger_of(view, through)

    def recompute(self, episode_id: str, through: date, as_of: datetime | None) -> EpisodeView | None:
        """The episode as the pure core sees the stored events (only those recorded by `as_of`)."""

        def known(events: list[Event]) -> list[Event]:
            return [e for e in events if as_of is None or instant(e.recorded_at) <= as_of]

        with self._reader().transaction() as cursor:

            def events_of(episode: str) -> list[Event]:
                cursor.execute("SELECT body FROM {p}events WHERE episode_id = ?", (episode,))
                return known([parse_event(body) for (body,) in cursor.fetchall()])

            own = events_of(episode_id)
            patient = patient_of(own)
            if patient is None:
                return None
            cursor.execute("SELECT DISTINCT episode_id FROM {p}events WHERE patient_ref = ?", (patient,))
            siblings = [other for (other,) in cursor.fetchall() if other != episode_id]
            episodes: dict[str, list[Event]] = defaultdict(list, {episode_id: own})
            for other in siblings:
                events = events_of(other)
                if patient_of(events) == patient:
                    episodes[other] = events
        for view in project_patient(episodes, through):
            if view.episode_id == episode_id:
                return view
        return None

    def claim_lines(
        self, period_from: date, period_to: date, payer: str | None
    ) -> list[tuple[str, str, str, str, str, str, int, str | None]]:
        """Lines overlapping the period: (payer_id, episode_id, patient_ref, code, from, to, units,
        authorization)."""
        params: list[Any] = [period_to.isoformat(), period_from.isoformat()]
        payer_clause = ""
        if payer is not None:
            payer_clause = " AND e.payer_id = ?"
            params.append(payer)
        rows = self._rows(
            "SELECT e.payer_id, c.episode_id, e.patient_ref, c.code, c.from_date, c.to_date, c.units, "
            "c.authorization_number FROM {p}claim_lines c JOIN {p}episodes e ON e.episode_id = c.episode_id "
            f"WHERE c.from_date <= ? AND c.to_date >= ?{payer_clause} "
            "ORDER BY e.payer_id, c.episode_id, c.line_no",
            params,
        )
        return [tuple(row) for row in rows]

    def dead_letters(self, limit: int, offset: int) -> list[tuple[str, str, str | None, str, str]]:
        rows = self._rows(
            "SELECT stream, position, event_id, error, payload FROM {p}dead_letters "
            "ORDER BY stream, position LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [tuple(row) for row in rows]


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
