"""An episode's rows, table by table: what `replace_episodes` writes for an `EpisodeRecord`.

Besides its row of `episodes`, an episode has a section in each table below. A section is
rewritten only when its part of the record changed (see `ReadModelStore.replace_episodes`), and
both databases write the same rows: each store only says how to put them in (row by row on
SQLite, COPY on PostgreSQL). The digest that `verify` and the skip by digest compare is made from
these rows, so it covers every table an episode has.

- `days`, `claim_lines`, `timeline`: the view through `through` (`project_patient`'s).
- `worklist_spans`: the item spans (projections/core/worklist_spans.py), dates as ordinals so that
  the query for any `today` is integer arithmetic in both databases; an open-ended span is stored
  with `last_day` = the ordinal of `LAST_TODAY` (the last day a worklist can be asked for), so
  that "holds on `today`" is two comparisons on one index (`first_day <= t AND last_day >= t`).
- `period_claims`: the claim of every period (projections/core/claim_actions.py), its lines as
  the JSON of claims.md, and the standing claim and the claim_ids recorded, from which the
  `PeriodClaim` is rebuilt whole (`period_claim_of`) for the 837P and the corrections.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from events import ClaimSubmitted
from projections.core.claim_actions import Action, Month, PeriodClaim, RecordedClaim, line_document
from projections.core.claim_lines import ClaimLine
from projections.core.records import EpisodeRecord
from projections.core.worklist import KIND_ORDER, LAST_TODAY, ItemKind, WorklistItem

Row = tuple[Any, ...]
OPEN_ENDED = LAST_TODAY.toordinal()


@dataclass(frozen=True, slots=True)
class Section:
    table: str
    columns: tuple[str, ...]  # episode_id first
    part: Callable[[EpisodeRecord], object]  # what is compared to leave the section as it is
    rows: Callable[[EpisodeRecord], Iterable[Row]]


def _day_rows(record: EpisodeRecord) -> Iterable[Row]:
    e = record.episode_id
    return [(e, d.date.isoformat(), d.billable, d.reason, d.authorization) for d in record.view.days]


def _claim_line_rows(record: EpisodeRecord) -> Iterable[Row]:
    e = record.episode_id
    return [
        (e, n, c.code, c.from_date.isoformat(), c.to_date.isoformat(), c.units, c.authorization)
        for n, c in enumerate(record.view.claim_lines)
    ]


def _timeline_rows(record: EpisodeRecord) -> Iterable[Row]:
    e = record.episode_id
    return [(e, n, *t.row()) for n, t in enumerate(record.view.timeline)]


def _span_rows(record: EpisodeRecord) -> Iterable[Row]:
    return [
        (
            s.episode_id,
            n,
            s.patient_ref,
            str(s.kind),
            KIND_ORDER[s.kind],
            s.key,
            s.first.toordinal(),
            OPEN_ENDED if s.last is None else s.last.toordinal(),
            s.due_at_first.toordinal(),
            s.slope,
            s.detail,
        )
        for n, s in enumerate(record.spans)
    ]


def _lines_json(lines: Iterable[ClaimLine]) -> str:
    return json.dumps([line_document(line) for line in lines], separators=(",", ":"))


def _standing_json(standing: RecordedClaim | None) -> str | None:
    if standing is None:
        return None
    data = standing.claim.model_dump(mode="json", by_alias=True)
    document = {"event_id": standing.event_id, "recorded_at": standing.recorded_at, "data": data}
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def _claim_rows(record: EpisodeRecord) -> Iterable[Row]:
    return [
        (
            c.episode_id,
            str(c.period),
            c.patient_ref,
            c.payer_id,
            str(c.action),
            _lines_json(c.lines),
            _standing_json(c.standing),
            json.dumps(sorted(c.claim_ids), separators=(",", ":")),
        )
        for c in record.claims
    ]


SECTIONS: tuple[Section, ...] = (
    Section(
        "days",
        ("episode_id", "day", "billable", "reason", "authorization_number"),
        lambda r: r.view.days,
        _day_rows,
    ),
    Section(
        "claim_lines",
        ("episode_id", "line_no", "code", "from_date", "to_date", "units", "authorization_number"),
        lambda r: r.view.claim_lines,
        _claim_line_rows,
    ),
    Section(
        "timeline",
        ("episode_id", "seq", "occurred_at", "recorded_at", "event_type", "source", "event_id", "summary"),
        lambda r: r.view.timeline,
        _timeline_rows,
    ),
    Section(
        "worklist_spans",
        (
            "episode_id",
            "seq",
            "patient_ref",
            "kind",
            "kind_order",
            "item_key",
            "first_day",
            "last_day",
            "due_at_first",
            "slope",
            "detail",
        ),
        lambda r: r.spans,
        _span_rows,
    ),
    Section(
        "period_claims",
        ("episode_id", "period", "patient_ref", "payer_id", "action", "lines", "standing", "claim_ids"),
        lambda r: r.claims,
        _claim_rows,
    ),
)


def episode_row(record: EpisodeRecord, stamp: str, digest: str) -> Row:
    """The episode's row of `episodes`, computed through `stamp`."""
    view = record.view
    return (
        view.episode_id,
        view.patient_ref,
        view.payer_id,
        view.status,
        view.start_of_care.isoformat() if view.start_of_care else None,
        view.billable_days,
        stamp,
        digest,
    )


