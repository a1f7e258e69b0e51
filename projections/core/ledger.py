"""The daily per-diem ledger: every listed day of an episode, billable or not, with its reason.

Rule 10 (authorization) is applied here because it spends units: days are taken in date order,
and only billable days use units. Rule 9 (duplicate day) needs the patient's other episodes, so
`settle_patient` settles them one after another, the earliest start of care first.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from projections.core.facts import Authorization, EpisodeFacts
from projections.core.rules import BILLABLE, Reason, evaluate_day


@dataclass(frozen=True, slots=True)
class LedgerDay:
    date: date
    reason: Reason
    authorization: str | None = None  # the S9363 authorization whose unit pays for a billable day

    @property
    def billable(self) -> bool:
        return self.reason == BILLABLE


def no_auth(authorizations: Sequence[Authorization]) -> bool:
    """The episode has no S9363 authorization."""
    return not authorizations


def outside_auth_period(authorizations: Sequence[Authorization], day: date) -> bool:
    """D is in none of the authorizations' periods (start and end dates included)."""
    return not any(auth.start_date <= day <= auth.end_date for auth in authorizations)


class AuthorizationUnits:
    """Units left per authorization, spent by billable days taken in date order."""

    def __init__(self, authorizations: Sequence[Authorization]) -> None:
        self.authorizations = authorizations  # sorted by (start_date, auth_number)
        self.remaining = {auth.auth_number: auth.units for auth in authorizations}

    def auth_units_exhausted(self, day: date) -> str | None:
        """Every authorization whose period holds D has already given all its units to earlier days.

        Otherwise the one that takes the day: the earliest start date (then the smallest number)
        among those holding D that still have units.
        """
        for auth in self.authorizations:
            if auth.start_date <= day <= auth.end_date and self.remaining[auth.auth_number] > 0:
                return auth.auth_number
        return None

    def take(self, day: date) -> LedgerDay:
        """Rule 10 for a day that passed rules 1 to 9."""
        if no_auth(self.authorizations):
            return LedgerDay(day, Reason.NO_AUTH)
        if outside_auth_period(self.authorizations, day):
            return LedgerDay(day, Reason.OUTSIDE_AUTH_PERIOD)
        auth_number = self.auth_units_exhausted(day)
        if auth_number is None:
            return LedgerDay(day, Reason.AUTH_UNITS_EXHAUSTED)
        self.remaining[auth_number] -= 1
        return LedgerDay(day, BILLABLE, auth_number)


def dates_between(first: date, last: date) -> Iterator[date]:
    """Every date from first through last (by ordinal: no overflow at the end of the calendar)."""
    for ordinal in range(first.toordinal(), last.toordinal() + 1):
        yield date.fromordinal(ordinal)


def end_date(facts: EpisodeFacts, through: date) -> date:
    """The last listed day: the discontinuation date or `through`, whichever is earlier."""
    if facts.discontinued_on is not None and facts.discontinued_on < through:
        return facts.discontinued_on
    return through


def ledger_days(facts: EpisodeFacts, through: date, billed_elsewhere: Collection[date]) -> list[LedgerDay]:
    """Every day from acceptance through the end date; none for a declined or never accepted episode."""
    if facts.declined or facts.accepted_on is None:
        return []
    units = AuthorizationUnits(facts.authorizations)
    days = []
    for day in dates_between(facts.accepted_on, end_date(facts, through)):
        reason = evaluate_day(facts, day, billed_elsewhere)
        days.append(units.take(day) if reason == BILLABLE else LedgerDay(day, reason))
    return days


def settlement_order(episodes: Iterable[EpisodeFacts]) -> list[EpisodeFacts]:
    """A patient's episodes in the order they keep days: earlier start of care first, then episode_id.

    An episode without a start of care bills no day, so its place does not matter: it goes last.
    """
    return sorted(
        episodes, key=lambda f: (f.start_of_care is None, f.start_of_care or date.min, f.episode_id)
    )


def settle_patient(episodes: Iterable[EpisodeFacts], through: date) -> dict[str, list[LedgerDay]]:
    """The ledgers of one patient's episodes: one unit per patient per day (rule 9)."""
    billed: set[date] = set()
    ledgers = {}
    for facts in settlement_order(episodes):
        days = ledger_days(facts, through, billed)
        billed.update(day.date for day in days if day.billable)
        ledgers[facts.episode_id] = days
    return ledgers
