"""The read-model tables: their schema, and every query that reads them.

Tables live under a name prefix: `rm_` for the live read models, others for rebuilds, verify's
scratch tables and tests. The writes (events, episode rows, positions, pending) are the stores'
(store.py, and sqlite.py / postgres.py where a database does it its own way); every read that the
HTTP API, the billing report, `verify` and the tests make is here, as a function of a cursor that
returns plain values: the caller chooses the transaction, so reads that belong together see one
state. All of it is written once, for both databases (`?` placeholders, `{p}` for the prefix).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from events import Event, parse_event
from projections.core.care_team import CARE_TEAM_EVENT_TYPES
from projections.core.claim_actions import PeriodClaim
from projections.core.claim_lines import ClaimLine, clipped
from projections.core.worklist import WorklistItem
from projections.readmodels.datastore import Cursor
from projections.readmodels.sections import episode_digest, period_claim_of, worklist_item

TABLES = (
    "events",
    "episodes",
    "days",
    "claim_lines",
    "timeline",
    "worklist_spans",
    "period_claims",
    "dead_letters",
    "positions",
    "pending",
)
# Besides the primary keys' (which go with their tables when `rebuild` swaps them in).
INDEXES = ("events_episode", "events_referral", "worklist_spans_live", "period_claims_period")

__all__ = ["episode_digest"]  # re-exported: the digest is the sections', the tables' comparison


def schema_sql(prefix: str, binary: str = "") -> list[str]:
    """The tables' statements. `binary`: the collation clause that makes text columns sort by code
    point, as Python sorts strings (the worklist and the claims are ordered in SQL): `COLLATE "C"`
    on PostgreSQL, whose default collation may not; nothing on SQLite, whose default already does.
    """
    p, b = prefix, binary
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
        # The worklist: item spans (see sections.py). "Which spans hold on day t" is
        # `first_day <= t AND last_day >= t` (open-ended spans end on LAST_TODAY): most spans of a
        # long history ended before today, and the index on last_day skips them.
        f"""CREATE TABLE IF NOT EXISTS {p}worklist_spans (
            episode_id TEXT{b} NOT NULL, seq INTEGER NOT NULL, patient_ref TEXT NOT NULL,
            kind TEXT NOT NULL, kind_order INTEGER NOT NULL, item_key TEXT{b}, first_day INTEGER NOT NULL,
            last_day INTEGER NOT NULL, due_at_first INTEGER NOT NULL, slope INTEGER NOT NULL,
            detail TEXT NOT NULL, PRIMARY KEY (episode_id, seq))""",
        f"CREATE INDEX IF NOT EXISTS {p}worklist_spans_live ON {p}worklist_spans (last_day, first_day)",
        # Each period's claim of each episode (claims.md), read by period.
        f"""CREATE TABLE IF NOT EXISTS {p}period_claims (
            episode_id TEXT{b} NOT NULL, period TEXT NOT NULL, patient_ref TEXT NOT NULL,
            payer_id TEXT NOT NULL, action TEXT NOT NULL, lines TEXT NOT NULL, standing TEXT,
            claim_ids TEXT NOT NULL, PRIMARY KEY (episode_id, period))""",
        f"CREATE INDEX IF NOT EXISTS {p}period_claims_period ON {p}period_claims (period, episode_id)",
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


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A row of `dead_letters`: a record that did not fit the contract, where it was, and why."""

    stream: str
    position: str
    event_id: str | None
    error: str
    payload: str


@dataclass(frozen=True)
class EpisodeRow:
    """A row of `episodes`, without its digest."""

    episode_id: str
    patient_ref: str
    payer_id: str
    status: str
    start_of_care: str | None
    billable_days: int
    through: str


EPISODE_COLUMNS = "episode_id, patient_ref, payer_id, status, start_of_care, billable_days, through"

# (occurred_at, recorded_at, event_type, source, event_id, summary)
TimelineEntry = tuple[str, str, str, str, str, str]
# ... and the event's contract `data`
TimelineEntryWithData = tuple[str, str, str, str, str, str, dict[str, Any]]
# (date, billable, reason, authorization)
LedgerDayRow = tuple[str, bool, str, str | None]
# (payer_id, episode_id, patient_ref, code, from, to, units, authorization)
ClaimLineRow = tuple[str, str, str, str, str, str, int, str | None]
# (stream, position, event_id, error, payload)
DeadLetterRow = tuple[str, str, str | None, str, str]


# --- episodes -------------------------------------------------------------------------------------


