"""The per-diem rules of shared/domain.md, one function per rule, named after its reason code.

Each rule answers "does day D fail this rule?" for an episode's facts. `evaluate_day` applies
rules 1 to 9 in order; the first that fails gives the reason code. Rule 10 (authorization)
spends units in date order, so it lives in `projections.core.ledger`, which calls it last.

`change_points` names, rule by rule, the dates on which a rule's answer can differ from the day
before: between two of them every rule answers alike, so the ledger asks once per run of days.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import date
from enum import StrEnum

from projections.core.facts import EpisodeFacts


class Reason(StrEnum):
    """A day's reason code (shared/domain.md), in the order the rules are applied."""

    BEFORE_SOC = "BEFORE_SOC"
    AFTER_DISCONTINUATION = "AFTER_DISCONTINUATION"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    INPATIENT_STAY = "INPATIENT_STAY"
    ON_HOLD = "ON_HOLD"
    NOT_PER_DIEM_FREQUENCY = "NOT_PER_DIEM_FREQUENCY"
    NO_DELIVERY_COVERAGE = "NO_DELIVERY_COVERAGE"
    NO_ADMINISTRATION = "NO_ADMINISTRATION"
    NO_VISIT = "NO_VISIT"
    DUPLICATE_DAY = "DUPLICATE_DAY"
    NO_AUTH = "NO_AUTH"
    OUTSIDE_AUTH_PERIOD = "OUTSIDE_AUTH_PERIOD"
    AUTH_UNITS_EXHAUSTED = "AUTH_UNITS_EXHAUSTED"
    BILLABLE = "BILLABLE"


BILLABLE = Reason.BILLABLE
MAX_PER_DIEM_INTERVAL_HOURS = 72


def before_soc(facts: EpisodeFacts, day: date) -> bool:
    """There is no start of care, or D is before it."""
    return facts.start_of_care is None or day < facts.start_of_care


def after_discontinuation(facts: EpisodeFacts, day: date) -> bool:
    """D is after the date therapy was discontinued (the discontinuation date itself still counts)."""
    return facts.discontinued_on is not None and day > facts.discontinued_on


def not_eligible(facts: EpisodeFacts, day: date) -> bool:
    """The latest assessment on or before D found the patient not eligible, or there is none."""
    return facts.latest_assessment_eligible(day) is not True


def inpatient_stay(facts: EpisodeFacts, day: date) -> bool:
    """Admission date < D < discharge date of a stay (no discharge yet: D > admission date)."""
    return any(stay.start < day and (stay.end is None or day < stay.end) for stay in facts.stays)


def on_hold(facts: EpisodeFacts, day: date) -> bool:
    """Hold start <= D < resume date (not resumed yet: D >= hold start)."""
    return any(hold.start <= day and (hold.end is None or day < hold.end) for hold in facts.holds)


def not_per_diem_frequency(facts: EpisodeFacts, day: date) -> bool:
    """The order in effect on D doses less often than every 72 hours (continuous, 0, passes)."""
    return facts.interval_in_effect(day) > MAX_PER_DIEM_INTERVAL_HOURS


def no_delivery_coverage(facts: EpisodeFacts, day: date) -> bool:
    """No completed, not voided delivery has delivery date <= D < delivery date + days supplied."""
    # Counted in days from the delivery, so that a huge days_supply cannot overflow the calendar.
    return not any(
        0 <= (day - delivery.delivered_on).days < delivery.days_supply for delivery in facts.deliveries
    )


def no_administration(facts: EpisodeFacts, day: date) -> bool:
    """Counting basis `infusion_day`: no dose logged on D and no completed visit on D that administered."""
    return day not in facts.dose_dates and not _visit_administered_on(facts, day)


def no_visit(facts: EpisodeFacts, day: date) -> bool:
    """Counting basis `visit_day`: no completed visit on D that administered the drug."""
    return not _visit_administered_on(facts, day)


def _visit_administered_on(facts: EpisodeFacts, day: date) -> bool:
    return any(visit.visit_date == day and visit.administered for visit in facts.visits)


def duplicate_day(billed_elsewhere: Collection[date], day: date) -> bool:
    """Another episode of the same patient, settled before this one, bills D under S9363."""
    return day in billed_elsewhere


Rule = Callable[[EpisodeFacts, date], bool]

