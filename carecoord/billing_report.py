"""The billing report the demo ends with: the embedded projections follow the services' stores
into the read models, and the ledger of every episode is printed from them; then the month's
claims are submitted, a late report makes one wrong, and its replacement is submitted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, time
from pathlib import Path

from carecoord.api.readmodel import ReadSide
from carecoord.billing import submit_period_claim
from carecoord.bootstrap import Services
from carecoord.commands.claims import describe_changes
from carecoord.config import Settings, private_file
from projections.core.claim_actions import Action, Month, PeriodClaim
from projections.core.claim_lines import S9363
from projections.readmodels import tables
from projections.readmodels.projector import Projector
from projections.readmodels.sqlite import SQLiteReadModelStore
from projections.readmodels.store import ReadModelStore
from services.common.clock import use_clock


def project_embedded(services: Services, data_dir: Path, through: date) -> ReadModelStore:
    """Bring the embedded read models (SQLite in the data folder) up to date with the services."""
    store = SQLiteReadModelStore(private_file(data_dir / "projections.sqlite3"))
    Projector(store, list(services), lambda: through).catch_up()
    return store


def ledger_lines(store: ReadModelStore) -> Iterator[str]:
    """One line per episode: status, billable days and the count of each reason."""
    with store.transaction() as cursor:
        episodes = tables.episode_summaries(cursor)
    yield f"{'episode':<9} {'status':<13} {'start':<10} {'billable':>8}  reasons (days)"
    for e in episodes:
        counts = sorted(e.reasons.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{reason} {n}" for reason, n in counts) or "-"
        yield f"{e.episode_id:<9} {e.status:<13} {e.start_of_care or '-':<10} {e.billable_days:>8}  {shown}"


def episode_lines(store: ReadModelStore, episode_id: str) -> Iterator[str]:
    """One episode in full: its timeline and its claim lines."""
    with store.transaction() as cursor:
        timeline = tables.timeline(cursor, episode_id)
        lines = tables.episode_claim_lines(cursor, episode_id)
    yield f"timeline of {episode_id}:"
    for occurred_at, _, event_type, _, _, summary in timeline:
        yield f"  {occurred_at}  {event_type:<21} {summary}"
    yield f"claim lines of {episode_id}:"
    for code, from_date, to_date, units, authorization in lines:
        yield f"  {code:<6} {from_date} .. {to_date}  units {units:>3}  {authorization or ''}".rstrip()


def episode_with_stay(store: ReadModelStore) -> str | None:
    """The first episode whose ledger has an inpatient day, or, failing that, a hospital admission."""
    with store.transaction() as cursor:
        return tables.episode_with_stay(cursor)


def billing_report(services: Services, data_dir: Path, through: date) -> Iterator[str]:
    store = project_embedded(services, data_dir, through)
    try:
        yield f"S9363 ledger through {through} (read models in {data_dir / 'projections.sqlite3'}):"
        yield from ledger_lines(store)
        stay = episode_with_stay(store)
        if stay is not None:
            yield ""
            yield from episode_lines(store, stay)
    finally:
        store.close()


# --- the month's claims: submitted, made wrong by a late report, replaced ---------------------------

CLAIMS_PERIOD = Month(2026, 3)
SUBMITTED_ON = date(2026, 4, 2)
LATE_STAY = (date(2026, 3, 20), date(2026, 3, 24))  # a stay in the month, reported in April
REPORTED_AT = datetime(2026, 4, 6, 14, 0, tzinfo=UTC)
REPLACED_ON = date(2026, 4, 7)


def _at(moment: datetime) -> AbstractContextManager[None]:
    return use_clock(lambda: moment)


def claims_story(services: Services, data_dir: Path, through: date) -> Iterator[str]:
    """The biller submits the month's claims; a hospital stay is then reported late; the claim it
    made wrong is shown with why, and its replacement submitted (carecoord/billing.py, as
    `POST /claims/{episode_id}/submit` does)."""
    read_side = ReadSide(Settings.embedded(data_dir), list(services), inline=True, today=lambda: through)
    try:
        read_side.catch_up()
        period = CLAIMS_PERIOD
        claims = read_side.period_claims(period)
        yield f"claims for {period}: " + ", ".join(
            f"{action} {sum(1 for c in claims if c.action == action)}" for action in Action
        )
        submitted = []
        with _at(datetime.combine(SUBMITTED_ON, time(9), UTC)):
            for claim in claims:
                if claim.action is not Action.NONE:
                    submitted.append(
                        submit_period_claim(
                            read_side, services.claims, claim.episode_id, period, SUBMITTED_ON
                        )[1]
                    )
        units = sum(line.units for data in submitted for line in data.lines if line.code == S9363)
        yield f"  submitted on {SUBMITTED_ON}: {len(submitted)} original claims, {units} S9363 units"
        episode_id = _stayed_at_home(claims)
        admitted, discharged = LATE_STAY
        with _at(REPORTED_AT):
            services.complications.admit_to_hospital(
                episode_id, admitted_on=admitted, occurred_at=datetime.combine(admitted, time(22), UTC)
            )
            services.complications.discharge_from_hospital(
                episode_id, discharged_on=discharged, occurred_at=datetime.combine(discharged, time(15), UTC)
            )
        stay = f"{episode_id} was in hospital from {admitted} to {discharged}"
        yield f"  reported on {REPORTED_AT.date()}: {stay}"
        read_side.catch_up()
        wrong = [c for c in read_side.period_claims(period) if c.action is not Action.NONE]
        changes = read_side.claim_changes(wrong)
        for claim in wrong:
            yield f"  {claim.episode_id}: {claim.action} {claim.replaces}"
            found = changes.get(claim.episode_id)
            if found is not None:
                yield f"    since it was sent: {describe_changes(found.since_sent)}"
                for step in found.steps:
                    events = ", ".join(f"{e.event_type} {e.event_id}" for e in step.events)
                    yield f"    recorded {step.recorded_at}: {events}: {describe_changes(step.changes)}"
            with _at(datetime.combine(REPLACED_ON, time(9), UTC)):
                _, data = submit_period_claim(
                    read_side, services.claims, claim.episode_id, period, REPLACED_ON
                )
            yield f"  submitted on {REPLACED_ON}: {data.frequency} {data.claim_id} of {data.replaces}:"
            for line in data.lines:
                auth = f"  auth {line.authorization}" if line.authorization else ""
                yield f"    {line.code:<6} {line.from_date} .. {line.to_date}  units {line.units:>3}{auth}"
        read_side.catch_up()
        now = read_side.period_claims(period)
        yield f"claims for {period} now: " + ", ".join(
            f"{action} {sum(1 for c in now if c.action == action)}" for action in Action
        )
    finally:
        read_side.close()


def _stayed_at_home(claims: Sequence[PeriodClaim]) -> str:
    """An episode billed every day of the late stay: the one whose claim the stay makes wrong."""
    admitted, discharged = LATE_STAY
    for claim in claims:
        if any(
            line.code == S9363 and line.from_date <= admitted and discharged <= line.to_date
            for line in claim.lines
        ):
            return claim.episode_id
    raise LookupError(f"no episode billed every day from {admitted} to {discharged}")
