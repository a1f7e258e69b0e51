"""The biller's live operations: submit the claim a period's action calls for, write the 837P.

`submit_period_claim` is what `POST /claims/{episode_id}/submit` and the demo do: the episode's
claim for the period computed now from its patient's stored events, the `ClaimSubmitted` its
action calls for (`claim_to_submit`), recorded by the claims service.

`GET /claims/837p?period=` and `carecoord claims --period P --x12 OUT` both call `period_837p`:
the period's NEW, REPLACE and VOID claims from the claims read model, each episode's referral
from its stored events, the billing provider and fee schedules from the billing configuration,
the next interchange control number, and the subscriber's name, birth date and address decrypted
by the referrals service. The demographics live only in this call's memory and in the text it
returns: never stored, logged, put in a read model or sent to Kafka. Errors name the episode or
the patient_ref, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from carecoord.billing_config import BillingConfig
from events import ClaimSubmitted, Event
from projections.core.claim_actions import Action, Month, NothingToSubmit, PeriodClaim, claim_to_submit
from projections.core.x12_837p import (
    ClaimToSend,
    Interchange,
    NoClaimToSend,
    Subscriber,
    referral_of,
    subscriber_of,
    write_837p,
)
from projections.readmodels.datastore import Datastore
from services.claims.application import ClaimsApplication
from services.common.errors import NotFound
from services.referrals.application import ReferralsApplication

if TYPE_CHECKING:
    from carecoord.api.readmodel import ReadSide

TO_SEND = (str(Action.NEW), str(Action.REPLACE), str(Action.VOID))
CONTROL_TABLE = "api_x12_control_numbers"
LAST_CONTROL_NUMBER = 999_999_999  # ISA13 has nine digits; after it the count starts again at 1


def submit_period_claim(
    read_side: ReadSide,
    claims: ClaimsApplication,
    episode_id: str,
    period: Month,
    submitted_on: date,
    occurred_at: datetime | None = None,
) -> tuple[PeriodClaim, ClaimSubmitted]:
    """Record the claim the episode's action for the period calls for: an original for NEW, a
    replacement of the standing claim for REPLACE, a void of it for VOID, with the current lines.
    Returns the claim as it stood and what was recorded. LookupError: an unknown episode;
    NothingToSubmit: NONE; a DomainError from the claims service when it refuses."""
    read_side.catch_up()
    claim = read_side.episode_period_claim(episode_id, period)
    if claim is None:
        raise NothingToSubmit(f"{episode_id}: nothing to bill for {period} and no claim sent")
    data = claim_to_submit(claim, submitted_on)
    claims.submit_claim(
        episode_id,
        claim_id=data.claim_id,
        period=data.period,
        frequency=data.frequency,
        submitted_on=data.submitted_on,
        lines=[line.model_dump(by_alias=True) for line in data.lines],
        replaces=data.replaces,
        occurred_at=occurred_at,
    )
    read_side.notify()
    return claim, data


class ClaimsFileError(ValueError):
    """The 837P cannot be written: what is missing, naming the episode or patient_ref."""


class ControlNumbers:
    """Interchange control numbers, one count per sender id, kept in the API's database: ISA13
    must differ from every earlier interchange the receiver got from this sender."""

    def __init__(self, db: Datastore) -> None:
        self.db = db
        with self.db.transaction() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {CONTROL_TABLE} (sender TEXT PRIMARY KEY, last BIGINT NOT NULL)"
            )

    def next(self, sender: str) -> int:
        with self.db.transaction() as cursor:
            cursor.execute(
                f"INSERT INTO {CONTROL_TABLE} (sender, last) VALUES (?, 1) ON CONFLICT (sender) DO UPDATE "
                # No `%` for the modulo: it is psycopg's placeholder.
                f"SET last = CASE WHEN {CONTROL_TABLE}.last >= {LAST_CONTROL_NUMBER} THEN 1 "
                f"ELSE {CONTROL_TABLE}.last + 1 END RETURNING last",
                (sender,),
            )
            return int(cursor.fetchall()[0][0])


def subscribers(referrals: ReferralsApplication, patient_refs: Sequence[str]) -> dict[str, Subscriber]:
    """Each patient's subscriber fields, decrypted by the referrals service for this file only."""
    found = {}
    for patient_ref in sorted(set(patient_refs)):
        try:
            details = referrals.patient_details(patient_ref)
            found[patient_ref] = subscriber_of(details.name, details.birth_date, details.address)
        except NotFound:
            missing = f"patient {patient_ref}: no demographics in the referrals service"
            raise ClaimsFileError(missing) from None
        except ValueError as error:  # its message names the field, never the value
            raise ClaimsFileError(f"patient {patient_ref}: {error}") from None
    return found


def claims_to_send(
    claims: Sequence[PeriodClaim], referral_events: Mapping[str, list[Event]], referrals: ReferralsApplication
) -> list[ClaimToSend]:
    """The claims with what the 837P takes from each referral and patient; CLM01 is the claim_id
    the submission of the claim will record (`next_claim_id`)."""
    people = subscribers(referrals, [claim.patient_ref for claim in claims])
    to_send = []
    for claim in claims:
        referral = referral_of(referral_events.get(claim.episode_id, []))
        if referral is None:
            raise ClaimsFileError(f"{claim.episode_id}: its referral is not stored")
        to_send.append(ClaimToSend(claim, claim.next_claim_id(), referral, people[claim.patient_ref]))
    return to_send


def period_837p(
    claims: Sequence[PeriodClaim],
    referral_events: Mapping[str, list[Event]],
    referrals: ReferralsApplication,
    config: BillingConfig,
    control: ControlNumbers,
    created_at: datetime,
) -> str:
    """One 837P interchange for the period's claims to send (NEW, REPLACE, VOID; others are left
    out). ClaimsFileError when a claim's data cannot be written (and NoClaimToSend, a ValueError,
    when none is left)."""
    sending = [claim for claim in claims if str(claim.action) in TO_SEND]
    if not sending:
        raise NoClaimToSend("no NEW, REPLACE or VOID claim to send")
    to_send = claims_to_send(sending, referral_events, referrals)
    number = control.next(config.sender_id)
    interchange = Interchange(
        sender_id=config.sender_id,
        receiver_id=config.receiver_id,
        receiver_name=config.receiver_name,
        interchange_control_number=number,
        group_control_number=number,
        created_at=created_at,
        production=config.production,
    )
    try:
        return write_837p(to_send, config.provider, interchange, config.fees, config.payers)
    except ValueError as error:  # a claim_id, code, fee or referral field: no patient's details
        raise ClaimsFileError(str(error)) from None
