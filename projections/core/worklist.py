"""The coordinator's worklist (shared/worklist.md): what needs doing, for one patient, on `today`.

One function per kind of item, named after it, with the table's condition as its docstring. Each
takes an episode's worklist facts and `today`; the status condition of the table's row is
checked once by the caller (`RULES` lists each row's statuses), so the same functions serve the
direct worklist here and the item spans of `projections.core.worklist_spans`.

Like the ledger, the worklist is a function of the set of events: no I/O, no clock, no
dependence on the order or repetition of events. `--as-of` is the caller's filter.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from events import Event
from projections.core.episode import distinct, status
from projections.core.facts import Authorization
from projections.core.ledger import LedgerRun, settle_patient
from projections.core.worklist_facts import (
    WorklistFacts,
    establish_worklist,
    first_unauthorized,
    first_uncovered,
    last_covered_before,
    latest_assessment,
    open_span,
)


class ItemKind(StrEnum):
    """The kinds of item, in the table's order (the order items of one due date are listed in)."""

    REFERRAL_PENDING = "REFERRAL_PENDING"
    START_OF_CARE_NEEDED = "START_OF_CARE_NEEDED"
    SUPPLY_RUNS_OUT = "SUPPLY_RUNS_OUT"
    AUTH_ENDING = "AUTH_ENDING"
    AUTH_UNITS_LOW = "AUTH_UNITS_LOW"
    DELIVERY_OVERDUE = "DELIVERY_OVERDUE"
    VISIT_OVERDUE = "VISIT_OVERDUE"
    VISIT_MISSED = "VISIT_MISSED"
    COMPLICATION_OPEN = "COMPLICATION_OPEN"
    ON_HOLD = "ON_HOLD"
    INPATIENT = "INPATIENT"
    RESUMPTION_VISIT_NEEDED = "RESUMPTION_VISIT_NEEDED"
    REASSESSMENT_DUE = "REASSESSMENT_DUE"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"


KIND_ORDER = {kind: position for position, kind in enumerate(ItemKind)}

# Statuses (contract.md, end date = today) whose episodes are on the worklist at all.
LISTED = frozenset({"referred", "accepted", "active", "on_hold", "inpatient"})
ACTIVE = frozenset({"active"})
ACTIVE_OR_ON_HOLD = frozenset({"active", "on_hold"})

SUPPLY_WARNING_DAYS = 3
AUTH_WARNING_DAYS = 14
LOW_UNITS = 7
REASSESSMENT_DAYS = 60
REASSESSMENT_WARNING_DAYS = 7

# No due lies more than 14 days after `today` (AUTH_ENDING's is the farthest), so this is the last
# `today` whose every item has a due date the calendar can write.
LAST_TODAY = date.max - timedelta(days=AUTH_WARNING_DAYS)


@dataclass(frozen=True, slots=True)
class WorklistItem:
    episode_id: str
    patient_ref: str
    kind: ItemKind
    due: date
    key: str | None
    detail: str  # for people; says nothing that changes while the item's due stays on its course


def item_order(item: WorklistItem) -> tuple[date, int, str, bool, str]:
    """By due, then kind in the table's order, then episode_id, then key (none first)."""
    return (item.due, KIND_ORDER[item.kind], item.episode_id, item.key is not None, item.key or "")


@dataclass(frozen=True, slots=True)
class Finding:
    """What one rule finds for an episode on one day: an item without its episode and patient."""

    kind: ItemKind
    due: date
    key: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class EpisodeWorklist:
    """An episode's worklist facts and the billable days its ledger gives each S9363 authorization.

    The days come from a ledger through `today` or any later date: the ledger through `today` is a
    prefix of a later one, so counting the days up to `today` gives the same units either way.
    """

    episode: WorklistFacts
    billable_days: Mapping[str, Sequence[date]]  # auth_number -> its billable days, in date order

    def units_left(self, auth: Authorization, today: date) -> int:
        """Its units minus the billable days the ledger through `today` assigns to it."""
        return auth.units - bisect_right(self.billable_days.get(auth.auth_number, ()), today)


