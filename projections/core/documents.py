"""The documents the commands print (shared/contract.md): an episode as `replay --json` shows it.

Values only: writing them out, piecewise for large histories, is the shell's (projections/replay.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from projections.core.episode import EpisodeView
from projections.core.history import Rejected, episode_views, read_history


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