# Rules 1 to 7, in the order domain.md applies them.
ORDERED_RULES: tuple[tuple[Reason, Rule], ...] = (
    (Reason.BEFORE_SOC, before_soc),
    (Reason.AFTER_DISCONTINUATION, after_discontinuation),
    (Reason.NOT_ELIGIBLE, not_eligible),
    (Reason.INPATIENT_STAY, inpatient_stay),
    (Reason.ON_HOLD, on_hold),
    (Reason.NOT_PER_DIEM_FREQUENCY, not_per_diem_frequency),
    (Reason.NO_DELIVERY_COVERAGE, no_delivery_coverage),
)

# Rule 8: only the payer's counting basis adds a rule; `access` (NHIA's definition) adds none.
COUNTING_BASIS_RULES: dict[str, tuple[Reason, Rule] | None] = {
    "access": None,
    "infusion_day": (Reason.NO_ADMINISTRATION, no_administration),
    "visit_day": (Reason.NO_VISIT, no_visit),
}


def evaluate_day(facts: EpisodeFacts, day: date, billed_elsewhere: Collection[date]) -> Reason:
    """Rules 1 to 9 for day D: the first failing rule's reason code, or BILLABLE if all pass."""
    for reason, rule in ORDERED_RULES:
        if rule(facts, day):
            return reason
    basis_rule = COUNTING_BASIS_RULES[facts.counting_basis]
    if basis_rule is not None and basis_rule[1](facts, day):
        return basis_rule[0]
    if duplicate_day(billed_elsewhere, day):
        return Reason.DUPLICATE_DAY
    return BILLABLE


def change_points(facts: EpisodeFacts, billed_elsewhere: Iterable[int] = ()) -> list[int]:
    """The days (ordinals) on which some rule's answer can differ from the day before.

    Rule by rule, as the rules above read: a day D fails each of them for a set of days whose
    every boundary is listed here. `billed_elsewhere`: where the days billed by the patient's
    other episodes start and stop (the first day of each run, and the day after its last).
    """
    cuts = list(billed_elsewhere)  # DUPLICATE_DAY
    if facts.start_of_care is not None:
        cuts.append(facts.start_of_care.toordinal())  # BEFORE_SOC until the start of care
    if facts.discontinued_on is not None:
        cuts.append(facts.discontinued_on.toordinal() + 1)  # AFTER_DISCONTINUATION after it
    cuts.extend(day.toordinal() for day in facts.assessment_dates)  # NOT_ELIGIBLE: the latest changes
    for stay in facts.stays:  # INPATIENT_STAY: admission < D < discharge
        cuts.append(stay.start.toordinal() + 1)
        if stay.end is not None:
            cuts.append(stay.end.toordinal())
    for hold in facts.holds:  # ON_HOLD: hold start <= D < resume date
        cuts.append(hold.start.toordinal())
        if hold.end is not None:
            cuts.append(hold.end.toordinal())
    cuts.extend(day.toordinal() for day in facts.interval_dates)  # NOT_PER_DIEM_FREQUENCY: the order
    # NO_DELIVERY_COVERAGE: delivery date <= D < delivery date + days supplied, for some delivery
    cuts.extend(edges((d.delivered_on.toordinal(), d.days_supply) for d in facts.deliveries))
    basis_rule = COUNTING_BASIS_RULES[facts.counting_basis]
    if basis_rule is not None:  # NO_VISIT: a visit on D that administered; NO_ADMINISTRATION: or a dose
        given = [visit.visit_date for visit in facts.visits if visit.administered]
        if basis_rule[0] == Reason.NO_ADMINISTRATION:
            given.extend(facts.dose_dates)
        cuts.extend(edges((day.toordinal(), 1) for day in given))
    for auth in facts.authorizations:  # rule 10: the periods of the authorizations
        cuts.append(auth.start_date.toordinal())
        cuts.append(auth.end_date.toordinal() + 1)
    return cuts


def edges(spans: Iterable[tuple[int, int]]) -> Iterator[int]:
    """Where the days of some span (first day, number of days) start and stop: the first day of
    each run of such days and the day after its last. Spans that overlap or touch are one run."""
    end: int | None = None
    for first, days in sorted(spans):
        if days <= 0:
            continue
        if end is None or first > end:
            if end is not None:
                yield end
            yield first
            end = first + days
        else:
            end = max(end, first + days)
    if end is not None:
        yield end
