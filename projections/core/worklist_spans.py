"""Item spans: a patient's worklist for every `today` at once, for the live read model.

`GET /worklist?today=...` must answer for any day, from rows written when events arrive. An
`ItemSpan` says: for every `today` in [first, last] (no last: ever after) the episode has an item
of this kind and key, due on `due_at_first + slope * (today - first)`, with this detail. So

    WHERE first <= :today AND (last IS NULL OR :today <= last)

and the due formula give exactly `worklist_items(episodes, today)` (`items_on` is that query).

Every rule of `projections.core.worklist` changes what it finds only at dates the episode's facts
name: its status changes on acceptance, start of care, discontinuation and the ends of stays and
holds; each kind adds its own (a run of supply ending, a visit falling due, an authorization's
billable days, ...). Between two such cuts a rule finds the same items, with dues that stay put or
move with `today`. So the rule itself, run on the first day of each piece (and on the second, to
learn the slope), gives the spans: the rules are written once, and the property tests check the
cuts. The ledger behind AUTH_UNITS_LOW is settled once, through the last day any episode of the
patient can bill: the ledger through any `today` is a prefix of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from events import Event
from projections.core.episode import status
from projections.core.facts import EpisodeFacts
from projections.core.ledger import LedgerRun, settle_patient
from projections.core.worklist import (
    AUTH_WARNING_DAYS,
    LAST_TODAY,
    LOW_UNITS,
    REASSESSMENT_DAYS,
    REASSESSMENT_WARNING_DAYS,
    RULES,
    SUPPLY_WARNING_DAYS,
    EpisodeWorklist,
    Finding,
    ItemKind,
    WorklistItem,
    WorklistRule,
    billable_days_by_authorization,
    billing_horizon,
    establish_patient,
    item_order,
)
from projections.core.worklist_facts import WorklistFacts

FIRST_DAY = date.min.toordinal()
LAST_DAY = LAST_TODAY.toordinal()


class SpanError(RuntimeError):
    """A rule's items changed between two cuts: a cut is missing from `CUTS` (a bug, not bad input)."""


@dataclass(frozen=True, slots=True)
class ItemSpan:
    episode_id: str
    patient_ref: str
    kind: ItemKind
    key: str | None
    first: date
    last: date | None  # None: every day after `first` too
    due_at_first: date
    slope: int  # 0: the due stays put; 1: it moves on with `today`
    detail: str

    def holds(self, today: date) -> bool:
        return self.first <= today and (self.last is None or today <= self.last)

    def due_on(self, today: date) -> date:
        return date.fromordinal(self.due_at_first.toordinal() + self.slope * (today - self.first).days)

    def item_on(self, today: date) -> WorklistItem:
        return WorklistItem(
            self.episode_id, self.patient_ref, self.kind, self.due_on(today), self.key, self.detail
        )


def items_on(spans: Iterable[ItemSpan], today: date) -> list[WorklistItem]:
    """The worklist on `today` from spans: what the read model's query does, sorted the same way."""
    return sorted((span.item_on(today) for span in spans if span.holds(today)), key=item_order)


# --- Where each kind's items can change -------------------------------------------------------------
# Ordinals, so that "end + 1" or "end - 13" never leave the calendar; cuts outside it are ignored.


