"""Claims benchmark: a 20,000-episode month's claims offline, and its 837P.

A generated history (benchmarks/generate.py, 20,000 episodes starting within 30 days, so that
nearly every one bills in the month) is written to a file; then, as `carecoord claims HISTORY
--period P --json` does (one process, no server):
- claims: every episode's claim for the period (`claims_of_history`, `patient_period_claims`
  patient by patient), claims per second of wall time, reading the file included;
- 837P: one interchange for all of them (`write_837p`, with made-up subscribers as the referrals
  service would decrypt them), seconds, and the peak of memory allocated while writing it
  (tracemalloc, in a second run: it slows the first).
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from benchmarks.generate import history
from benchmarks.results import record
from carecoord.commands.claims import claims_of_history
from projections.core.claim_actions import Action, Month, PeriodClaim
from projections.core.x12_837p import (
    Address,
    BillingProvider,
    ClaimToSend,
    FeeSchedules,
    Interchange,
    Referral,
    Subscriber,
    write_837p,
)
from projections.replay import read_history_file

EPISODES = 20_000
EVENTS_PER_EPISODE = 40
SPREAD_DAYS = 30
PERIOD = Month(2026, 2)  # generated episodes start from 2026-01-05 on: February has most of them

PROVIDER = BillingProvider(
    "NORTHSTAR HOME INFUSION", "1234567893", "123456789",
    Address("1 PHARMACY WAY", "FARGO", "ND", "581021234"), "BILLING OFFICE", "7015550100", "3336H0001X",
)  # fmt: skip
FEES = FeeSchedules(
    default={code: Decimal(price) for code, price in
             {"S9363": "55.50", "99601": "180", "99602": "90", "J0475": "12.34"}.items()}
)  # fmt: skip


def _to_send(claims: list[PeriodClaim]) -> list[ClaimToSend]:
    referral = Referral("AETNA", "PPO", "M123456", "1234567893", "Dr. Ana Rivera", ("G35",))
    subscriber = Subscriber("DOE", "JANE", date(1961, 7, 14), Address("12 MAIN ST", "FARGO", "ND", "58102"))
    return [ClaimToSend(claim, claim.next_claim_id(), referral, subscriber) for claim in claims]


def _interchange() -> Interchange:
    return Interchange(
        "NORTHSTAR", "CLEARHOUSE", "CLEARING HOUSE INC", 1, 1, datetime(2026, 3, 2, tzinfo=UTC)
    )


def measure(workdir: Path) -> dict[str, float]:
    path = workdir / "claims-history.jsonl"
    with path.open("w") as out:
        for line in history(EPISODES * EVENTS_PER_EPISODE, EPISODES, spread=SPREAD_DAYS):
            out.write(line + "\n")
    started = time.perf_counter()
    listed = [claim for claim, _ in claims_of_history(read_history_file(path), PERIOD, None, explain=False)]
    claims_seconds = time.perf_counter() - started
    to_send = _to_send([claim for claim in listed if claim.action is not Action.NONE])
    started = time.perf_counter()
    text = write_837p(to_send, PROVIDER, _interchange(), FEES)
    x12_seconds = time.perf_counter() - started
    tracemalloc.start()
    write_837p(to_send, PROVIDER, _interchange(), FEES)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    path.unlink()
    return {
        "claims": len(listed),
        "claims_per_second": len(listed) / claims_seconds,
        "claims_seconds": claims_seconds,
        "x12_claims": len(to_send),
        "x12_seconds": x12_seconds,
        "x12_peak_mb": peak / 2**20,
        "x12_mb": len(text) / 2**20,
    }


def run(workdir: Path) -> None:
    figures = measure(workdir)
    context = {"episodes": EPISODES, "period": str(PERIOD), "claims": int(figures["claims"])}
    record("claims.offline_claims_per_second", figures["claims_per_second"], "claims/s",
           seconds=round(figures["claims_seconds"], 1), **context)  # fmt: skip
    x12 = {**context, "claims_in_file": int(figures["x12_claims"]), "file_mb": round(figures["x12_mb"], 1)}
    record("claims.x12_837p_seconds", figures["x12_seconds"], "s", **x12)
    record("claims.x12_837p_peak_memory_mb", figures["x12_peak_mb"], "MB", how="tracemalloc peak", **x12)


if __name__ == "__main__":
    run(Path("var/bench"))
