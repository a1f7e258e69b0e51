"""Why a sent claim is now wrong: the days that changed and the events that changed them.

For a REPLACE or a VOID, the biller (and the payer's auditor after them) wants more than "the lines
differ". `claim_changes` answers in two parts:

- `since_sent`: the standing claim's lines as sent against the current lines: the S9363 days added,
  removed or billed under another authorization, and every other line added or removed.
- `steps`: how history got from what was known when the claim was recorded to what is known now.
  Starting from the events recorded at or before the standing claim's `recorded_at` (what an
  `--as-of` at that instant would see), the patient's later events are added in the order they were
  recorded, one recorded instant at a time (events recorded together, like an admission and its
  discharge reported late, are one step); each step that changes P's current lines is listed with
  what it changed and its events. Of a step's events, those without which the step would not have
  changed the lines as it did are named; when none is alone necessary (two events that each would
  do it), all of the step's events are.

The patient's other episodes count: their days can take this episode's (one unit per patient per
day). `ClaimSubmitted` events change no line and are never a step. When the claim was sent with
other lines than were computable then (`sent_as_known` false: sent before the month was over, or
edited by hand), `since_sent` still compares with what was sent, and the steps explain the rest.

Pure, and a function of the patient's events only. Each step re-settles the patient: this is meant
for the claims a biller looks at (REPLACE and VOID of one period), not for every event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import groupby
from typing import Any

from events import ClaimSubmitted, Event, instant
from projections.core.claim_actions import (
    Action,
    Month,
    PeriodClaim,
    current_lines,
    line_document,
    line_key,
    same_lines,
    settlement_date,
    sorted_lines,
)
from projections.core.claim_lines import S9363, ClaimLine
from projections.core.episode import distinct, project_patient


@dataclass(frozen=True, slots=True)
class Reauthorized:
    day: date
    was: str | None
    now: str | None


@dataclass(frozen=True, slots=True)
class LineChanges:
    """From one set of claim lines to another."""

    days_added: tuple[date, ...]  # S9363 days billed after, not before
    days_removed: tuple[date, ...]  # S9363 days billed before, not after
    days_reauthorized: tuple[Reauthorized, ...]  # billed in both, under another authorization
    lines_added: tuple[ClaimLine, ...]  # every line (all codes) after and not before, as multisets
    lines_removed: tuple[ClaimLine, ...]

    @property
    def changed(self) -> bool:
        return bool(self.lines_added or self.lines_removed)


@dataclass(frozen=True, slots=True)
class EventRef:
    event_id: str
    event_type: str
    episode_id: str
    recorded_at: str


@dataclass(frozen=True, slots=True)
class ChangeStep:
    """Events recorded at one instant that changed P's current lines, and what they changed."""

    recorded_at: str
    events: tuple[EventRef, ...]
    changes: LineChanges


@dataclass(frozen=True, slots=True)
class ClaimChanges:
    episode_id: str
    claim_id: str  # the standing claim, the one to replace or void
    claim_recorded_at: str
    since_sent: LineChanges
    known_when_sent: tuple[ClaimLine, ...]  # P's lines computed from the events recorded by then
    sent_as_known: bool
    steps: tuple[ChangeStep, ...]


def per_diem_days(lines: Iterable[ClaimLine]) -> dict[date, str | None]:
    """The S9363 days of the lines, each with its authorization (a line covers from..to)."""
    days: dict[date, str | None] = {}
    for line in lines:
        if line.code != S9363:
            continue
        for ordinal in range(line.from_date.toordinal(), line.to_date.toordinal() + 1):
            days[date.fromordinal(ordinal)] = line.authorization
    return days


def line_changes(before: Sequence[ClaimLine], after: Sequence[ClaimLine]) -> LineChanges:
    """What differs from `before` to `after`: S9363 days, and lines as multisets of the five fields."""
    days_before, days_after = per_diem_days(before), per_diem_days(after)
    counts_before = Counter(map(line_key, before))
    counts_after = Counter(map(line_key, after))
    return LineChanges(
        days_added=tuple(sorted(days_after.keys() - days_before.keys())),
        days_removed=tuple(sorted(days_before.keys() - days_after.keys())),
        days_reauthorized=tuple(
            Reauthorized(day, days_before[day], days_after[day])
            for day in sorted(days_before.keys() & days_after.keys())
            if days_before[day] != days_after[day]
        ),
        lines_added=sorted_lines(ClaimLine(*key) for key in (counts_after - counts_before).elements()),
        lines_removed=sorted_lines(ClaimLine(*key) for key in (counts_before - counts_after).elements()),
    )