def _words(name: str) -> str:
    return name.replace("_", " ")


# --- The rules, one per row of the table ----------------------------------------------------------

Rule = Callable[[EpisodeWorklist, date], Iterator[Finding]]


def referral_pending(ctx: EpisodeWorklist, today: date) -> Iterator[Finding]:
    """Status `referred` and no `ReferralAccepted` at all; due: local date of the first
    `ReferralReceived`'s `occurred_at`."""
    episode = ctx.episode
    if not episode.ever_accepted:
        detail = f"referral received {episode.referred_on}, not yet accepted"
        yield Finding(ItemKind.REFERRAL_PENDING, episode.referred_on, None, detail)


def start_of_care_needed(ctx: EpisodeWorklist, today: date) -> Iterator[Finding]:
    """Status `accepted` (accepted, no start of care yet) and no open scheduled visit of kind
    `start_of_care`; due: `accepted_on`."""
    episode = ctx.episode
    accepted_on = episode.facts.accepted_on
    assert accepted_on is not None  # status `accepted`
    if not any(visit.kind == "start_of_care" for visit in episode.open_visits):
        detail = "accepted; no start-of-care visit scheduled"
        yield Finding(ItemKind.START_OF_CARE_NEEDED, accepted_on, None, detail)


def supply_runs_out(ctx: EpisodeWorklist, today: date) -> Iterator[Finding]:
    """Status `active`, covered through < `today + 3`, and no open scheduled delivery with `today` <=
    `scheduled_for` <= covered through + 1; due: covered through + 1."""
    deliveries = ctx.episode.facts.deliveries
    runs_out = first_uncovered(deliveries, today)
    first_day = today.toordinal()
    if runs_out > first_day + SUPPLY_WARNING_DAYS:
        return
    if any(first_day <= d.scheduled_for.toordinal() <= runs_out for d in ctx.episode.open_deliveries):
        return
    if runs_out > first_day:
        detail = f"covered through {date.fromordinal(runs_out - 1)}; no delivery scheduled"
    else:
        last = last_covered_before(deliveries, today)
        ran_out = f"supply ran out after {last}" if last else "no supply delivered"
        detail = f"{ran_out}; no delivery scheduled"
    yield Finding(ItemKind.SUPPLY_RUNS_OUT, date.fromordinal(runs_out), None, detail)


def auth_ending(ctx: EpisodeWorklist, today: date) -> Iterator[Finding]:
    """Status `active` or `on_hold`, and authorized through < `today + 14`; due: authorized through + 1.
    Units are ignored."""
    ends = first_unauthorized(ctx.episode.facts.authorizations, today)
    if ends > today.toordinal() + AUTH_WARNING_DAYS:
        return
    if ends > today.toordinal():
        detail = f"authorized through {date.fromordinal(ends - 1)}"
    else:
        detail = "no S9363 authorization for today"
    yield Finding(ItemKind.AUTH_ENDING, date.fromordinal(ends), None, detail)


def auth_units_low(ctx: EpisodeWorklist, today: date) -> Iterator[Finding]:
    """Per S9363 authorization X whose period holds `today`, status `active`: units left <= 7 and
    units left < the number of days from `today + 1` through X's `end_date`; due: `today + units
    left + 1`; key: `auth_number`."""
    for auth in ctx.episode.facts.authorizations:
        if not auth.start_date <= today <= auth.end_date:
            continue
        left = ctx.units_left(auth, today)
        if left <= LOW_UNITS and left < (auth.end_date - today).days:
            # Not "N units left": that changes from day to day while the due stays put.
            detail = (
                f"authorization {auth.auth_number}: its {auth.units} units run out before {auth.end_date}"
            )
            due = today + timedelta(days=left + 1)
            yield Finding(ItemKind.AUTH_UNITS_LOW, due, auth.auth_number, detail)


