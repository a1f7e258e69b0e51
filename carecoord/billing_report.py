"""The billing report the demo ends with: the embedded projections follow the services' stores
into the read models, and the ledger of every episode is printed from them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

from carecoord.bootstrap import Services
from carecoord.config import private_file
from projections.readmodels import tables
from projections.readmodels.projector import Projector
from projections.readmodels.sqlite import SQLiteReadModelStore
from projections.readmodels.store import ReadModelStore


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