def day_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) ranges, for a reader."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(days):
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def _lines_of(
    events_of: Mapping[str, Sequence[Event]], episode_id: str, period: Month, through: date
) -> tuple[ClaimLine, ...]:
    for view in project_patient(events_of, through):
        if view.episode_id == episode_id:
            return current_lines(view, period)
    return ()  # its referral is not known yet


def _grouped(events: Iterable[Event]) -> dict[str, list[Event]]:
    grouped: dict[str, list[Event]] = {}
    for event in events:
        grouped.setdefault(event.episode_id, []).append(event)
    return grouped


def _ref(event: Event) -> EventRef:
    return EventRef(event.event_id, event.event_type, event.episode_id, event.recorded_at)


def claim_changes(
    episodes: Mapping[str, Iterable[Event]], claim: PeriodClaim, through: date | None = None
) -> ClaimChanges | None:
    """Why the period's claim of a REPLACE or VOID is wrong now; None for NEW and NONE.

    `episodes` are the patient's episodes with their events (as for `patient_period_claims`, and
    already filtered by any `--as-of`); `through` as given to it.
    """
    standing = claim.standing
    if claim.action not in (Action.REPLACE, Action.VOID) or standing is None:
        return None
    settle = settlement_date(claim.period, through)
    sent_at = instant(standing.recorded_at)
    events = distinct(event for episode_events in episodes.values() for event in episode_events)
    known = [event for event in events if instant(event.recorded_at) <= sent_at]
    later = sorted(
        (e for e in events if instant(e.recorded_at) > sent_at and not isinstance(e.data, ClaimSubmitted)),
        key=lambda e: (instant(e.recorded_at), e.event_id),
    )

    def lines_with(extra: Iterable[Event]) -> tuple[ClaimLine, ...]:
        return _lines_of(_grouped([*known, *extra]), claim.episode_id, claim.period, settle)

    known_when_sent = lines_with(())
    steps: list[ChangeStep] = []
    learned: list[Event] = []
    lines = known_when_sent
    for _, step_events in groupby(later, key=lambda e: instant(e.recorded_at)):
        step = list(step_events)
        after = lines_with([*learned, *step])
        if not same_lines(lines, after):
            steps.append(
                ChangeStep(
                    recorded_at=step[0].recorded_at,
                    events=tuple(
                        _ref(e) for e in _necessary(step, after, lambda rest: lines_with([*learned, *rest]))
                    ),
                    changes=line_changes(lines, after),
                )
            )
        learned.extend(step)
        lines = after
    return ClaimChanges(
        episode_id=claim.episode_id,
        claim_id=standing.claim.claim_id,
        claim_recorded_at=standing.recorded_at,
        since_sent=line_changes(standing.lines, claim.lines),
        known_when_sent=known_when_sent,
        sent_as_known=same_lines(standing.lines, known_when_sent),
        steps=tuple(steps),
    )


def _necessary(
    step: Sequence[Event],
    result: Sequence[ClaimLine],
    lines_with: Callable[[Sequence[Event]], tuple[ClaimLine, ...]],
) -> list[Event]:
    """The events of a step without which it would not give `result`; all of them when none is."""
    if len(step) == 1:
        return list(step)
    needed = [
        event
        for index, event in enumerate(step)
        if not same_lines(lines_with([*step[:index], *step[index + 1 :]]), result)
    ]
    return needed or list(step)


# --- as GET /claims?period= shows it beside a REPLACE or VOID claim --------------------------------


def line_changes_document(changes: LineChanges) -> dict[str, Any]:
    return {
        "days_added": [day.isoformat() for day in changes.days_added],
        "days_removed": [day.isoformat() for day in changes.days_removed],
        "days_reauthorized": [
            {"day": r.day.isoformat(), "was": r.was, "now": r.now} for r in changes.days_reauthorized
        ],
        "lines_added": [line_document(line) for line in changes.lines_added],
        "lines_removed": [line_document(line) for line in changes.lines_removed],
    }


def changes_document(changes: ClaimChanges) -> dict[str, Any]:
    """Why the sent claim is wrong: what changed since it was sent, and the events that changed it."""
    return {
        "claim_id": changes.claim_id,
        "claim_recorded_at": changes.claim_recorded_at,
        "sent_as_known": changes.sent_as_known,
        "since_sent": line_changes_document(changes.since_sent),
        "steps": [
            {
                "recorded_at": step.recorded_at,
                "events": [
                    {
                        "event_id": e.event_id,
                        "event_type": e.event_type,
                        "episode_id": e.episode_id,
                        "recorded_at": e.recorded_at,
                    }
                    for e in step.events
                ],
                "changes": line_changes_document(step.changes),
            }
            for step in changes.steps
        ],
    }
