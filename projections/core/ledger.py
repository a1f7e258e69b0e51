"""The daily per-diem ledger: every listed day of an episode, billable or not, with its reason.

Every rule of shared/domain.md is constant between the dates on which something happens (a
delivery begins or runs out, a visit, a stay or a hold begins or ends, an authorization begins or
ends, an order changes, an assessment): `rules.change_points` names them. So the ledger is
computed over runs of days between those dates: rules 1 to 9 are asked once per run, about its
first day, and a run's answer holds for each of its days.

Rule 10 (authorization) spends units: days are taken in date order, and only billable days use
units. Inside a run the same authorizations hold every day (their first and last days are change
points), so the run's days go to the first of them (earliest start date, then smallest number)
until its units are spent, then to the next, and the days left when none has units are
AUTH_UNITS_EXHAUSTED: what taking the days one by one would give. Rule 9 (duplicate day) needs
the patient's other episodes, so `settle_patient` settles them one after another, the earliest
start of care first.

tests/support/day_by_day.py keeps the evaluator this replaced, day by day; the tests hold the two
equal on every example and on generated histories.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from projections.core.facts import Authorization, EpisodeFacts
from projections.core.rules import BILLABLE, Reason, change_points, evaluate_day


@dataclass(frozen=True, slots=True)
class LedgerDay:
    date: date
    reason: Reason
    authorization: str | None = None  # the S9363 authorization whose unit pays for a billable day

    @property
    def billable(self) -> bool:
        return self.reason == BILLABLE


@dataclass(frozen=True, slots=True)
class LedgerRun:
    """Consecutive days, `first` through `last`, that share one reason and one authorization.

    Ordinals, so that a run may end on the calendar's last day and arithmetic never leaves it.
    """

    first: int
    last: int
    reason: Reason
    authorization: str | None = None

    @property
    def billable(self) -> bool:
        return self.reason == BILLABLE

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def days(self) -> Iterator[LedgerDay]:
        reason, authorization = self.reason, self.authorization
        for ordinal in range(self.first, self.last + 1):
            yield LedgerDay(date.fromordinal(ordinal), reason, authorization)


Ledger = Sequence[LedgerRun]  # one episode's runs, in date order, adjacent runs never alike


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

    def auth_units_exhausted(self, first: int, last: int) -> Iterator[LedgerRun]:
        """Every authorization whose period holds D has already given all its units to earlier days.

        Otherwise the one that takes the day: the earliest start date (then the smallest number)
        among those holding D that still have units. For the days `first` through `last` of a run,
        which the same authorizations hold: the billable runs they pay for, in date order, then
        the days left, exhausted.
        """
        day = date.fromordinal(first)
        for auth in self.authorizations:
            if day < auth.start_date or auth.end_date < day:
                continue
            taken = min(self.remaining[auth.auth_number], last - first + 1)
            if taken:
                self.remaining[auth.auth_number] -= taken
                yield LedgerRun(first, first + taken - 1, BILLABLE, auth.auth_number)
                first += taken
                if first > last:
                    return
        yield LedgerRun(first, last, Reason.AUTH_UNITS_EXHAUSTED)

    def take(self, first: int, last: int) -> Iterator[LedgerRun]:
        """Rule 10 for a run of days that passed rules 1 to 9."""
        if no_auth(self.authorizations):
            yield LedgerRun(first, last, Reason.NO_AUTH)
        elif outside_auth_period(self.authorizations, date.fromordinal(first)):
            yield LedgerRun(first, last, Reason.OUTSIDE_AUTH_PERIOD)
        else:
            yield from self.auth_units_exhausted(first, last)


def end_date(facts: EpisodeFacts, through: date) -> date:
    """The last listed day: the discontinuation date or `through`, whichever is earlier."""
    if facts.discontinued_on is not None and facts.discontinued_on < through:
        return facts.discontinued_on
    return through


def runs_between(first: int, last: int, cuts: Iterable[int]) -> Iterator[tuple[int, int]]:
    """[first, last] split before every cut inside it."""
    start = first
    for cut in sorted({cut for cut in cuts if first < cut <= last}):
        yield start, cut - 1
        start = cut
    yield start, last


def ledger_runs(facts: EpisodeFacts, through: date, billed_elsewhere: BilledDays) -> list[LedgerRun]:
    """Every day from acceptance through the end date, as runs; none for a declined or never
    accepted episode."""
    if facts.declined or facts.accepted_on is None:
        return []
    first, last = facts.accepted_on.toordinal(), end_date(facts, through).toordinal()
    if first > last:
        return []
    units = AuthorizationUnits(facts.authorizations)
    cuts = change_points(facts, billed_elsewhere.edges)
    runs: list[LedgerRun] = []
    for start, end in runs_between(first, last, cuts):
        reason = evaluate_day(facts, date.fromordinal(start), billed_elsewhere)
        found = units.take(start, end) if reason == BILLABLE else (LedgerRun(start, end, reason),)
        for run in found:
            previous = runs[-1] if runs else None
            if previous and (previous.reason, previous.authorization) == (run.reason, run.authorization):
                runs[-1] = LedgerRun(previous.first, run.last, run.reason, run.authorization)
            else:
                runs.append(run)
    return runs


class BilledDays(Collection[date]):
    """The days a patient's episodes settled so far bill (rule 9), kept as runs of ordinals."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, int]] = []  # sorted, disjoint
        self.edges: list[int] = []  # where billing by the others starts or stops: first, last + 1

    def add(self, runs: Iterable[LedgerRun]) -> None:
        added = [(run.first, run.last) for run in runs if run.billable]
        if not added:
            return
        merged: list[tuple[int, int]] = []
        for first, last in sorted(self.runs + added):
            if merged and first <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], last))
            else:
                merged.append((first, last))
        self.runs = merged
        self.edges = [edge for first, last in merged for edge in (first, last + 1)]

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        ordinal = day.toordinal()
        return any(first <= ordinal <= last for first, last in self.runs)

    def __iter__(self) -> Iterator[date]:
        for first, last in self.runs:
            for ordinal in range(first, last + 1):
                yield date.fromordinal(ordinal)

    def __len__(self) -> int:
        return sum(last - first + 1 for first, last in self.runs)


