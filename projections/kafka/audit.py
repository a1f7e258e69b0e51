"""Rebuild and verify the live read models from the Kafka topics (`carecoord rebuild`, `verify`).

- rebuild: fold every service topic from offset zero (to the end offsets seen at the start) into
  fresh tables under a new prefix, then swap them in: in ONE PostgreSQL transaction the live tables
  are renamed away, the new ones take their names, and the old ones are dropped. A consumer that
  runs meanwhile waits for the swap, then finds the rebuilt positions: if it was ahead of them its
  next batch does not start at the stored position and it seeks back (see projections/kafka/subscriber.py).
- verify: fold the topics into scratch tables up to the live consumers' stored positions, compare
  each episode's digest with the live one, and drop the scratch tables. The live model of an
  episode was computed at its stored `through`; the scratch tables are built at one `through`
  (default today), and every live episode whose stored `through` differs is recomputed from the
  scratch events at its own `through` (with its patient's other episodes) before comparing. When the
  live consumers move on meanwhile, the scratch tables follow them to their new positions (a few
  rounds) so that both sides hold the same events; so too while live episodes are pending (a
  consumer catching up has stored their events but not yet recomputed them): their live rows are
  not what the live events give until it has.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from projections.core.records import record_patient
from projections.kafka.batch import CONSUMER
from projections.kafka.offset_zero import rebuild_from_offset_zero
from projections.readmodels.postgres import PostgresReadModelStore
from projections.readmodels.store import ReadModelStore
from projections.readmodels.tables import INDEXES, TABLES, episode_digest


def fresh_prefix(base: str, kind: str) -> str:
    return f"{base.rstrip('_')}_{kind}_{uuid.uuid4().hex[:8]}_"


def index_names(prefix: str) -> list[str]:
    return [f"{prefix}{index}" for index in INDEXES]


def swap_in(url: str, live_prefix: str, new_prefix: str) -> None:
    """Replace the live tables with the rebuilt ones in one transaction; drop the old ones."""
    store = PostgresReadModelStore(url, live_prefix)
    store.create_tables()  # so there is something to rename even on a first run
    old_prefix = fresh_prefix(live_prefix, "old")
    try:
        with store.transaction() as cursor:
            tables = ", ".join(f"{live_prefix}{t}" for t in TABLES)
            cursor.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
            for table in TABLES:
                cursor.execute(f"ALTER TABLE {live_prefix}{table} RENAME TO {old_prefix}{table}")
            for live, old in zip(index_names(live_prefix), index_names(old_prefix), strict=True):
                cursor.execute(f"ALTER INDEX IF EXISTS {live} RENAME TO {old}")
            for table in TABLES:
                cursor.execute(f"ALTER TABLE {new_prefix}{table} RENAME TO {live_prefix}{table}")
            for new, live in zip(index_names(new_prefix), index_names(live_prefix), strict=True):
                cursor.execute(f"ALTER INDEX IF EXISTS {new} RENAME TO {live}")
            for table in TABLES:
                cursor.execute(f"DROP TABLE {old_prefix}{table}")
    finally:
        store.close()


def rebuild(
    url: str, bootstrap: str, topics: Sequence[str], live_prefix: str, through: date
) -> dict[str, int]:
    """`carecoord rebuild`: from offset zero into new tables, then swapped in. Returns the offsets."""
    new_prefix = fresh_prefix(live_prefix, "rebuild")
    scratch = PostgresReadModelStore(url, new_prefix)
    try:
        targets = asyncio.run(rebuild_from_offset_zero(scratch, bootstrap, topics, through))
        scratch.close()
        swap_in(url, live_prefix, new_prefix)
    except BaseException:
        scratch.drop_tables()
        raise
    finally:
        scratch.close()
    return targets


@dataclass(frozen=True, slots=True)
class Mismatch:
    episode_id: str
    live: str | None
    rebuilt: str | None


def expected_digests(scratch: ReadModelStore, wanted: dict[str, date], built_at: date) -> dict[str, str]:
    """The digest of each wanted episode as rebuilt, computed at the `through` given for it."""
    digests = scratch.digests()
    result = {e: digests[e] for e, through in wanted.items() if through == built_at and e in digests}
    others: dict[date, set[str]] = {}
    for episode_id, through in wanted.items():
        if through != built_at:
            others.setdefault(through, set()).add(episode_id)
    for through, episode_ids in sorted(others.items()):
        with scratch.transaction() as cursor:
            groups = scratch.patient_groups(cursor, scratch.patients_of(cursor, episode_ids))
        for episodes in groups.values():
            for record in record_patient(episodes, through):
                if record.episode_id in episode_ids:
                    result[record.episode_id] = episode_digest(record)
    return result


def live_snapshot(
    live: ReadModelStore,
) -> tuple[dict[str, tuple[str, date]], dict[str, int], set[str]]:
    """Digests (with their through), positions and pending episodes of the live tables, read at
    one instant."""
    state = live.live_state(CONSUMER)
    return state.episodes, state.positions, state.pending


def verify(
    url: str, bootstrap: str, topics: Sequence[str], live_prefix: str, through: date, rounds: int = 5
) -> list[Mismatch]:
    """`carecoord verify`: the episodes whose live digest differs from a rebuild's."""
    live = PostgresReadModelStore(url, live_prefix)
    live.create_tables()
    scratch = PostgresReadModelStore(url, fresh_prefix(live_prefix, "verify"))
    try:
        episodes, positions, pending = live_snapshot(live)
        for attempt in range(rounds):
            asyncio.run(
                rebuild_from_offset_zero(scratch, bootstrap, topics, through, targets=positions, resume=True)
            )
            episodes, now, pending = live_snapshot(live)
            if (now == positions and not pending) or attempt == rounds - 1:
                break
            if pending:
                time.sleep(1)  # a live consumer is recomputing them; compare once it has
            positions = now  # the live consumers moved on: follow them
        wanted = {e: t for e, (_, t) in episodes.items()}
        expected = expected_digests(scratch, wanted, through)
        rebuilt_only = set(scratch.digests()) - set(episodes)
        mismatches = [
            Mismatch(e, digest, expected.get(e))
            for e, (digest, _) in sorted(episodes.items())
            if expected.get(e) != digest
        ]
        mismatches.extend(Mismatch(e, None, scratch.digests()[e]) for e in sorted(rebuilt_only))
        return mismatches
    finally:
        scratch.drop_tables()
        scratch.close()
        live.close()
