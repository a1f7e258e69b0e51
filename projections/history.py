"""Replaying a history (JSON Lines in the event contract) through the pure core.

Reading and rendering are kept apart from the rules. A history of a million events does not fit
in memory as parsed objects, so replay goes in two passes: the first validates every line and
keeps, per event_id, the raw text of the copy that counts; the second parses one patient's
episodes at a time, settles them, and hands out each episode's read model in episode_id order.
"""

from __future__ import annotations

import gc
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any, NamedTuple

from events import ContractError, ReferralReceived, instant, parse_event
from projections.episode import EpisodeView, project_patient


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    event_id: str | None
    error: str


class _Copy(NamedTuple):
    """The copy of an event that counts, kept as its raw line until its patient is replayed."""

    recorded_at: str
    episode_id: str
    raw: str | bytes
    patient_ref: str | None  # set on a ReferralReceived


@dataclass(slots=True)
class History:
    """The distinct events of a history that fit the contract, as raw lines by episode, and the
    lines that did not fit."""

    episodes: dict[str, list[str | bytes]] = field(default_factory=dict)
    patient_of_episode: dict[str, str] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)


def read_history(lines: Iterable[str | bytes], as_of: datetime | None = None) -> History:
    """Validate every line; keep one copy per event_id (the one recorded first, on a tie the first
    in the file) and, with `as_of`, only events recorded at or before it. Blank lines are skipped.
    """
    chosen: dict[str, _Copy] = {}
    rejected = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = parse_event(line)
        except ContractError as error:
            rejected.append(Rejected(number, error.event_id, error.message))
            continue
        current = chosen.get(event.event_id)
        if current is not None and instant(event.recorded_at) >= instant(current.recorded_at):
            continue
        patient_ref = event.data.patient_ref if isinstance(event.data, ReferralReceived) else None
        chosen[event.event_id] = _Copy(event.recorded_at, event.episode_id, line, patient_ref)

    history = History(rejected=rejected)
    episodes: dict[str, list[str | bytes]] = defaultdict(list)
    referrals: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    for event_id, copy in chosen.items():
        if as_of is not None and instant(copy.recorded_at) > as_of:
            continue
        episodes[copy.episode_id].append(copy.raw)
        if copy.patient_ref is not None:
            referrals[copy.episode_id].append((instant(copy.recorded_at), event_id, copy.patient_ref))
    history.episodes = dict(episodes)
    # An episode's patient is that of its first recorded referral (patient_of() decides alike).
    history.patient_of_episode = {episode_id: min(found)[2] for episode_id, found in referrals.items()}
    return history


def episode_views(history: History, through: date) -> Iterator[EpisodeView]:
    """Every episode that has its referral, in episode_id order, settled patient by patient.

    Raw lines are parsed one patient at a time and let go once that patient is settled.
    """
    episodes_of_patient: dict[str, list[str]] = defaultdict(list)
    for episode_id, patient in history.patient_of_episode.items():
        episodes_of_patient[patient].append(episode_id)
    settled: dict[str, EpisodeView] = {}
    for episode_id in sorted(history.patient_of_episode):
        if episode_id not in settled:
            patient = history.patient_of_episode[episode_id]
            group = {
                other: [parse_event(raw) for raw in history.episodes.pop(other)]
                for other in episodes_of_patient[patient]
            }
            settled.update((view.episode_id, view) for view in project_patient(group, through))
        yield settled.pop(episode_id)


def project_history(history: History, through: date) -> list[EpisodeView]:
    return list(episode_views(history, through))


def episode_document(view: EpisodeView) -> dict[str, Any]:
    """One episode as the replay command prints it (shared/contract.md)."""
    return {
        "episode_id": view.episode_id,
        "patient_ref": view.patient_ref,
        "status": view.status,
        "start_of_care": view.start_of_care.isoformat() if view.start_of_care else None,
        "billable_days": view.billable_days,
        "days": [{"date": d.date.isoformat(), "billable": d.billable, "reason": d.reason} for d in view.days],
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


def _rejected_document(rejected: Rejected) -> dict[str, Any]:
    return {"line": rejected.line, "event_id": rejected.event_id, "error": rejected.error}


def replay_document(
    lines: Iterable[str | bytes], through: date, as_of: datetime | None = None, as_of_text: str | None = None
) -> dict[str, Any]:
    """The whole `carecoord replay --json` document for a history, as one value."""
    history = read_history(lines, as_of)
    return {
        "through": through.isoformat(),
        "as_of": as_of_text,
        "episodes": [episode_document(view) for view in episode_views(history, through)],
        "rejected": [_rejected_document(rejected) for rejected in history.rejected],
    }


def write_replay_json(
    lines: Iterable[str | bytes],
    through: date,
    out: IO[str],
    as_of: datetime | None = None,
    as_of_text: str | None = None,
) -> int:
    """Write the same document as `replay_document`, one episode at a time; returns the episode count.

    Garbage collection is paused while reading: a history builds millions of objects and no
    cycles, so the collector would only walk them again and again.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        history = read_history(lines, as_of)
        out.write(f'{{"through": {json.dumps(through.isoformat())}, "as_of": {json.dumps(as_of_text)},\n')
        out.write(' "episodes": [')
        count = 0
        for view in episode_views(history, through):
            out.write(",\n  " if count else "\n  ")
            out.write(json.dumps(episode_document(view)))
            count += 1
        out.write("\n ],\n" if count else "],\n")
        rejected = ",\n  ".join(json.dumps(_rejected_document(r)) for r in history.rejected)
        out.write(f' "rejected": [\n  {rejected}\n ]\n}}\n' if rejected else ' "rejected": []\n}\n')
        return count
    finally:
        if was_enabled:
            gc.enable()
