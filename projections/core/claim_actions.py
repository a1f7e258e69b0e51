"""The period's claim, now (shared/claims.md): what should be billed for an episode and a calendar
month, what was sent, and which claim the biller must submit to set it right.

Pure: a function of one patient's events, the period and an optional end date. The history file
(`carecoord claims`), the live read models and `POST /claims/{episode}/submit` all call
`patient_period_claims`, so they agree on every action.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from events import ClaimSubmitted, Event, SubmittedLine, instant
from projections.core.claim_lines import ClaimLine
from projections.core.episode import EpisodeView, distinct, project_patient
from projections.core.facts import RecordKey

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


@dataclass(frozen=True, slots=True, order=True)
class Month:
    """A claim's period: one calendar month."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """`YYYY-MM`, a real month; ValueError otherwise."""
        match = _MONTH.fullmatch(text)
        if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
            raise ValueError(f"expected a month YYYY-MM, got {text!r}")
        return cls(int(match[1]), int(match[2]))

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        if self.month == 12:
            return date(self.year, 12, 31)
        return date(self.year, self.month + 1, 1) - timedelta(days=1)

    def holds(self, day: date) -> bool:
        return (day.year, day.month) == (self.year, self.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


class Action(StrEnum):
    """What the biller must submit for the period: the first that holds, in this order."""

    VOID = "VOID"  # a standing claim and no current line
    REPLACE = "REPLACE"  # a standing claim whose lines differ from the current lines
    NEW = "NEW"  # no standing claim, and current lines
    NONE = "NONE"  # the standing claim is right, or there is nothing to bill


# The five fields a claim line is compared by, as a multiset.
LineKey = tuple[str, date, date, int, str | None]


def line_key(line: ClaimLine) -> LineKey:
    return (line.code, line.from_date, line.to_date, line.units, line.authorization)


def line_order(line: ClaimLine) -> tuple[str, date, date, int, bool, str]:
    """Sorted by code, from, to, units, then authorization with null first (claims.md, Output)."""
    return (
        line.code,
        line.from_date,
        line.to_date,
        line.units,
        line.authorization is not None,
        line.authorization or "",
    )


def sorted_lines(lines: Iterable[ClaimLine]) -> tuple[ClaimLine, ...]:
    return tuple(sorted(lines, key=line_order))


def same_lines(a: Iterable[ClaimLine], b: Iterable[ClaimLine]) -> bool:
    """Equal as multisets of the five fields."""
    return Counter(map(line_key, a)) == Counter(map(line_key, b))


def claim_line(line: SubmittedLine) -> ClaimLine:
    return ClaimLine(line.code, line.from_date, line.to_date, line.units, line.authorization)


def submitted_line(line: ClaimLine) -> SubmittedLine:
    return SubmittedLine.of(line.code, line.from_date, line.to_date, line.units, line.authorization)


@dataclass(frozen=True, slots=True)
class RecordedClaim:
    """A `ClaimSubmitted` as recorded: its data and what orders it among the episode's claims."""

    event_id: str
    episode_id: str
    recorded_at: str
    claim: ClaimSubmitted

    @property
    def record_key(self) -> RecordKey:
        """(recorded_at as an instant, event_id): "the one recorded last" is the greatest."""
        return (instant(self.recorded_at), self.event_id)

    @property
    def lines(self) -> tuple[ClaimLine, ...]:
        return tuple(claim_line(line) for line in self.claim.lines)


def recorded_claims(events: Iterable[Event]) -> list[RecordedClaim]:
    """The `ClaimSubmitted` among events (others are ignored)."""
    return [
        RecordedClaim(event.event_id, event.episode_id, event.recorded_at, event.data)
        for event in events
        if isinstance(event.data, ClaimSubmitted)
    ]


def latest_per_claim_id(claims: Iterable[RecordedClaim]) -> list[RecordedClaim]:
    """Of several `ClaimSubmitted` with one claim_id, the one recorded last: a claim corrected
    into another period leaves its first period."""
    latest: dict[str, RecordedClaim] = {}
    for claim in claims:
        current = latest.get(claim.claim.claim_id)
        if current is None or claim.record_key > current.record_key:
            latest[claim.claim.claim_id] = claim
    return list(latest.values())


def standing_claim(claims: Iterable[RecordedClaim], period: Month) -> RecordedClaim | None:
    """The claim that stands for the period, of one episode's claims.

    Of the claims left for P once each claim_id keeps its last, the one recorded last stands,
    unless it is a void: then none does, whatever its `replaces` names. `replaces` does not
    choose the standing claim and `submitted_on` filters nothing.
    """
    for_period = [c for c in latest_per_claim_id(claims) if c.claim.period == str(period)]
    if not for_period:
        return None
    last = max(for_period, key=lambda claim: claim.record_key)
    return None if last.claim.frequency == "void" else last


def current_lines(view: EpisodeView, period: Month) -> tuple[ClaimLine, ...]:
    """The episode's claim lines dated in P: S9363 lines whose `from` is in P (they never cross a
    month) and nursing and drug lines (one day each) dated in P.

    `view` must be settled through `settlement_date(period, through)`. A declined episode has no
    claim lines, hence none here.
    """
    return sorted_lines(line for line in view.claim_lines if period.holds(line.from_date))


def settlement_date(period: Month, through: date | None = None) -> date:
    """Current lines are computed through the last day of P, or through `through` when earlier."""
    return min(period.last_day, through) if through is not None else period.last_day


def claim_action(standing: RecordedClaim | None, current: Sequence[ClaimLine]) -> Action:
    """The first that holds: VOID, REPLACE, NEW, NONE (claims.md, "Action")."""
    if standing is not None and not current:
        return Action.VOID
    if standing is not None and not same_lines(standing.lines, current):
        return Action.REPLACE
    if standing is None and current:
        return Action.NEW
    return Action.NONE


@dataclass(frozen=True, slots=True)
class PeriodClaim:
    """One episode's claim for the period: what is billable now, what stands, what to submit."""

    episode_id: str
    patient_ref: str
    payer_id: str
    period: Month
    action: Action
    lines: tuple[ClaimLine, ...]  # current lines, sorted
    standing: RecordedClaim | None
    claim_ids: frozenset[str] = frozenset()  # every claim_id the episode has recorded, any period

    @property
    def replaces(self) -> str | None:
        """The standing claim's claim_id for REPLACE and VOID (the 837P's REF*F8), else None."""
        if self.action in (Action.REPLACE, Action.VOID) and self.standing is not None:
            return self.standing.claim.claim_id
        return None

    @property
    def submitted_lines(self) -> tuple[ClaimLine, ...]:
        """The standing claim's lines as sent (dated outside P or not), sorted; none without one."""
        return sorted_lines(self.standing.lines) if self.standing is not None else ()

    def next_claim_id(self) -> str:
        """The claim_id for the claim the action calls for (and the 837P's CLM01):
        `CLM-YYYY-MM-<episode_id>` for the episode's first claim for P, as in the shared examples,
        then `-2`, `-3`...: never one the episode has recorded, so that a new claim never takes
        the place of an old one by sharing its claim_id."""
        base = candidate = f"CLM-{self.period}-{self.episode_id}"
        number = 1
        while candidate in self.claim_ids:
            number += 1
            candidate = f"{base}-{number}"
        return candidate


class NothingToSubmit(ValueError):
    """The period's claim is right (NONE): there is no claim to submit."""


FREQUENCY_OF_ACTION = {Action.NEW: "original", Action.REPLACE: "replacement", Action.VOID: "void"}


def claim_to_submit(claim: PeriodClaim, submitted_on: date, claim_id: str | None = None) -> ClaimSubmitted:
    """The `ClaimSubmitted` the action calls for: an original for NEW, a replacement of the standing
    claim for REPLACE and a void of it for VOID, with the current lines (none on a void)."""
    frequency = FREQUENCY_OF_ACTION.get(claim.action)
    if frequency is None:
        raise NothingToSubmit(f"{claim.episode_id}: the claim for {claim.period} is right, nothing to submit")
    lines = [] if claim.action is Action.VOID else [submitted_line(line) for line in claim.lines]
    return ClaimSubmitted.model_validate(
        {
            "claim_id": claim_id or claim.next_claim_id(),
            "period": str(claim.period),
            "frequency": frequency,
            "replaces": claim.replaces,
            "submitted_on": submitted_on,
            "lines": lines,
        }
    )


def period_claim(view: EpisodeView, events: Iterable[Event], period: Month) -> PeriodClaim | None:
    """The episode's claim for P, or None when it has neither current lines in P nor a
    `ClaimSubmitted` for P (it is not listed then). Only this episode's claims count."""
    claims = episode_claims_recorded(view.episode_id, events)
    lines = current_lines(view, period)
    if not lines and not any(c.claim.period == str(period) for c in claims):
        return None
    return _period_claim(view, claims, period, lines)


def episode_claims_recorded(episode_id: str, events: Iterable[Event]) -> list[RecordedClaim]:
    return [c for c in recorded_claims(events) if c.episode_id == episode_id]


def _period_claim(
    view: EpisodeView, claims: Sequence[RecordedClaim], period: Month, lines: tuple[ClaimLine, ...]
) -> PeriodClaim:
    standing = standing_claim(claims, period)
    return PeriodClaim(
        episode_id=view.episode_id,
        patient_ref=view.patient_ref,
        payer_id=view.payer_id,
        period=period,
        action=claim_action(standing, lines),
        lines=lines,
        standing=standing,
        claim_ids=frozenset(c.claim.claim_id for c in claims),
    )


def every_period_claim(
    view: EpisodeView, lines: Iterable[ClaimLine], events: Iterable[Event]
) -> list[PeriodClaim]:
    """The episode's claim for every period it has current lines in or a `ClaimSubmitted` for, by
    period: what `period_claim` gives for each of them.

    `lines`: every claim line the episode has through any end date (`every_claim_line`); those
    dated in P are P's current lines. `view` gives only the episode's id, patient and payer.
    """
    claims = episode_claims_recorded(view.episode_id, events)
    dated: dict[Month, list[ClaimLine]] = {}
    for line in lines:
        dated.setdefault(Month(line.from_date.year, line.from_date.month), []).append(line)
    periods = set(dated) | {Month.parse(c.claim.period) for c in claims}
    return [
        _period_claim(view, claims, period, sorted_lines(dated.get(period, ()))) for period in sorted(periods)
    ]


def patient_period_claims(
    episodes: Mapping[str, Iterable[Event]], period: Month, through: date | None = None
) -> list[PeriodClaim]:
    """The period's claims of one patient's episodes, by episode_id.

    `episodes` maps each of the patient's episode_ids to its events (all together: one unit per
    patient per day is settled across them). An episode without its ReferralReceived is left out.
    """
    events_of = {episode_id: distinct(events) for episode_id, events in episodes.items()}
    views = project_patient(events_of, settlement_date(period, through))
    found = (period_claim(view, events_of[view.episode_id], period) for view in views)
    return [claim for claim in found if claim is not None]


# --- the document of `carecoord claims --json` (and of GET /claims?period=) ----------------------------


def line_document(line: ClaimLine) -> dict[str, Any]:
    return {
        "code": line.code,
        "from": line.from_date.isoformat(),
        "to": line.to_date.isoformat(),
        "units": line.units,
        "authorization": line.authorization,
    }


def claim_document(claim: PeriodClaim) -> dict[str, Any]:
    """One episode's claim as claims.md's Output shows it."""
    return {
        "episode_id": claim.episode_id,
        "patient_ref": claim.patient_ref,
        "payer_id": claim.payer_id,
        "action": str(claim.action),
        "replaces": claim.replaces,
        "lines": [line_document(line) for line in claim.lines],
        "submitted_lines": [line_document(line) for line in claim.submitted_lines],
    }