def delivery_overdue(ctx: EpisodeWorklist, today: date) -> Iterator[Finding]:
    """Per open scheduled delivery with `scheduled_for` < `today`; due: `scheduled_for`;
    key: `delivery_id`."""
    for delivery in ctx.episode.open_deliveries:
        if delivery.scheduled_for < today:
            detail = f"delivery {delivery.delivery_id} not recorded"
            yield Finding(ItemKind.DELIVERY_OVERDUE, delivery.scheduled_for, delivery.delivery_id, detail)


def visit_overdue(ctx: EpisodeWorklist, today: date) -> Iterator[Finding]:
    """Per open scheduled visit with `scheduled_for` < `today`; due: `scheduled_for`; key: `visit_id`."""
    for visit in ctx.episode.open_visits:
        if visit.scheduled_for < today:
            detail = f"{_words(visit.kind)} visit {visit.visit_id} not recorded"
            yield Finding(ItemKind.VISIT_OVERDUE, visit.scheduled_for, visit.visit_id, detail)


def visit_missed(ctx: EpisodeWorklist, today: date) -> Iterator[Finding]:
    """Per `VisitMissed` of visit V, when no completed, not voided visit has `visit_date` >= V's
    scheduled date and there is no open scheduled visit; due: V's `scheduled_for` (its
    `VisitScheduled`), else the local date of the `VisitMissed`'s `occurred_at`; key: `visit_id`.

    Any open scheduled visit counts, of any kind and date, and any completed visit, even one dated
    after `today`; a visit completed or voided under the missed one's id has no item.
    """
    episode = ctx.episode
    if episode.open_visits:
        return
    for missed in episode.missed_visits:
        if not any(visit.visit_date >= missed.missed_on for visit in episode.facts.visits):
            detail = f"visit {missed.visit_id} missed ({missed.reason}); none since, none scheduled"
            yield Finding(ItemKind.VISIT_MISSED, missed.missed_on, missed.visit_id, detail)


def complication_open(ctx: EpisodeWorklist, today: date) -> Iterator[Finding]:
    """Per `ComplicationReported` with `onset_on` <= `today` and no `ComplicationResolved` of the same
    `complication_id` with `resolved_on` <= `today`; due: `onset_on`; key: `complication_id`."""
    for complication in ctx.episode.complications:
        resolved = complication.resolved_on is not None and complication.resolved_on <= today
        if complication.onset_on <= today and not resolved:
            detail = f"{complication.severity} {_words(complication.kind)} ({complication.complication_id})"
            key = complication.complication_id
            yield Finding(ItemKind.COMPLICATION_OPEN, complication.onset_on, key, detail)


def on_hold(ctx: EpisodeWorklist, today: date) -> Iterator[Finding]:
    """Status `on_hold`; due: start of the open hold."""
    hold = open_span(ctx.episode.facts.holds, today)
    assert hold is not None  # status `on_hold`
    yield Finding(ItemKind.ON_HOLD, hold.start, None, f"therapy held since {hold.start}")


def inpatient(ctx: EpisodeWorklist, today: date) -> Iterator[Finding]:
    """Status `inpatient`; due: admission date of the open stay."""
    stay = open_span(ctx.episode.facts.stays, today)
    assert stay is not None  # status `inpatient`
    yield Finding(ItemKind.INPATIENT, stay.start, None, f"inpatient since {stay.start}")


