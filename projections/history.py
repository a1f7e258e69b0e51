"""Replaying a history (JSON Lines in the event contract) through the pure core.

Reading and rendering are kept apart from the rules: `replay_lines` takes lines and returns the
document `carecoord replay --json` prints (shared/contract.md, "The replay command").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from events import ContractError, Event, instant, parse_event
from projections.episode import EpisodeView, patient_of, project_patient


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    event_id: str | None
    error: str


@dataclass(slots=True)
class History:
    """The distinct, contract-fitting events of a history, grouped by episode, and the rejected lines."""

    episodes: dict[str, list[Event]] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)


def read_history(lines: Iterable[str | bytes], as_of: datetime | None = None) -> History:
    """Parse every line; keep one copy per event_id (the one recorded first, on a tie the first in
    the file) and, with `as_of`, only events recorded at or before it. Blank lines are skipped.
    """
    chosen: dict[str, tuple[datetime, Event]] = {}
    rejected = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = parse_event(line)
        except ContractError as error:
            rejected.append(Rejected(number, error.event_id, error.message))
            continue
        recorded = instant(event.recorded_at)
        current = chosen.get(event.event_id)
        if current is None or recorded < current[0]:
            chosen[event.event_id] = (recorded, event)
    episodes: dict[str, list[Event]] = defaultdict(list)
    for recorded, event in chosen.values():
        if as_of is None or recorded <= as_of:
            episodes[event.episode_id].append(event)
    return History(dict(episodes), rejected)


def project_history(history: History, through: date) -> list[EpisodeView]:
    """Every episode that has its referral, settled patient by patient, sorted by episode_id."""
    patients: dict[str, dict[str, list[Event]]] = defaultdict(dict)
    for episode_id, events in history.episodes.items():
        patient = patient_of(events)
        if patient is not None:
            patients[patient][episode_id] = events
    views = [view for episodes in patients.values() for view in project_patient(episodes, through)]
    return sorted(views, key=lambda view: view.episode_id)


def episode_document(view: EpisodeView) -> dict[str, Any]:
    return {
        "episode_id": view.episode_id,
        "patient_ref": view.patient_ref,
        "status": view.status,
        "start_of_care": view.start_of_care.isoformat() if view.start_of_care else None,
        "billable_days": view.billable_days,
        "days": [
            {"date": day.date.isoformat(), "billable": day.billable, "reason": day.reason}
            for day in view.days
        ],
        "claim_lines": [
            {
                "code": line.code,
                "from": line.from_date.isoformat(),
                "to": line.to_date.isoformat(),
                "units": line.units,
                "authorization": line.authorization,
            }
            for line in view.claim_lines
        ],
        "timeline": [
            {
                "occurred_at": entry.occurred_at,
                "event_type": entry.event_type,
                "source": entry.source,
                "event_id": entry.event_id,
                "summary": entry.summary,
            }
            for entry in view.timeline
        ],
    }


def replay_document(
    lines: Iterable[str | bytes], through: date, as_of: datetime | None = None, as_of_text: str | None = None
) -> dict[str, Any]:
    """The whole `carecoord replay --json` document for a history."""
    history = read_history(lines, as_of)
    return {
        "through": through.isoformat(),
        "as_of": as_of_text,
        "episodes": [episode_document(view) for view in project_history(history, through)],
        "rejected": [
            {"line": rejected.line, "event_id": rejected.event_id, "error": rejected.error}
            for rejected in history.rejected
        ],
    }
