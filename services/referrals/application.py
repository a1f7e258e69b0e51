"""The referrals service: referrals received, accepted or declined; authorizations; orders; discontinuing.

Every command loads the episode, asks it to act, and saves; a refused command raises a
`DomainError` and stores nothing. All stored events of this service are encrypted at rest.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from events import Order, Payer, Prescriber
from events.models import CareTeamRole, DiscontinuationReason, Source
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
        """Open an episode. The patient's details are required when `patient_ref` is new, and must be
        left out when it is not: a referral never changes them (that is `change_patient_details`)."""
        if Episode.create_id(episode_id) in self.repository:
            raise AlreadyRecorded(f"a referral for episode {episode_id} was already received")
        patient_record: Patient | None = self._get_or_none(Patient.create_id(patient_ref))
        if patient_record is None:
            if patient is None:
                raise InvalidCommand(
                    f"patient is required for a patient_ref not registered before ({patient_ref}): "
                    "name, birth date, address and phone"
                )
            patient_record = Patient.register(patient_ref, patient)
        elif patient is not None:
            # Neither rewritten silently nor compared (a comparison would tell whether a guess of
            # the details on record is right).
            raise AlreadyRecorded(
                f"patient {patient_ref} is registered: a referral never changes a patient's details; "
                "leave patient out, or change them with change-patient-details"
            )
        episode = Episode.receive(
            episode_id=episode_id,
            occurred_at=occurred(occurred_at),
            patient_ref=patient_ref,
            payer=payer,
            prescriber=prescriber,
            diagnosis_codes=diagnosis_codes,
            order=order,
        )
        # One transaction: both or neither (a patient already registered has nothing to save).
        self.save(patient_record, episode)

    def change_patient_details(
        self,
        episode_id: str,
        *,
        name: str | None = None,
        birth_date: date | None = None,
        address: str | None = None,
        phone: str | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """Change the demographics of the episode's patient: the fields given. The episode's
        timeline records which fields changed, never their values."""
        episode = self._episode(episode_id)
        patient: Patient | None = self._get_or_none(Patient.create_id(episode.patient_ref))
        if patient is None:
            raise NotFound(f"the patient of episode {episode_id} is not registered")
        changes = {"name": name, "birth_date": birth_date, "address": address, "phone": phone}
        fields = patient.change_details(changes)
        episode.record_patient_details_changed(fields, occurred(occurred_at))
        self.save(patient, episode)

    def assign_care_team(
        self,
        episode_id: str,
        *,
        member: str,
        role: CareTeamRole,
        assigned_on: date,
        occurred_at: datetime | None = None,
    ) -> None:
        """Put a nurse or a pharmacist (their token's subject) on the episode's care team."""
        episode = self._episode(episode_id)
        episode.assign_care_team(member, role, assigned_on, occurred(occurred_at))
        self.save(episode)

    def release_care_team(
        self, episode_id: str, *, member: str, released_on: date, occurred_at: datetime | None = None
    ) -> None:
        """Take a member off the episode's care team."""
        episode = self._episode(episode_id)
        episode.release_care_team(member, released_on, occurred(occurred_at))
        self.save(episode)

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