def settlement_order(episodes: Iterable[EpisodeFacts]) -> list[EpisodeFacts]:
    """A patient's episodes in the order they keep days: earlier start of care first, then episode_id.

    An episode without a start of care bills no day, so its place does not matter: it goes last.
    """
    return sorted(
        episodes, key=lambda f: (f.start_of_care is None, f.start_of_care or date.min, f.episode_id)
    )


def settle_patient(episodes: Iterable[EpisodeFacts], through: date) -> dict[str, list[LedgerRun]]:
    """The ledgers of one patient's episodes, as runs: one unit per patient per day (rule 9)."""
    billed = BilledDays()
    ledgers = {}
    for facts in settlement_order(episodes):
        runs = ledger_runs(facts, through, billed)
        billed.add(runs)
        ledgers[facts.episode_id] = runs
    return ledgers


# --- reading a ledger -----------------------------------------------------------------------------


def days_of(runs: Iterable[LedgerRun]) -> list[LedgerDay]:
    """The ledger day by day."""
    return [day for run in runs for day in run.days()]


def runs_through(runs: Sequence[LedgerRun], last: date) -> Sequence[LedgerRun]:
    """The runs of the days up to `last`: a ledger through a later day has the same runs up to
    there (no day's reason depends on the end date, and units are spent in date order)."""
    end = last.toordinal()
    if not runs or runs[-1].last <= end:
        return runs
    kept = [run for run in runs if run.first <= end]
    if kept and kept[-1].last > end:
        cut = kept[-1]
        kept[-1] = LedgerRun(cut.first, end, cut.reason, cut.authorization)
    return kept

