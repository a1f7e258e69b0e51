"""Helpers for the API tests: a running app with tokens for each role, and sample requests."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from carecoord.api.app import create_app
from carecoord.api.auth import AuthConfig, mint_local_token
from carecoord.billing_config import load_billing_config
from carecoord.bootstrap import Services
from carecoord.config import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx; the TestClient works the same
    from fastapi.testclient import TestClient

TEST_URL_ENV = "CARECOORD_TEST_POSTGRES_URL"
BILLING_EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "billing.example.toml"
PATIENT = {
    "name": "Agnes Quillfeather",
    "birth_date": "1961-07-14",
    "address": "12 Larkspur Lane, Fargo, ND 58102",
    "phone": "555-0142",
}


@dataclass
class Api:
    client: TestClient
    settings: Settings
    auth: AuthConfig

    @classmethod
    @contextmanager
    def start(cls, settings: Settings, **options: Any) -> Iterator[Api]:
        """`options` go to `create_app` (`today`, `billing`, ...); the billing configuration is
        deploy/billing.example.toml unless given."""
        options.setdefault("billing", load_billing_config(BILLING_EXAMPLE))
        auth = AuthConfig.from_env(settings, environ={})
        app = create_app(settings, auth=auth, inline_projection=True, **options)
        try:
            with TestClient(app) as client:
                yield cls(client, settings, auth)
        finally:
            app.state.close()

    @property
    def services(self) -> Services:
        services: Services = self.client.app.state.runtime.services  # type: ignore[attr-defined]
        return services

    def token(self, role: str, sub: str | None = None, **changes: Any) -> str:
        ttl = changes.pop("ttl", 3600)
        now = changes.pop("now", None)
        return mint_local_token(replace(self.auth, **changes), role, sub or f"{role}-1", ttl=ttl, now=now)

    def headers(self, role: str, **changes: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **changes)}"}

    def stored_events(self) -> int:
        """How many events the five services have stored, all told."""
        return sum(app.max_position() for app in self.services)


def referral_body(patient_ref: str = "pt-1", with_patient: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patient_ref": patient_ref,
        "payer": {"payer_id": "bcbs-nd", "plan": "PPO", "member_ref": "M-1"},
        "prescriber": {"npi": "1234567890", "name": "Dr. Ruth Okafor"},
        "diagnosis_codes": ["G35"],
        "order": {
            "drug": "baclofen",
            "drug_code": "J0475",
            "route": "intrathecal",
            "dose": "200 mcg/day",
            "dosing_interval_hours": 0,
            "start_date": "2026-03-02",
        },
        "occurred_at": "2026-02-28T09:00:00-05:00",
    }
    if with_patient:
        body["patient"] = dict(PATIENT)
    return body


def assign_nurse(api: Api, episode_id: str, nurse: str = "nurse-1", on: str = "2026-03-02") -> None:
    """Put a nurse on an episode's care team (a coordinator's command): she may then act on it."""
    response = api.client.post(
        f"/referrals/{episode_id}/assign-care-team",
        json={"member": nurse, "role": "nurse", "assigned_on": on},
        headers=api.headers("coordinator"),
    )
    assert response.status_code == 200, response.text


def open_episode(
    api: Api, episode_id: str = "ep-1", patient_ref: str = "pt-1", nurses: tuple[str, ...] = ("nurse-1",)
) -> None:
    """A referral received and accepted, through the API as a coordinator, with `nurses` (the subjects
    of `api.headers("nurse")` by default) on its care team: a nurse reads only those episodes."""
    coordinator = api.headers("coordinator")
    response = api.client.post(
        f"/referrals/{episode_id}/receive-referral", json=referral_body(patient_ref), headers=coordinator
    )
    assert response.status_code == 200, response.text
    response = api.client.post(
        f"/referrals/{episode_id}/accept-referral", json={"accepted_on": "2026-03-02"}, headers=coordinator
    )
    assert response.status_code == 200, response.text
    for nurse in nurses:
        response = api.client.post(
            f"/referrals/{episode_id}/assign-care-team",
            json={"member": nurse, "role": "nurse", "assigned_on": "2026-03-02"},
            headers=coordinator,
        )
        assert response.status_code == 200, response.text
