"""The referrals service: referrals received, accepted or declined; authorizations; orders; discontinuing.

Every command loads the episode, asks it to act, and saves; a refused command raises a
`DomainError` and stores nothing. All stored events of this service are encrypted at rest.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from events import Order, Payer, Prescriber
from events.models import DiscontinuationReason, Source
from services.common.application import ServiceApplication
from services.common.errors import AlreadyRecorded, EpisodeUnknown, InvalidCommand, NotFound
from services.common.values import occurred
from services.referrals.domainmodel import Episode, Patient, PatientDetails


class ReferralsApplication(ServiceApplication):
    name: ClassVar[Source] = "referrals"  # type: ignore[misc]

    def receive_referral(
        self,
        *,
        episode_id: str,
        patient_ref: str,
        payer: Payer,
        prescriber: Prescriber,
        diagnosis_codes: list[str],
        order: Order,
        patient: PatientDetails | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """Open an episode. A new `patient_ref` needs the patient's details; a known one may update them."""
        if Episode.create_id(episode_id) in self.repository:
            raise AlreadyRecorded(f"a referral for episode {episode_id} was already received")
        patient_record: Patient | None = self._get_or_none(Patient.create_id(patient_ref))
        if patient_record is None:
            if patient is None:
                raise InvalidCommand(
                    f"patient {patient_ref} is new: name, birth date, address and phone are required"
                )
            patient_record = Patient.register(patient_ref, patient)
        elif patient is not None:
            patient_record.change_details(patient)
        episode = Episode.receive(
            episode_id=episode_id,
            occurred_at=occurred(occurred_at),
            patient_ref=patient_ref,
            payer=payer,
            prescriber=prescriber,
            diagnosis_codes=diagnosis_codes,
            order=order,
        )
        self.save(patient_record, episode)  # one transaction: both or neither

    def accept_referral(
        self, episode_id: str, accepted_on: date, occurred_at: datetime | None = None
    ) -> None:
        episode = self._episode(episode_id)
        episode.accept(accepted_on, occurred(occurred_at))
        self.save(episode)

    def decline_referral(self, episode_id: str, reason: str, occurred_at: datetime | None = None) -> None:
        episode = self._episode(episode_id)
        episode.decline(reason, occurred(occurred_at))
        self.save(episode)

    def record_authorization(
        self,
        episode_id: str,
        *,
        auth_number: str,
        start_date: date,
        end_date: date,
        units: int,
        code: str = "S9363",
        occurred_at: datetime | None = None,
    ) -> None:
        episode = self._episode(episode_id)
        episode.record_authorization(auth_number, code, start_date, end_date, units, occurred(occurred_at))
        self.save(episode)

    def change_order(
        self,
        episode_id: str,
        *,
        effective_on: date,
        dose: str | None = None,
        dosing_interval_hours: int | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        episode = self._episode(episode_id)
        episode.change_order(effective_on, occurred(occurred_at), dose, dosing_interval_hours)
        self.save(episode)

    def discontinue_therapy(
        self,
        episode_id: str,
        *,
        discontinued_on: date,
        reason: DiscontinuationReason,
        occurred_at: datetime | None = None,
    ) -> None:
        episode = self._episode(episode_id)
        episode.discontinue(discontinued_on, reason, occurred(occurred_at))
        self.save(episode)

    # --- reads ---------------------------------------------------------------------------------

    def get_episode(self, episode_id: str) -> Episode:
        return self._episode(episode_id)

    def patient_details(self, patient_ref: str) -> PatientDetails:
        """Who a `patient_ref` is. Callers (the HTTP API) check the role and record the read."""
        patient: Patient | None = self._get_or_none(Patient.create_id(patient_ref))
        if patient is None:
            raise NotFound(f"patient {patient_ref} is unknown")
        return patient.details

    def _episode(self, episode_id: str) -> Episode:
        episode: Episode | None = self._get_or_none(Episode.create_id(episode_id))
        if episode is None:
            raise EpisodeUnknown(f"episode {episode_id} is unknown: no referral received")
        return episode
