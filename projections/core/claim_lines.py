"""Claim lines: S9363 runs of billable days, nursing visits (99601/99602) and drugs (J-codes)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from projections.core.facts import EpisodeFacts
from projections.core.ledger import LedgerRun

S9363 = "S9363"
NURSING_FIRST_HOURS = "99601"
NURSING_EACH_ADDITIONAL_HOUR = "99602"
FIRST_VISIT_MINUTES = 120


@dataclass(frozen=True, slots=True)
class ClaimLine:
    code: str
    from_date: date
    to_date: date
    units: int
    authorization: str | None = None


def additional_hour_units(minutes: int) -> int:
    """99602 units: minutes beyond the first 120, one per full hour plus one more when the
    remaining part passes the half hour (CPT time convention): 151-210 minutes give 1, 211-270 give 2.
    """
    beyond = max(0, minutes - FIRST_VISIT_MINUTES)
    hours, rest = divmod(beyond, 60)
    return hours + (1 if rest > 30 else 0)


def per_diem_lines(runs: Sequence[LedgerRun]) -> list[ClaimLine]:
    """Consecutive billable days sharing one authorization form one line, never crossing a month.

    A ledger's adjacent runs never share both reason and authorization, so each billable run is
    such days whole: it is cut only where a month ends.
    """
    lines: list[ClaimLine] = []
    for run in runs:
        if not run.billable:
            continue
        start = run.first
        while start <= run.last:
            first = date.fromordinal(start)
            end = min(_last_of_month(first).toordinal(), run.last)
            lines.append(ClaimLine(S9363, first, date.fromordinal(end), end - start + 1, run.authorization))
            start = end + 1
    return lines


def _last_of_month(day: date) -> date:
    if day.month == 12:
        return date(day.year, 12, 31)
    return date(day.year, day.month + 1, 1) - timedelta(days=1)


def separately_coded_lines(facts: EpisodeFacts, first: date, last: date) -> list[ClaimLine]:
    """Nursing and drug lines, one per code and date, for dates from `first` through `last`.

    They are billed whether or not the day is a billable S9363 day: drugs and nursing visits are
    coded separately. A line never has zero units.
    """
    units: dict[tuple[str, date], int] = defaultdict(int)
    for visit in facts.visits:
        if first <= visit.visit_date <= last:
            units[(NURSING_FIRST_HOURS, visit.visit_date)] += 1
            units[(NURSING_EACH_ADDITIONAL_HOUR, visit.visit_date)] += additional_hour_units(visit.minutes)
    for delivery in facts.deliveries:
        if first <= delivery.delivered_on <= last:
            for code, item_units in delivery.drug_units:
                units[(code, delivery.delivered_on)] += item_units
    return [ClaimLine(code, day, day, count) for (code, day), count in units.items() if count > 0]


def claim_lines(facts: EpisodeFacts, runs: Sequence[LedgerRun]) -> list[ClaimLine]:
    """All claim lines of an episode, sorted by code then from date. The listed days bound them."""
    if not runs:
        return []
    first, last = date.fromordinal(runs[0].first), date.fromordinal(runs[-1].last)
    lines = per_diem_lines(runs) + separately_coded_lines(facts, first, last)
    return sorted(lines, key=lambda line: (line.code, line.from_date))


def every_claim_line(
    facts: EpisodeFacts, runs: Sequence[LedgerRun], through: date, lines: Sequence[ClaimLine] | None = None
) -> list[ClaimLine]:
    """Every claim line the episode has through any end date, sorted by code then from date.

    `runs` is its ledger through `through`, which must reach the patient's billing horizon (no day
    after it is billable): a ledger through a later day adds no S9363 line, only the nursing and
    drug lines dated after `through`, up to the discontinuation date. So the lines dated in any
    period are the ones a ledger through the period's end gives there (S9363 lines never cross a
    month), without settling the patient that far. `lines`: `claim_lines(facts, runs)`, when the
    caller has them.
    """
    if facts.declined or facts.accepted_on is None:
        return []
    found = list(claim_lines(facts, runs) if lines is None else lines)
    first = max(facts.accepted_on.toordinal(), through.toordinal() + 1)
    last = facts.discontinued_on or date.max
    if first > last.toordinal():
        return found
    later = separately_coded_lines(facts, date.fromordinal(first), last)
    return sorted(found + later, key=lambda line: (line.code, line.from_date)) if later else found


def clipped(line: ClaimLine, first: date, last: date) -> ClaimLine | None:
    """The part of a claim line dated from `first` through `last`, or None when none of it is.

    An S9363 line bills one unit per day of its range, so its part has the days in both ranges as
    units; nursing and drug lines are dated on one day, so they are whole or not at all. Clipped,
    a line never bills a day twice over ranges that do not overlap.
    """
    start, end = max(line.from_date, first), min(line.to_date, last)
    if start > end:
        return None
    if (start, end) == (line.from_date, line.to_date):
        return line
    if line.code != S9363:
        raise ValueError(
            f"a {line.code} line spans {line.from_date}..{line.to_date}: only S9363 lines span days"
        )
    return ClaimLine(line.code, start, end, (end - start).days + 1, line.authorization)
