"""Replaying a history (JSON Lines in the event contract) through the pure core.

Reading and rendering are kept apart from the rules. A history of a million events does not fit
in memory as parsed objects, so replay goes in two passes: the first validates every line and
keeps, per event_id, the raw text of the copy that counts; the second parses one patient's
episodes at a time, settles them, and hands out each episode's read model in episode_id order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any, NamedTuple

from events import ContractError, Event, ReferralReceived, instant, parse_event
from projections.episode import EpisodeView, first_referral_patient, project_patient


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    event_id: str | None
    error: str


# A line as read, or where it lies in a history file (offset, length) when the file is mapped.
Raw = str | bytes | tuple[int, int]


class _Copy(NamedTuple):
    """The copy of an event that counts, kept as its raw line until its patient is replayed."""

    recorded_at: str
    episode_id: str
    raw: Raw
    patient_ref: str | None  # set on a ReferralReceived


@dataclass(slots=True)
class History:
    """The distinct events of a history that fit the contract, as raw lines by episode, and the
    lines that did not fit."""

    episodes: dict[str, list[Raw]] = field(default_factory=dict)
    patient_of_episode: dict[str, str] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    mapped: Any = None  # the mapped history file that (offset, length) refer to

    def events_of(self, episode_id: str) -> list[Event]:
        """Parse an episode's lines, letting go of them: each episode is settled once."""
        mapped = self.mapped
        return [
            parse_event(mapped[raw[0] : raw[0] + raw[1]] if isinstance(raw, tuple) else raw)
            for raw in self.episodes.pop(episode_id)
        ]

    def episodes_by_patient(self) -> dict[str, list[str]]:
        """Each patient's episodes, patients in the order of their first episode_id."""
        by_patient: dict[str, list[str]] = {}
        for episode_id in sorted(self.patient_of_episode):
            by_patient.setdefault(self.patient_of_episode[episode_id], []).append(episode_id)
        return by_patient


def read_history(lines: Iterable[str | bytes], as_of: datetime | None = None) -> History:
    """Validate every line; keep one copy per event_id (the one recorded first, on a tie the first
    in the file) and, with `as_of`, only events recorded at or before it. Blank lines are skipped.
    """
    return _select(((line, line) for line in lines), as_of)


def _select(lines: Iterable[tuple[str | bytes, Raw]], as_of: datetime | None) -> History:
    chosen: dict[str, _Copy] = {}
    rejected = []
    for number, (line, raw) in enumerate(lines, start=1):
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
        chosen[event.event_id] = _Copy(event.recorded_at, event.episode_id, raw, patient_ref)

    history = History(rejected=rejected)
    episodes: dict[str, list[Raw]] = defaultdict(list)
    referrals: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for event_id, copy in chosen.items():
        if as_of is not None and instant(copy.recorded_at) > as_of:
            continue
        episodes[copy.episode_id].append(copy.raw)
        if copy.patient_ref is not None:
            referrals[copy.episode_id].append((copy.recorded_at, event_id, copy.patient_ref))
    history.episodes = dict(episodes)
    # Every episode here has a referral, so each has a patient.
    history.patient_of_episode = {
        episode_id: patient
        for episode_id, found in referrals.items()
        if (patient := first_referral_patient(found)) is not None
    }
    return history


def episode_views(history: History, through: date) -> Iterator[EpisodeView]:
    """Every episode that has its referral, in episode_id order, settled patient by patient.

    Raw lines are parsed one patient at a time and let go once that patient is settled.
    """
    episodes_of_patient = history.episodes_by_patient()
    settled: dict[str, EpisodeView] = {}
    for episode_id in sorted(history.patient_of_episode):
        if episode_id not in settled:
            patient = history.patient_of_episode[episode_id]
            group = {other: history.events_of(other) for other in episodes_of_patient[patient]}
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


def rejected_document(rejected: Rejected) -> dict[str, Any]:
    """A rejected line as the replay and claims documents list it."""
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
        "rejected": [rejected_document(rejected) for rejected in history.rejected],
    }


def write_document(
    out: IO[str], through: date, as_of_text: str | None, episodes: Iterable[str], rejected: Iterable[Rejected]
) -> int:
    """Write the replay document from episodes already rendered as JSON, in episode_id order.

    Returns the number of episodes. The document equals `replay_document`'s, written piecewise
    so that a history of any size never has to be held whole.
    """
    out.write(f'{{"through": {json.dumps(through.isoformat())}, "as_of": {json.dumps(as_of_text)},\n')
    out.write(' "episodes": [')
    count = 0
    for episode in episodes:
        out.write(",\n  " if count else "\n  ")
        out.write(episode)
        count += 1
    out.write("\n ],\n" if count else "],\n")
    lines = ",\n  ".join(json.dumps(rejected_document(r)) for r in rejected)
    out.write(f' "rejected": [\n  {lines}\n ]\n}}\n' if lines else ' "rejected": []\n}\n')
    return count


def write_replay_json(
    lines: Iterable[str | bytes],
    through: date,
    out: IO[str],
    as_of: datetime | None = None,
    as_of_text: str | None = None,
) -> int:
    """Replay lines and write the document, one episode at a time; returns the episode count."""
    history = read_history(lines, as_of)
    rendered = (json.dumps(episode_document(view)) for view in episode_views(history, through))
    return write_document(out, through, as_of_text, rendered, history.rejected)
