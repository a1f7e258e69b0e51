"""Helpers for the claims tests: `ClaimSubmitted` events for the history builder, and the claims
document of a history computed by the same functions as `carecoord claims --json`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from carecoord.commands.claims import claims_document, claims_of_history
from events import instant
from projections.core.claim_actions import Month
from projections.core.history import read_history
from tests.support.history_builder import History

Line = tuple[str, str, str, int, str | None]  # (code, from, to, units, authorization)


def line(code: str, first: str, last: str, units: int, authorization: str | None = None) -> dict[str, Any]:
    return {"code": code, "from": first, "to": last, "units": units, "authorization": authorization}


def submit(
    h: History,
    claim_id: str,
    lines: Iterable[dict[str, Any] | Line] = (),
    *,
    period: str = "2026-03",
    frequency: str = "original",
    replaces: str | None = None,
    submitted_on: str = "2026-04-04",
    **kw: Any,
) -> dict[str, Any]:
    """Record a ClaimSubmitted (lines as dicts or 5-tuples); recorded one minute after the last event."""
    data: dict[str, Any] = {
        "claim_id": claim_id,
        "period": period,
        "frequency": frequency,
        "submitted_on": submitted_on,
        "lines": [item if isinstance(item, dict) else line(*item) for item in lines],
    }
    if replaces is not None:
        data["replaces"] = replaces
    kw.setdefault("occurred_at", f"{submitted_on}T09:00:00-05:00")
    return h.add("ClaimSubmitted", data, source="claims", **kw)


def claims(
    events: History | Iterable[str], period: str, through: str | None = None, as_of: str | None = None
) -> dict[str, Any]:
    """The `carecoord claims --json` document of a history (through the command's own functions)."""
    lines = events.lines() if isinstance(events, History) else list(events)
    history = read_history(lines, instant(as_of) if as_of else None)
    month = Month.parse(period)
    found = claims_of_history(history, month, date.fromisoformat(through) if through else None, explain=False)
    listed = sorted((claim for claim, _ in found), key=lambda claim: claim.episode_id)
    return claims_document(month, as_of, listed, history.rejected)


def claim_of(document: dict[str, Any], episode_id: str = "ep-1") -> dict[str, Any]:
    matches = [c for c in document["claims"] if c["episode_id"] == episode_id]
    assert len(matches) == 1, f"{episode_id} listed {len(matches)} times: {document['claims']}"
    return matches[0]


def listed(document: dict[str, Any]) -> list[str]:
    return [c["episode_id"] for c in document["claims"]]


def tuples(lines: list[dict[str, Any]]) -> list[Line]:
    return [(x["code"], x["from"], x["to"], x["units"], x["authorization"]) for x in lines]


def submit_action(
    h: History, claim: dict[str, Any], period: str, claim_id: str, **kw: Any
) -> dict[str, Any] | None:
    """Record the ClaimSubmitted that the claim's action calls for (as POST /claims/{episode}/submit
    will): original for NEW, replacement for REPLACE and void for VOID, with the current lines."""
    frequency = {"NEW": "original", "REPLACE": "replacement", "VOID": "void"}.get(claim["action"])
    if frequency is None:
        return None
    return submit(
        h,
        claim_id,
        claim["lines"],
        period=period,
        frequency=frequency,
        replaces=claim["replaces"],
        episode_id=claim["episode_id"],
        **kw,
    )
