"""The pure core: from the events of one patient's episodes to each episode's read model.

`project_patient` is a function of the set of events and the end date only: no I/O, no clock,
no dependence on the order or repetition of events. Replay, the live projections and `verify`
all call it, so a rebuilt read model equals the live one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from events import Event, ReferralReceived, instant
from projections.core.claim_lines import ClaimLine, claim_lines
from projections.core.facts import EpisodeFacts, Span, establish
from projections.core.ledger import LedgerDay, LedgerRun, days_of, end_date, runs_through, settle_patient
from projections.core.timeline import TimelineEntry, timeline


@dataclass(frozen=True, slots=True)
class EpisodeView:
    episode_id: str
    patient_ref: str
    payer_id: str
    status: str
    start_of_care: date | None
    days: tuple[LedgerDay, ...]
    claim_lines: tuple[ClaimLine, ...]
    timeline: tuple[TimelineEntry, ...]

    @property
    def billable_days(self) -> int:
        return sum(1 for day in self.days if day.billable)


def _open_at(spans: Sequence[Span], day: date) -> bool:
    """A span begun on or before `day` and not ended before the day is over."""
    return any(span.start <= day and (span.end is None or span.end > day) for span in spans)


def status(facts: EpisodeFacts, through: date) -> str:
    """The first that holds, as of the end date (shared/contract.md)."""
    if facts.declined:
        return "declined"
    if facts.accepted_on is None or facts.accepted_on > through:
        return "referred"
    if facts.discontinued_on is not None and facts.discontinued_on <= through:
        return "discontinued"
    last_day = end_date(facts, through)
    if _open_at(facts.stays, last_day):
        return "inpatient"
    if _open_at(facts.holds, last_day):
        return "on_hold"
    if facts.start_of_care is not None and facts.start_of_care <= last_day:
        return "active"
    return "accepted"


def distinct(events: Iterable[Event]) -> list[Event]:
    """One copy per event_id: the one recorded first (copies are normally identical)."""
    chosen: dict[str, Event] = {}
    for event in events:
        current = chosen.get(event.event_id)
        if current is None or instant(event.recorded_at) < instant(current.recorded_at):
            chosen[event.event_id] = event
    return list(chosen.values())


def project_patient(episodes: Mapping[str, Iterable[Event]], through: date) -> list[EpisodeView]:
    """The read models of one patient's episodes (an episode without its referral yet is left out).

    `episodes` maps episode_id to its events; all episodes of the patient must be given together,
    since one unit per patient per day is settled across them.
    """
    events_of, facts_of = establish_episodes(episodes)
    ledgers = settle_patient(facts_of.values(), through)
    return [
        episode_view(facts_of[episode_id], events_of[episode_id], ledgers[episode_id], through)
        for episode_id in sorted(facts_of)
    ]


def establish_episodes(
    episodes: Mapping[str, Iterable[Event]],
) -> tuple[dict[str, list[Event]], dict[str, EpisodeFacts]]:
    """Each episode's distinct events, and the facts of those that have their referral."""
    events_of = {episode_id: distinct(events) for episode_id, events in episodes.items()}
    facts_of = {}
    for episode_id, events in events_of.items():
        facts = establish(episode_id, events)
        if facts is not None:
            facts_of[episode_id] = facts
    return events_of, facts_of


def episode_view(
    facts: EpisodeFacts, events: Sequence[Event], runs: Sequence[LedgerRun], through: date
) -> EpisodeView:
    """One episode's read model from its facts, its distinct events and its ledger (as runs)
    through `through` or any later day."""
    listed = runs_through(runs, end_date(facts, through))
    return EpisodeView(
        episode_id=facts.episode_id,
        patient_ref=facts.patient_ref,
        payer_id=facts.payer_id,
        status=status(facts, through),
        start_of_care=facts.start_of_care,
        days=tuple(days_of(listed)),
        claim_lines=tuple(claim_lines(facts, listed)),
        timeline=tuple(timeline(events)),
    )


def first_referral_patient(referrals: Iterable[tuple[str, str, str]]) -> str | None:
    """The patient of the referral recorded first, from (recorded_at, event_id, patient_ref)
    candidates: earliest recorded_at as an instant, then the smaller event_id. None without any."""
    first = min(
        ((instant(recorded_at), event_id, patient) for recorded_at, event_id, patient in referrals),
        default=None,
    )
    return first[2] if first is not None else None


def patient_of(events: Iterable[Event]) -> str | None:
    """The patient of an episode: from its first recorded referral, or None while it has none."""
    return first_referral_patient(
        (e.recorded_at, e.event_id, e.data.patient_ref)
        for e in events
        if isinstance(e.data, ReferralReceived)
    )
