"""The live read models' records of a history, as the write path computes them, for comparing digests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from projections.core.history import read_history
from projections.core.records import EpisodeRecord, record_patient
from projections.readmodels.sections import episode_digest


def history_records(lines: Iterable[str], through: date) -> list[EpisodeRecord]:
    """Every episode with its referral, patient by patient, by episode_id."""
    history = read_history(lines)
    records = [
        record
        for episode_ids in history.episodes_by_patient().values()
        for record in record_patient({e: history.events_of(e) for e in episode_ids}, through)
    ]
    return sorted(records, key=lambda record: record.episode_id)


def history_digests(lines: Iterable[str], through: date) -> dict[str, str]:
    return {record.episode_id: episode_digest(record) for record in history_records(lines, through)}