def episodes(
    cursor: Cursor,
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
    """Episodes in episode_id order, filtered; with days_from/days_to, those with a ledger day
    in that range; with `among`, only those of the given ids (a nurse's care teams)."""
    where, params = _episode_filter(status, patient_ref, payer, days_from, days_to, among)
    cursor.execute(
        f"SELECT {EPISODE_COLUMNS} FROM {{p}}episodes e WHERE {where} ORDER BY episode_id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [EpisodeRow(*row) for row in cursor.fetchall()]


def count_episodes(
    cursor: Cursor,
    *,
    status: str | None = None,
    patient_ref: str | None = None,
    payer: str | None = None,
    days_from: date | None = None,
    days_to: date | None = None,
    among: Collection[str] | None = None,
) -> int:
    """How many episodes `episodes` lists with the same filters, all pages together."""
    where, params = _episode_filter(status, patient_ref, payer, days_from, days_to, among)
    cursor.execute(f"SELECT count(*) FROM {{p}}episodes e WHERE {where}", params)
    return int(cursor.fetchall()[0][0])


def _episode_filter(
    status: str | None,
    patient_ref: str | None,
    payer: str | None,
    days_from: date | None,
    days_to: date | None,
    among: Collection[str] | None,
) -> tuple[str, list[Any]]:
    """The WHERE clause (over `{p}episodes e`) of the episodes' filters, and its parameters."""
    where, params = ["1 = 1"], list[Any]()
    if among is not None:
        # An empty `among` (a nurse on no care team) matches nothing: `IN ()` is not SQL.
        where.append(f"episode_id IN ({', '.join('?' * len(among))})" if among else "1 = 0")
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
            "EXISTS (SELECT 1 FROM {p}days d WHERE d.episode_id = e.episode_id AND d.day >= ? AND d.day <= ?)"
        )
        params += [(days_from or date.min).isoformat(), (days_to or date.max).isoformat()]
    return " AND ".join(where), params


def episode(cursor: Cursor, episode_id: str) -> EpisodeRow | None:
    cursor.execute(f"SELECT {EPISODE_COLUMNS} FROM {{p}}episodes WHERE episode_id = ?", (episode_id,))
    rows = cursor.fetchall()
    return EpisodeRow(*rows[0]) if rows else None


def stored_episode(cursor: Cursor, episode_id: str) -> tuple[EpisodeRow | None, bool]:
    """The episode's stored row (None when there is none) and whether it is pending, in one query."""
    cursor.execute(
        f"SELECT {EPISODE_COLUMNS}, NULL FROM {{p}}episodes WHERE episode_id = ? "
        "UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1 FROM {p}pending "
        "WHERE episode_id = ?",
        (episode_id, episode_id),
    )
    rows = cursor.fetchall()
    stored = [EpisodeRow(*row[:-1]) for row in rows if row[-1] is None]
    return (stored[0] if stored else None), any(row[-1] is not None for row in rows)


def episodes_computed_before(cursor: Cursor, day: date) -> list[str]:
    """The episodes last computed through a day before `day` (the daily refresh recomputes them)."""
    cursor.execute("SELECT episode_id FROM {p}episodes WHERE through < ?", (day.isoformat(),))
    return [episode_id for (episode_id,) in cursor.fetchall()]


def digests(cursor: Cursor) -> dict[str, str]:
    cursor.execute("SELECT episode_id, digest FROM {p}episodes")
    return dict(cursor.fetchall())


# --- one episode's sections -----------------------------------------------------------------------


def timeline(cursor: Cursor, episode_id: str) -> list[TimelineEntry]:
    """The episode's timeline, in order."""
    cursor.execute(
        "SELECT occurred_at, recorded_at, event_type, source, event_id, summary FROM {p}timeline "
        "WHERE episode_id = ? ORDER BY seq",
        (episode_id,),
    )
    return [tuple(row) for row in cursor.fetchall()]


def timeline_with_data(cursor: Cursor, episode_id: str) -> list[TimelineEntryWithData]:
    """The episode's timeline, in order, each entry with its event's contract `data`.

    Read from the stored event beside it (by event_id, the events table's key) rather than from a
    copy in the timeline table, which every new event of the episode would rewrite with its whole
    timeline: the join adds ~0.3 ms to the read of a 60-event timeline over such a copy, the copy
    +56% to every timeline row written (benchmarks/timeline_data.py has the figures).
    """
    cursor.execute(
        "SELECT t.occurred_at, t.recorded_at, t.event_type, t.source, t.event_id, t.summary, ev.body "
        "FROM {p}timeline t JOIN {p}events ev ON ev.event_id = t.event_id "
        "WHERE t.episode_id = ? ORDER BY t.seq",
        (episode_id,),
    )
    return [(*row[:6], json.loads(row[6])["data"]) for row in cursor.fetchall()]


def ledger_days(cursor: Cursor, episode_id: str) -> list[LedgerDayRow]:
    """The episode's ledger, day by day."""
    cursor.execute(
        "SELECT day, billable, reason, authorization_number FROM {p}days WHERE episode_id = ? ORDER BY day",
        (episode_id,),
    )
    return [(d, bool(b), r, a) for d, b, r, a in cursor.fetchall()]


def episode_claim_lines(cursor: Cursor, episode_id: str) -> list[tuple[str, str, str, int, str | None]]:
    """The episode's claim lines in order: (code, from, to, units, authorization)."""
    cursor.execute(
        "SELECT code, from_date, to_date, units, authorization_number FROM {p}claim_lines "
        "WHERE episode_id = ? ORDER BY line_no",
        (episode_id,),
    )
    return [tuple(row) for row in cursor.fetchall()]


# --- across episodes ------------------------------------------------------------------------------


def claim_lines(cursor: Cursor, period_from: date, period_to: date, payer: str | None) -> list[ClaimLineRow]:
    """Claim lines dated in the period, by payer, episode and line: each line clipped to it (an
    S9363 line running over the period's edge has the days inside as units), so that no day is
    returned for two periods that do not overlap."""
    params: list[Any] = [period_to.isoformat(), period_from.isoformat()]
    payer_clause = ""
    if payer is not None:
        payer_clause = " AND e.payer_id = ?"
        params.append(payer)
    cursor.execute(
        "SELECT e.payer_id, c.episode_id, e.patient_ref, c.code, c.from_date, c.to_date, c.units, "
        "c.authorization_number FROM {p}claim_lines c JOIN {p}episodes e ON e.episode_id = c.episode_id "
        f"WHERE c.from_date <= ? AND c.to_date >= ?{payer_clause} "
        "ORDER BY e.payer_id, c.episode_id, c.line_no",
        params,
    )
    rows: list[ClaimLineRow] = []
    for payer_id, episode_id, patient_ref, code, start, end, units, authorization in cursor.fetchall():
        line = ClaimLine(code, date.fromisoformat(start), date.fromisoformat(end), units, authorization)
        part = clipped(line, period_from, period_to)
        assert part is not None  # the query keeps overlapping lines only
        rows.append(
            (
                payer_id,
                episode_id,
                patient_ref,
                code,
                part.from_date.isoformat(),
                part.to_date.isoformat(),
                part.units,
                authorization,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class WorklistPage:
    total: int  # items on the day, whatever the page
    items: list[WorklistItem]  # the page, in worklist.md's order


def worklist(
    cursor: Cursor,
    today: date,
    *,
    kind: str | None = None,
    episode_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
    among: Collection[str] | None = None,
) -> WorklistPage:
    """The items on `today`, from the spans that hold on it, sorted by due, kind in the table's
    order, episode_id and key (none first), a page of them, with how many there are in all.

    A span's due on `today` is `due_at_first + slope * (today - first_day)` (ordinals). The
    spans holding on a day are found by the index on (last_day, first_day); the sort is SQL's
    (code-point order for the text columns, as Python's)."""
    t = today.toordinal()
    where, params = ["first_day <= ?", "last_day >= ?"], list[Any]([t, t])
    for clause, value in (("kind = ?", kind), ("episode_id = ?", episode_id)):
        if value is not None:
            where.append(clause)
            params.append(value)
    if among is not None:  # a nurse's care teams: `IN ()` is not SQL, an empty set matches nothing
        where.append(f"episode_id IN ({', '.join('?' * len(among))})" if among else "1 = 0")
        params += sorted(among)
    condition = " AND ".join(where)
    cursor.execute(f"SELECT count(*) FROM {{p}}worklist_spans WHERE {condition}", params)
    total = int(cursor.fetchall()[0][0])
    cursor.execute(
        "SELECT episode_id, patient_ref, kind, due_at_first + slope * (? - first_day) AS due, item_key, "
        f"detail FROM {{p}}worklist_spans WHERE {condition} "
        "ORDER BY due, kind_order, episode_id, item_key IS NOT NULL, item_key LIMIT ? OFFSET ?",
        [t, *params, limit, offset],
    )
    return WorklistPage(total, [worklist_item(row) for row in cursor.fetchall()])


PERIOD_CLAIM_COLUMNS = "episode_id, period, patient_ref, payer_id, action, lines, standing, claim_ids"


def period_claims(cursor: Cursor, period: str, actions: Sequence[str] | None = None) -> list[PeriodClaim]:
    """The period's claims (claims.md), by episode_id; only those of `actions` when given."""
    where, params = "period = ?", list[Any]([period])
    if actions is not None:
        where += f" AND action IN ({', '.join('?' * len(actions))})" if actions else " AND 1 = 0"
        params += list(actions)
    cursor.execute(
        f"SELECT {PERIOD_CLAIM_COLUMNS} FROM {{p}}period_claims WHERE {where} ORDER BY episode_id", params
    )
    return [period_claim_of(row) for row in cursor.fetchall()]


def period_claim(cursor: Cursor, episode_id: str, period: str) -> PeriodClaim | None:
    cursor.execute(
        f"SELECT {PERIOD_CLAIM_COLUMNS} FROM {{p}}period_claims WHERE episode_id = ? AND period = ?",
        (episode_id, period),
    )
    rows = cursor.fetchall()
    return period_claim_of(rows[0]) if rows else None


def patients(cursor: Cursor) -> list[str]:
    """Every patient a stored referral names (an `as_of` read recomputes each one's episodes)."""
    cursor.execute("SELECT DISTINCT patient_ref FROM {p}events WHERE patient_ref IS NOT NULL")
    return sorted(patient for (patient,) in cursor.fetchall())


def dead_letters(cursor: Cursor, limit: int, offset: int) -> list[DeadLetterRow]:
    cursor.execute(
        "SELECT stream, position, event_id, error, payload FROM {p}dead_letters "
        "ORDER BY stream, position LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return [tuple(row) for row in cursor.fetchall()]


@dataclass(frozen=True, slots=True)
class EpisodeSummary:
    """An episode as the billing report lists it: its status, and how many days had each reason."""

    episode_id: str
    status: str
    start_of_care: str | None
    billable_days: int
    reasons: Counter[str]


def episode_summaries(cursor: Cursor) -> list[EpisodeSummary]:
    """Every episode, in episode_id order (reasons counted in the order the days are read)."""
    cursor.execute("SELECT episode_id, status, start_of_care, billable_days FROM {p}episodes ORDER BY 1")
    rows = cursor.fetchall()
    cursor.execute("SELECT episode_id, reason FROM {p}days")
    reasons: dict[str, Counter[str]] = {}
    for episode_id, reason in cursor.fetchall():
        reasons.setdefault(episode_id, Counter())[reason] += 1
    return [
        EpisodeSummary(episode_id, status, start_of_care, billable_days, reasons.get(episode_id, Counter()))
        for episode_id, status, start_of_care, billable_days in rows
    ]


def episode_with_stay(cursor: Cursor) -> str | None:
    """The first episode whose ledger has an inpatient day, or, failing that, a hospital admission."""
    cursor.execute("SELECT MIN(episode_id) FROM {p}days WHERE reason = 'INPATIENT_STAY'")
    (found,) = cursor.fetchall()[0]
    if found is None:
        cursor.execute("SELECT MIN(episode_id) FROM {p}events WHERE event_type = 'HospitalAdmitted'")
        (found,) = cursor.fetchall()[0]
    return str(found) if found is not None else None


# --- whole tables (verify, tests) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveState:
    """What `verify` compares against a rebuild, read at one instant."""

    episodes: dict[str, tuple[str, date]]  # episode_id -> (digest, through)
    positions: dict[str, int]  # of one consumer, per stream
    pending: set[str]


def live_state(cursor: Cursor, consumer: str) -> LiveState:
    """Digests with their `through`, a consumer's positions, and the pending episodes (read in a
    snapshot transaction, they are of one instant)."""
    cursor.execute("SELECT episode_id, digest, through FROM {p}episodes")
    episodes = {e: (d, date.fromisoformat(t)) for e, d, t in cursor.fetchall()}
    cursor.execute("SELECT stream, position FROM {p}positions WHERE consumer = ?", (consumer,))
    positions = {s: int(p) for s, p in cursor.fetchall()}
    cursor.execute("SELECT episode_id FROM {p}pending")
    pending = {e for (e,) in cursor.fetchall()}
    return LiveState(episodes, positions, pending)


def dump(cursor: Cursor) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row, sorted: what `verify` and the tests compare (positions left out)."""
    tables = {}
    for table in TABLES:
        if table in ("positions", "pending"):
            continue
        cursor.execute(f"SELECT * FROM {{p}}{table}")
        tables[table] = sorted(tuple(_plain(v) for v in row) for row in cursor.fetchall())
    return tables


def _plain(value: Any) -> Any:
    return bool(value) if isinstance(value, bool) else value


def care_team_events(cursor: Cursor, episode_id: str | None = None) -> dict[str, list[Event]]:
    """The care-team events (assigned, released) by episode: of one episode, or of all."""
    types = sorted(CARE_TEAM_EVENT_TYPES)
    if episode_id is None:
        cursor.execute("SELECT episode_id, body FROM {p}events WHERE event_type IN (?, ?)", types)
    else:
        cursor.execute(
            "SELECT episode_id, body FROM {p}events WHERE episode_id = ? AND event_type IN (?, ?)",
            [episode_id, *types],
        )
    found: dict[str, list[Event]] = {}
    for found_id, body in cursor.fetchall():
        found.setdefault(found_id, []).append(parse_event(body))
    return found