def resumption_visit_needed(ctx: EpisodeWorklist, today: date) -> Iterator[Finding]:
    """Status `active`; of the stays admitted on or before `today`, the one with the latest admission
    date (on a tie, the latest discharge) was discharged on or before `today`; no completed, not
    voided visit has `visit_date` >= its discharge date; and there is no open scheduled visit;
    due: discharge date."""
    episode = ctx.episode
    admitted = [stay for stay in episode.facts.stays if stay.start <= today]
    if not admitted:
        return
    # A stay not yet discharged ends after any discharged one of the same admission date.
    latest = max(admitted, key=lambda s: (s.start, s.end is None, s.end or s.start))
    discharged = latest.end
    if discharged is None or discharged > today:
        return
    if any(visit.visit_date >= discharged for visit in episode.facts.visits) or episode.open_visits:
        return
    yield Finding(
        ItemKind.RESUMPTION_VISIT_NEEDED, discharged, None, f"discharged {discharged}; no visit since"
    )


def reassessment_due(ctx: EpisodeWorklist, today: date) -> Iterator[Finding]:
    """Status `active` or `on_hold`, and the latest assessment on or before `today` (domain.md's
    order) is eligible and `assessed_on + 60` <= `today + 7`; due: `assessed_on + 60`."""
    latest = latest_assessment(ctx.episode, today)
    if latest is None or not latest[1]:
        return
    assessed_on = latest[0]
    if assessed_on.toordinal() + REASSESSMENT_DAYS <= today.toordinal() + REASSESSMENT_WARNING_DAYS:
        due = assessed_on + timedelta(days=REASSESSMENT_DAYS)
        yield Finding(ItemKind.REASSESSMENT_DUE, due, None, f"last assessed {assessed_on}")


def not_eligible(ctx: EpisodeWorklist, today: date) -> Iterator[Finding]:
    """Status `active` or `on_hold`, and rule 3 of `domain.md` fails on `today`: the latest
    assessment on or before `today` found the patient not eligible, or there is none; due: that
    assessment's `assessed_on`, or `accepted_on` when there is none."""
    latest = latest_assessment(ctx.episode, today)
    if latest is None:
        accepted_on = ctx.episode.facts.accepted_on
        assert accepted_on is not None  # status `active` or `on_hold`
        yield Finding(ItemKind.NOT_ELIGIBLE, accepted_on, None, "no assessment yet")
    elif not latest[1]:
        yield Finding(ItemKind.NOT_ELIGIBLE, latest[0], None, "latest assessment: not eligible")


@dataclass(frozen=True, slots=True)
class WorklistRule:
    kind: ItemKind
    statuses: frozenset[str]  # the row's status condition; rows without one apply to every listed status
    find: Rule


RULES: tuple[WorklistRule, ...] = (
    WorklistRule(ItemKind.REFERRAL_PENDING, frozenset({"referred"}), referral_pending),
    WorklistRule(ItemKind.START_OF_CARE_NEEDED, frozenset({"accepted"}), start_of_care_needed),
    WorklistRule(ItemKind.SUPPLY_RUNS_OUT, ACTIVE, supply_runs_out),
    WorklistRule(ItemKind.AUTH_ENDING, ACTIVE_OR_ON_HOLD, auth_ending),
    WorklistRule(ItemKind.AUTH_UNITS_LOW, ACTIVE, auth_units_low),
    WorklistRule(ItemKind.DELIVERY_OVERDUE, LISTED, delivery_overdue),
    WorklistRule(ItemKind.VISIT_OVERDUE, LISTED, visit_overdue),
    WorklistRule(ItemKind.VISIT_MISSED, LISTED, visit_missed),
    WorklistRule(ItemKind.COMPLICATION_OPEN, LISTED, complication_open),
    WorklistRule(ItemKind.ON_HOLD, frozenset({"on_hold"}), on_hold),
    WorklistRule(ItemKind.INPATIENT, frozenset({"inpatient"}), inpatient),
    WorklistRule(ItemKind.RESUMPTION_VISIT_NEEDED, ACTIVE, resumption_visit_needed),
    WorklistRule(ItemKind.REASSESSMENT_DUE, ACTIVE_OR_ON_HOLD, reassessment_due),
    WorklistRule(ItemKind.NOT_ELIGIBLE, ACTIVE_OR_ON_HOLD, not_eligible),
)


