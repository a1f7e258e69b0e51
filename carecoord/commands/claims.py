"""`carecoord claims [HISTORY.jsonl] --period YYYY-MM [--through DATE] [--as-of T] [--json] [--x12 OUT]`:
the biller's list of the period's claims (shared/claims.md): what to submit, and why a sent claim
is wrong.

The claims come from a history file (`claims_of_history`) or, without one, from the live stores:
the claims read model, as `GET /claims?period=` reads it (`claims_of_live_stores`). `--x12 OUT`
(live stores only: the subscribers' demographics are the referrals service's) writes the period's
837P for its NEW, REPLACE and VOID claims, as `GET /claims/837p` does.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from carecoord.commands._history_options import add_history_arguments, calendar_month, cannot_read, iso_date

if TYPE_CHECKING:
    from projections.core.claim_actions import Month, PeriodClaim
    from projections.core.claim_changes import ClaimChanges, LineChanges
    from projections.core.claim_lines import ClaimLine
    from projections.core.history import History, Rejected

# A claim as listed, with why it must be replaced or voided (None for NEW and NONE, or unasked).
Listed = tuple["PeriodClaim", "ClaimChanges | None"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_history_arguments(parser, optional=True)
    parser.add_argument(
        "--period", type=calendar_month, required=True, metavar="YYYY-MM", help="the calendar month billed"
    )
    parser.add_argument(
        "--through",
        type=iso_date,
        metavar="YYYY-MM-DD",
        help="compute the current lines through this day when it is before the period's last day",
    )
    parser.add_argument(
        "--x12",
        metavar="OUT",
        help="write the period's 837P (NEW, REPLACE and VOID claims) to OUT; needs the live stores "
        "(no history file) and CARECOORD_BILLING_CONFIG",
    )


def run(args: argparse.Namespace) -> int:
    from events import instant
    from projections.replay import read_history_file

    as_of = instant(args.as_of) if args.as_of else None
    if args.x12 is not None:
        if args.history is not None or args.as_of or args.through:
            fail("--x12 writes the live stores' claims: give no history file, --as-of or --through")
            return 2
        return write_x12(args.period, args.x12)
    rejected: Sequence[Rejected] = []
    if args.history is None:
        from carecoord.config import ConfigError

        try:
            listed = claims_of_live_stores(args.period, args.through, as_of, explain=not args.json)
        except ConfigError as error:
            fail(str(error))
            return 2
    else:
        try:
            history = read_history_file(args.history, as_of)
        except OSError as error:
            return cannot_read("claims", args.history, error)
        listed = list(claims_of_history(history, args.period, args.through, explain=not args.json))
        rejected = history.rejected
    listed.sort(key=lambda item: item[0].episode_id)
    if args.json:
        document = claims_document(args.period, args.as_of, [claim for claim, _ in listed], rejected)
        print(json.dumps(document, indent=1))
    else:
        print_report(args.period, args.through, args.as_of, listed, rejected)
    return 0


def fail(message: str) -> None:
    print(f"carecoord claims: {message}", file=sys.stderr)


def claims_of_live_stores(
    period: Month, through: date | None, as_of: datetime | None, *, explain: bool
) -> list[Listed]:
    """Every listed claim from the live stores (their dead letters are GET /dead-letters')."""
    from carecoord.config import Settings
    from carecoord.live import live_read_side

    with live_read_side(Settings.from_env()) as read_side:
        claims = read_side.period_claims(period, as_of=as_of, through=through)
        changes = read_side.claim_changes(claims, as_of, through) if explain else {}
    return [(claim, changes.get(claim.episode_id)) for claim in claims]


def write_x12(period: Month, out: str) -> int:
    """The period's 837P from the live stores to `out` (created readable by its owner only: it
    holds the patients' names, birth dates and addresses)."""
    import os

    from carecoord.api.db import api_database
    from carecoord.billing import TO_SEND, ClaimsFileError, ControlNumbers, period_837p
    from carecoord.billing_config import load_billing_config
    from carecoord.bootstrap import referrals_application
    from carecoord.config import BILLING_CONFIG_ENV, ConfigError, Settings, billing_config_path
    from carecoord.live import live_read_side, require_recorded
    from projections.core.x12_837p import NoClaimToSend
    from runtime.clock import utc_datetime

    path = billing_config_path()
    if path is None:
        fail(f"--x12 needs the billing configuration: set {BILLING_CONFIG_ENV}")
        return 2
    settings = Settings.from_env()
    try:
        require_recorded(settings)
        config = load_billing_config(path)
        db = api_database(settings)
        referrals = referrals_application(settings)
    except ConfigError as error:
        fail(str(error))
        return 2
    try:
        with live_read_side(settings) as read_side:
            claims = read_side.period_claims(period, TO_SEND)
            referral_events = read_side.referral_events(claim.episode_id for claim in claims)
        text = period_837p(claims, referral_events, referrals, config, ControlNumbers(db), utc_datetime())
    except NoClaimToSend:
        fail(f"no NEW, REPLACE or VOID claim for {period}: no 837P written")
        return 1
    except ClaimsFileError as error:
        fail(f"cannot write the 837P: {error}")
        return 1
    finally:
        referrals.close()
        db.close()
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    print(f"carecoord claims: wrote the 837P of {period} ({len(claims)} claims) to {out}")
    return 0


def claims_of_history(
    history: History, period: Month, through: date | None, *, explain: bool
) -> Iterator[Listed]:
    """Every listed claim of the history, patient by patient (each patient's lines parsed once)."""
    from projections.core.claim_actions import patient_period_claims
    from projections.core.claim_changes import claim_changes

    for episode_ids in history.episodes_by_patient().values():
        episodes = {episode_id: history.events_of(episode_id) for episode_id in episode_ids}
        for claim in patient_period_claims(episodes, period, through):
            yield claim, claim_changes(episodes, claim, through) if explain else None


def claims_document(
    period: Month, as_of: str | None, claims: Sequence[PeriodClaim], rejected: Sequence[Rejected]
) -> dict[str, Any]:
    """The whole `carecoord claims --json` document; `claims` in episode_id order."""
    from projections.core.claim_actions import claim_document
    from projections.core.documents import rejected_document

    return {
        "period": str(period),
        "as_of": as_of,
        "claims": [claim_document(claim) for claim in claims],
        "rejected": [rejected_document(item) for item in rejected],
    }


# --- the readable report ----------------------------------------------------------------------------


def print_report(
    period: Month,
    through: date | None,
    as_of: str | None,
    listed: Sequence[Listed],
    rejected: Sequence[Rejected],
) -> None:
    from projections.core.claim_actions import Action, settlement_date

    print(
        f"Claims for {period}, lines through {settlement_date(period, through)}"
        + (f", as of {as_of}" if as_of else "")
    )
    actions = Counter(str(claim.action) for claim, _ in listed)
    print(
        f"{len(listed)} episodes: "
        + ", ".join(f"{a} {actions[a]}" for a in ("NEW", "REPLACE", "VOID", "NONE"))
    )
    for claim, changes in listed:
        print()
        replaces = f" {claim.replaces}" if claim.replaces else ""
        print(f"{claim.episode_id}  patient {claim.patient_ref}  payer {claim.payer_id}", end="  ")
        print(f"{claim.action}{replaces}")
        if claim.action is Action.NONE:
            continue
        _print_lines("now ", claim.lines)
        _print_lines("sent", claim.submitted_lines)
        if changes is not None:
            print(
                f"  since {changes.claim_id} was recorded ({changes.claim_recorded_at}): "
                + describe_changes(changes.since_sent)
            )
            if not changes.sent_as_known:
                print("  (it was sent with other lines than were computable then)")
            for step in changes.steps:
                events = ", ".join(f"{e.event_type} {e.event_id}" for e in step.events)
                print(f"    {step.recorded_at}  {events}: {describe_changes(step.changes)}")
    if rejected:
        print()
        print(f"{len(rejected)} rejected lines:")
        for item in rejected:
            print(f"  line {item.line}: {item.error}")


def _print_lines(label: str, lines: Sequence[ClaimLine]) -> None:
    if not lines:
        print(f"  {label}  (no line)")
    for index, line in enumerate(lines):
        auth = f"  auth {line.authorization}" if line.authorization else ""
        print(
            f"  {label if index == 0 else '    '}  {line.code:<6} {line.from_date} .. {line.to_date}"
            f"  units {line.units:>3}{auth}"
        )


def describe_changes(changes: LineChanges) -> str:
    """The S9363 days and other lines that changed, for people."""
    from projections.core.claim_changes import day_ranges

    def ranges(days: Sequence[date]) -> str:
        return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in day_ranges(days))

    parts = []
    if changes.days_removed:
        parts.append(f"S9363 days removed {ranges(changes.days_removed)}")
    if changes.days_added:
        parts.append(f"S9363 days added {ranges(changes.days_added)}")
    if changes.days_reauthorized:
        parts.append(
            f"S9363 days under another authorization {ranges([r.day for r in changes.days_reauthorized])}"
        )
    others = [line for line in (*changes.lines_added, *changes.lines_removed) if line.code != "S9363"]
    if others:
        added = sum(1 for line in changes.lines_added if line.code != "S9363")
        parts.append(f"other lines {added} added, {len(others) - added} removed")
    return "; ".join(parts) or "no change"