EPISODE_ROW_COLUMNS = (
    "episode_id",
    "patient_ref",
    "payer_id",
    "status",
    "start_of_care",
    "billable_days",
    "through",
    "digest",
)


def episode_digest(record: EpisodeRecord) -> str:
    """A digest of everything an episode's read model stores, to compare live and rebuilt models.

    Made from the record's values as plain tuples of strings, numbers, booleans and None (whose
    repr is canonical; a frozenset's order would differ between processes), not from the rows, so
    that an episode recomputed unchanged is detected before any of its rows is formatted: its days
    as runs of one billable flag, reason and authorization; each timeline entry by its event's id,
    times, type and source (the summary is made from the event, and a stored event_id's body never
    changes); each claim's standing claim by its event_id. Not from a rendering for people either:
    the replay document may change its form without changing a stored digest.
    """
    view = record.view
    days: list[tuple[int, int, bool, str, str | None]] = []
    first = last = -1
    kind: tuple[bool, str, str | None] | None = None
    for day in view.days:
        ordinal = day.date.toordinal()
        this = (day.billable, day.reason, day.authorization)
        if this != kind or ordinal != last + 1:
            if kind is not None:
                days.append((first, last, *kind))
            first, kind = ordinal, this
        last = ordinal
    if kind is not None:
        days.append((first, last, *kind))
    text = repr(
        (
            view.episode_id,
            view.patient_ref,
            view.payer_id,
            view.status,
            view.start_of_care.toordinal() if view.start_of_care else None,
            days,
            [_line_values(line) for line in view.claim_lines],
            [(t.occurred_at, t.recorded_at, t.event_type, t.source, t.event_id) for t in view.timeline],
            _span_rows(record),
            [
                (
                    c.period.year,
                    c.period.month,
                    c.patient_ref,
                    c.payer_id,
                    str(c.action),
                    [_line_values(line) for line in c.lines],
                    c.standing.event_id if c.standing is not None else None,
                    sorted(c.claim_ids),
                )
                for c in record.claims
            ],
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _line_values(line: ClaimLine) -> tuple[str, int, int, int, str | None]:
    return (line.code, line.from_date.toordinal(), line.to_date.toordinal(), line.units, line.authorization)


# --- rows back to values ------------------------------------------------------------------------


def worklist_item(row: Row) -> WorklistItem:
    """An item from (episode_id, patient_ref, kind, due ordinal, key, detail)."""
    episode_id, patient_ref, kind, due, key, detail = row
    return WorklistItem(episode_id, patient_ref, ItemKind(kind), date.fromordinal(int(due)), key, detail)


def _lines_of(text: str) -> tuple[ClaimLine, ...]:
    return tuple(
        ClaimLine(
            line["code"],
            date.fromisoformat(line["from"]),
            date.fromisoformat(line["to"]),
            line["units"],
            line["authorization"],
        )
        for line in json.loads(text)
    )


def period_claim_of(row: Row) -> PeriodClaim:
    """The `PeriodClaim` a row of `period_claims` was written from (the columns in SECTIONS' order)."""
    episode_id, period, patient_ref, payer_id, action, lines, standing, claim_ids = row
    recorded = None
    if standing is not None:
        document = json.loads(standing)
        recorded = RecordedClaim(
            document["event_id"],
            episode_id,
            document["recorded_at"],
            # As the contract's JSON: dates are text there, which the strict model reads only so.
            ClaimSubmitted.model_validate_json(json.dumps(document["data"])),
        )
    return PeriodClaim(
        episode_id=episode_id,
        patient_ref=patient_ref,
        payer_id=payer_id,
        period=Month.parse(period),
        action=Action(action),
        lines=_lines_of(lines),
        standing=recorded,
        claim_ids=frozenset(json.loads(claim_ids)),
    )