def _runs(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Inclusive intervals merged where they overlap or touch: every day of a run is in one."""
    runs: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if runs and start <= runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], max(runs[-1][1], end))
        else:
            runs.append((start, end))
    return runs


def _status_cuts(facts: EpisodeFacts) -> Iterator[int]:
    for day in (facts.accepted_on, facts.discontinued_on, facts.start_of_care):
        if day is not None:
            yield day.toordinal()
    for span in facts.stays + facts.holds:
        yield span.start.toordinal()
        if span.end is not None:
            yield span.end.toordinal()


def _supply_cuts(ctx: EpisodeWorklist) -> Iterator[int]:
    """Covered through is a run's end inside it and `today - 1` between runs; the warning starts
    3 days before a run ends; a scheduled delivery counts while `today` <= `scheduled_for`."""
    deliveries = ctx.episode.facts.deliveries
    covered = (
        (d.delivered_on.toordinal(), d.delivered_on.toordinal() + d.days_supply - 1) for d in deliveries
    )
    for start, end in _runs(interval for interval in covered if interval[1] >= interval[0]):
        yield from (start, end + 1, end + 1 - SUPPLY_WARNING_DAYS)
    for delivery in ctx.episode.open_deliveries:
        yield from (delivery.scheduled_for.toordinal(), delivery.scheduled_for.toordinal() + 1)


def _auth_ending_cuts(ctx: EpisodeWorklist) -> Iterator[int]:
    periods = ((a.start_date.toordinal(), a.end_date.toordinal()) for a in ctx.episode.facts.authorizations)
    for start, end in _runs(periods):
        yield from (start, end + 1, end + 1 - AUTH_WARNING_DAYS)


def _auth_units_cuts(ctx: EpisodeWorklist) -> Iterator[int]:
    """Units left drop on each billable day of the authorization; the due (today + units left + 1)
    moves on between them, and passes the end date (units left >= days left) at E - units + used."""
    for auth in ctx.episode.facts.authorizations:
        end = auth.end_date.toordinal()
        yield from (auth.start_date.toordinal(), end + 1)
        days = ctx.billable_days.get(auth.auth_number, ())
        low_from = max(auth.units - LOW_UNITS, 0)  # units used from which units left are low
        for used in range(low_from, len(days) + 1):
            if used:
                yield days[used - 1].toordinal()
            yield end - auth.units + used


def _overdue_cuts(scheduled: Iterable[date]) -> Iterator[int]:
    return (day.toordinal() + 1 for day in scheduled)


def _complication_cuts(ctx: EpisodeWorklist) -> Iterator[int]:
    for complication in ctx.episode.complications:
        yield complication.onset_on.toordinal()
        if complication.resolved_on is not None:
            yield complication.resolved_on.toordinal()


def _span_cuts(spans: Iterable[tuple[date, date | None]]) -> Iterator[int]:
    for start, end in spans:
        yield start.toordinal()
        if end is not None:
            yield end.toordinal()


def _reassessment_cuts(ctx: EpisodeWorklist) -> Iterator[int]:
    for assessed_on in ctx.episode.facts.assessment_dates:
        yield from (
            assessed_on.toordinal(),
            assessed_on.toordinal() + REASSESSMENT_DAYS - REASSESSMENT_WARNING_DAYS,
        )


def _stay_cuts(ctx: EpisodeWorklist) -> Iterator[int]:
    return _span_cuts((s.start, s.end) for s in ctx.episode.facts.stays)


def _no_cuts(ctx: EpisodeWorklist) -> Iterator[int]:
    return iter(())


# Besides the status's own cuts: where else each kind's items can change.
CUTS: dict[ItemKind, Callable[[EpisodeWorklist], Iterable[int]]] = {
    ItemKind.REFERRAL_PENDING: _no_cuts,
    ItemKind.START_OF_CARE_NEEDED: _no_cuts,
    ItemKind.SUPPLY_RUNS_OUT: _supply_cuts,
    ItemKind.AUTH_ENDING: _auth_ending_cuts,
    ItemKind.AUTH_UNITS_LOW: _auth_units_cuts,
    ItemKind.DELIVERY_OVERDUE: lambda ctx: _overdue_cuts(
        d.scheduled_for for d in ctx.episode.open_deliveries
    ),
    ItemKind.VISIT_OVERDUE: lambda ctx: _overdue_cuts(v.scheduled_for for v in ctx.episode.open_visits),
    ItemKind.VISIT_MISSED: _no_cuts,
    ItemKind.COMPLICATION_OPEN: _complication_cuts,
    ItemKind.ON_HOLD: lambda ctx: _span_cuts((h.start, h.end) for h in ctx.episode.facts.holds),
    ItemKind.INPATIENT: _stay_cuts,
    ItemKind.RESUMPTION_VISIT_NEEDED: _stay_cuts,
    ItemKind.REASSESSMENT_DUE: _reassessment_cuts,
    ItemKind.NOT_ELIGIBLE: lambda ctx: (a.toordinal() for a in ctx.episode.facts.assessment_dates),
}


# Kinds whose due can move on with `today` (the others' dues are event dates): only for these is
# a rule run on the second day of a piece too, to learn the slope.
MOVING_DUES = frozenset({ItemKind.SUPPLY_RUNS_OUT, ItemKind.AUTH_ENDING, ItemKind.AUTH_UNITS_LOW})


def _pieces(first: int, last: int, cuts: Iterable[int]) -> Iterator[tuple[int, int]]:
    """[first, last] split before every cut inside it."""
    start = first
    for cut in sorted({cut for cut in cuts if first < cut <= last}):
        yield start, cut - 1
        start = cut
    yield start, last


def _status_segments(facts: EpisodeFacts) -> list[tuple[int, int, str]]:
    """(first, last, status) over the whole calendar, with the status as of each day."""
    return [
        (first, last, status(facts, date.fromordinal(first)))
        for first, last in _pieces(FIRST_DAY, LAST_DAY, _status_cuts(facts))
    ]


def _segments_of(segments: list[tuple[int, int, str]], statuses: frozenset[str]) -> Iterator[tuple[int, int]]:
    """The days whose status is one of `statuses`, as maximal segments."""
    start: int | None = None
    for first, last, status_then in segments:
        if status_then in statuses:
            if start is None:
                start = first
            end = last
        elif start is not None:
            yield start, end
            start = None
    if start is not None:
        yield start, end


# --- Spans -------------------------------------------------------------------------------------------


def _rule_spans(ctx: EpisodeWorklist, rule: WorklistRule, first: int, last: int) -> Iterator[ItemSpan]:
    """The spans of one rule over days whose status it applies to, one piece between cuts at a time."""
    episode = ctx.episode
    for start, end in _pieces(first, last, CUTS[rule.kind](ctx)):
        found = list(rule.find(ctx, date.fromordinal(start)))
        if not found:
            continue
        moving = rule.kind in MOVING_DUES and end > start
        next_day: dict[str | None, Finding] = {}
        if moving:
            next_day = {f.key: f for f in rule.find(ctx, date.fromordinal(start + 1))}
        for finding in found:
            slope = 0
            if moving:
                then = next_day.get(finding.key)
                if (
                    then is None
                    or then.detail != finding.detail
                    or (then.due - finding.due).days not in (0, 1)
                ):
                    raise SpanError(f"{rule.kind} of {episode.episode_id} changes inside {start}..{end}")
                slope = (then.due - finding.due).days
            yield ItemSpan(
                episode_id=episode.episode_id,
                patient_ref=episode.patient_ref,
                kind=rule.kind,
                key=finding.key,
                first=date.fromordinal(start),
                last=None if end >= LAST_DAY else date.fromordinal(end),
                due_at_first=finding.due,
                slope=slope,
                detail=finding.detail,
            )


def _joined(before: ItemSpan, after: ItemSpan) -> ItemSpan | None:
    """One span for two that follow each other, when the due runs on from one into the other."""
    if before.last is None or (after.first - before.last).days != 1 or before.detail != after.detail:
        return None
    one_day_before = before.first == before.last
    slopes = [after.slope] if after.first != after.last else [before.slope, 1 - before.slope]
    for slope in slopes:
        if slope != before.slope and not one_day_before:
            continue
        if (
            before.due_at_first.toordinal() + slope * (after.first - before.first).days
            == after.due_at_first.toordinal()
        ):
            return replace(before, last=after.last, slope=slope)
    return None


def _episode_spans(ctx: EpisodeWorklist) -> list[ItemSpan]:
    segments = _status_segments(ctx.episode.facts)
    spans: list[ItemSpan] = []
    for rule in RULES:
        latest: dict[str | None, int] = {}  # key -> index in `spans` of its latest span
        for first, last in _segments_of(segments, rule.statuses):
            for span in _rule_spans(ctx, rule, first, last):
                index = latest.get(span.key)
                joined = _joined(spans[index], span) if index is not None else None
                if index is not None and joined is not None:
                    spans[index] = joined
                else:
                    latest[span.key] = len(spans)
                    spans.append(span)
    return spans


def worklist_spans(episodes: Mapping[str, Iterable[Event]]) -> list[ItemSpan]:
    """The item spans of one patient's episodes, for every `today` up to `LAST_TODAY`.

    `episodes` is as for `worklist_items`: every episode of the patient, with its events.
    Spans come by episode_id, then kind in the table's order.
    """
    return patient_spans(establish_patient(episodes))


def patient_spans(
    patient: Sequence[WorklistFacts], ledgers: Mapping[str, Sequence[LedgerRun]] | None = None
) -> list[ItemSpan]:
    """`worklist_spans` of a patient's episodes already established.

    `ledgers`, when the caller has settled the patient already: each episode's ledger through
    `billing_horizon(patient)` or any later day (they are prefixes of one another).
    """
    if ledgers is None:
        horizon = billing_horizon(patient)
        ledgers = settle_patient((episode.facts for episode in patient), horizon) if horizon else {}
    spans: list[ItemSpan] = []
    for episode in patient:
        billable = billable_days_by_authorization(ledgers.get(episode.episode_id, ()))
        spans.extend(_episode_spans(EpisodeWorklist(episode, billable)))
    return spans
