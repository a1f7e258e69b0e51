"""Today's ledger evaluator, day by day: the reference the faster ledger is held equal to.

This is `projections.core.ledger` as it was before it was computed over runs of days between
change points: every listed day asks every rule (`rules.evaluate_day`) and rule 10 spends units one
day at a time. Its output, day for day, is what the rules of shared/domain.md say with nothing
clever in between, so the tests hold the run-based ledger equal to it (tests/core/test_ledger_runs.py),
and the recompute micro-benchmark (benchmarks/ledger.py) imports it to time the old way against
the new one on the same episodes. It is not part of the package: nothing in it ships.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from itertools import pairwise

from events import Event
from projections.core.claim_lines import S9363, ClaimLine
from projections.core.claim_lines import per_diem_lines as per_diem_lines_of_runs
from projections.core.episode import establish_episodes
from projections.core.facts import Authorization, EpisodeFacts
from projections.core.history import read_history
from projections.core.ledger import (
    LedgerDay,
    LedgerRun,
    days_of,
    end_date,
    no_auth,
    outside_auth_period,
    settlement_order,
)
from projections.core.ledger import (
    settle_patient as settle_patient_in_runs,
)
from projections.core.rules import BILLABLE, Reason, evaluate_day
from projections.core.worklist import billable_days_by_authorization as billable_days_of_runs


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


def settle_patient(episodes: Iterable[EpisodeFacts], through: date) -> dict[str, list[LedgerDay]]:
    """The ledgers of one patient's episodes: one unit per patient per day (rule 9)."""
    billed: set[date] = set()
    ledgers = {}
    for facts in settlement_order(episodes):
        days = ledger_days(facts, through, billed)
        billed.update(day.date for day in days if day.billable)
        ledgers[facts.episode_id] = days
    return ledgers


# --- what the old code read from a ledger day by day ---------------------------------------------------


def per_diem_lines(days: Sequence[LedgerDay]) -> list[ClaimLine]:
    """Consecutive billable days sharing one authorization form one line, never crossing a month."""
    lines: list[ClaimLine] = []
    for day in days:
        if not day.billable:
            continue
        last = lines[-1] if lines else None
        if (
            last is not None
            and last.authorization == day.authorization
            and last.to_date + timedelta(days=1) == day.date
            and (last.to_date.year, last.to_date.month) == (day.date.year, day.date.month)
        ):
            lines[-1] = ClaimLine(S9363, last.from_date, day.date, last.units + 1, last.authorization)
        else:
            lines.append(ClaimLine(S9363, day.date, day.date, 1, day.authorization))
    return lines


def billable_days_by_authorization(days: Iterable[LedgerDay]) -> dict[str, list[date]]:
    """The billable days of a ledger, by the S9363 authorization that pays for each, in date order."""
    by_auth: dict[str, list[date]] = {}
    for day in days:
        if day.billable and day.authorization is not None:
            by_auth.setdefault(day.authorization, []).append(day.date)
    return by_auth


# --- the check: the ledger by runs equals this one -------------------------------------------------------


def check_facts(episodes: Sequence[EpisodeFacts], throughs: Iterable[date]) -> None:
    """One patient's episodes: the ledger by runs is this one, through each day, day for day,
    and so are the S9363 lines and the billable days of each authorization read from it."""
    for through in throughs:
        runs = settle_patient_in_runs(episodes, through)
        expected = settle_patient(episodes, through)
        assert set(runs) == set(expected)
        for episode_id, days in expected.items():
            found = runs[episode_id]
            assert days_of(found) == days, (episode_id, through)
            assert_canonical(found)
            assert per_diem_lines_of_runs(found) == per_diem_lines(days), (episode_id, through)
            assert billable_days_of_runs(found) == billable_days_by_authorization(days)


def assert_canonical(runs: Sequence[LedgerRun]) -> None:
    """Runs follow each other day after day, and two that follow each other never say the same."""
    for before, after in pairwise(runs):
        assert before.first <= before.last and after.first == before.last + 1
        assert (before.reason, before.authorization) != (after.reason, after.authorization)


def check_groups(groups: Iterable[Mapping[str, Iterable[Event]]], throughs: Iterable[date]) -> None:
    """Each patient's episodes (episode_id -> events), through each day."""
    wanted = list(throughs)
    for group in groups:
        _, facts_of = establish_episodes(group)
        check_facts(list(facts_of.values()), wanted)


def check_history(
    lines: Iterable[str | bytes], throughs: Iterable[date], as_of: datetime | None = None
) -> None:
    """Every patient's ledgers of a history (lines in the contract), through each day."""
    history = read_history(list(lines), as_of)
    groups = [
        {episode_id: history.events_of(episode_id) for episode_id in episode_ids}
        for episode_ids in history.episodes_by_patient().values()
    ]
    check_groups(groups, throughs)