# --- One patient's worklist -------------------------------------------------------------------------


def establish_patient(episodes: Mapping[str, Iterable[Event]]) -> list[WorklistFacts]:
    """The worklist facts of a patient's episodes that have their referral, by episode_id."""
    established = (establish_worklist(episode, distinct(events)) for episode, events in episodes.items())
    return sorted((e for e in established if e is not None), key=lambda e: e.episode_id)


def billing_horizon(patient: Iterable[WorklistFacts]) -> date | None:
    """The last day any of the episodes can bill, or None when none can.

    No day after its discontinuation, its last covered day or its last authorized day is billable
    in an episode, so the ledger through this day already holds every billable day there will be:
    units used by any later `today` are counted from it.
    """
    latest: int | None = None
    for episode in patient:
        facts = episode.facts
        if not facts.deliveries or not facts.authorizations or facts.accepted_on is None:
            continue
        last = min(
            max(d.delivered_on.toordinal() + d.days_supply - 1 for d in facts.deliveries),
            max(a.end_date.toordinal() for a in facts.authorizations),
            facts.discontinued_on.toordinal() if facts.discontinued_on else LAST_TODAY.toordinal(),
        )
        latest = last if latest is None else max(latest, last)
    if latest is None or latest < date.min.toordinal():
        return None
    return date.fromordinal(min(latest, LAST_TODAY.toordinal()))


def billable_days_by_authorization(runs: Iterable[LedgerRun]) -> dict[str, list[date]]:
    """The billable days of a ledger, by the S9363 authorization that pays for each, in date order."""
    by_auth: dict[str, list[date]] = {}
    for run in runs:
        if run.billable and run.authorization is not None:
            by_auth.setdefault(run.authorization, []).extend(
                date.fromordinal(ordinal) for ordinal in range(run.first, run.last + 1)
            )
    return by_auth


def check_today(today: date) -> None:
    if today > LAST_TODAY:
        raise ValueError(f"today {today} is after {LAST_TODAY}: some due dates would fall after the calendar")


def to_item(episode: WorklistFacts, finding: Finding) -> WorklistItem:
    return WorklistItem(
        episode.episode_id, episode.patient_ref, finding.kind, finding.due, finding.key, finding.detail
    )


def worklist_items(episodes: Mapping[str, Iterable[Event]], today: date) -> list[WorklistItem]:
    """The worklist of one patient's episodes on `today`, sorted (`item_order`).

    `episodes` maps episode_id to its events, already filtered by `--as-of`; all episodes of the
    patient must be given together, since "units left" come from the ledger that settles one unit
    per patient per day across them. An episode without its referral has no items.
    """
    return patient_items(establish_patient(episodes), today)


def patient_items(patient: Sequence[WorklistFacts], today: date) -> list[WorklistItem]:
    """`worklist_items` of a patient's episodes already established."""
    check_today(today)
    statuses = {episode.episode_id: status(episode.facts, today) for episode in patient}
    ledgers: Mapping[str, Sequence[LedgerRun]] = {}
    horizon = billing_horizon(patient)
    if horizon is not None and "active" in statuses.values():  # only `active` rows count units
        # Through today, as worklist.md says; no later than the horizon, after which nothing bills.
        ledgers = settle_patient((episode.facts for episode in patient), min(today, horizon))
    items: list[WorklistItem] = []
    for episode in patient:
        status_today = statuses[episode.episode_id]
        if status_today not in LISTED:
            continue
        ctx = EpisodeWorklist(episode, billable_days_by_authorization(ledgers.get(episode.episode_id, ())))
        for rule in RULES:
            if status_today in rule.statuses:
                items.extend(to_item(episode, finding) for finding in rule.find(ctx, today))
    return sorted(items, key=item_order)
