"""The whole role matrix, table-driven: every endpoint x every role (and bad tokens), each cell an HTTP call,
on SQLite and on PostgreSQL.

Expected statuses come from the table below, written out by hand (not from roles.py), so that a
change to the matrix must change both; docs/roles.md is rendered from roles.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from carecoord.api.roles import ROLES
from carecoord.bootstrap import Services
from tests.support.api import Api, open_episode, referral_body

EST = timezone(timedelta(hours=-5))
C, P, N, A, B = "coordinator", "pharmacist", "nurse", "auditor", "biller"
CARE_AND_AUDIT = frozenset({C, P, N, A})  # everyone but the biller


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=EST)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    allowed: frozenset[str]
    body: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[Services], None] | None = None

    @property
    def id(self) -> str:
        query = "?" + "&".join(self.params) if self.params else ""
        return f"{self.method} {self.path}{query}"


def _schedule_delivery(s: Services) -> None:
    s.deliveries.schedule_delivery("ep-1", delivery_id="d-1", scheduled_for=date(2026, 3, 3))


def _complete_delivery(s: Services) -> None:
    s.deliveries.complete_delivery(
        "ep-1",
        delivery_id="d-1",
        delivered_on=date(2026, 3, 3),
        days_supply=7,
        items=[{"code": "J0475", "units": 4}],
    )


def _schedule_visit(s: Services) -> None:
    s.visits.schedule_visit("ep-1", visit_id="v-1", scheduled_for=date(2026, 3, 3), kind="start_of_care")


def _complete_visit(s: Services) -> None:
    s.visits.complete_visit(
        "ep-1",
        visit_id="v-1",
        started_at=at(3, 9),
        ended_at=at(3, 11),
        administered=True,
        nurse="RN Lee",
        kind="start_of_care",
    )


def _report(s: Services) -> None:
    s.complications.report_complication(
        "ep-1", complication_id="c-1", kind="bruising", severity="mild", onset_on=date(2026, 3, 4)
    )


def _hold(s: Services) -> None:
    s.complications.hold_therapy("ep-1", held_from=date(2026, 3, 5), reason="line infection")


def _admit(s: Services) -> None:
    s.complications.admit_to_hospital("ep-1", admitted_on=date(2026, 3, 6))


def _billable(s: Services) -> None:
    """A claim line in March for ep-1 (a nursing visit), so that there is a claim to submit."""
    _complete_visit(s)


def command(
    service: str,
    name: str,
    allowed: str,
    body: dict[str, Any],
    episode: str = "ep-1",
    prepare: Callable[[Services], None] | None = None,
) -> Endpoint:
    path = f"/{service}/{episode}/{name.replace('_', '-')}"
    return Endpoint("POST", path, frozenset({allowed}), body, prepare=prepare)


ENDPOINTS = [
    command("referrals", "receive_referral", C, referral_body("pt-9"), episode="ep-9"),
    command("referrals", "accept_referral", C, {"accepted_on": "2026-03-02"}, episode="ep-2"),
    command("referrals", "decline_referral", C, {"reason": "no coverage"}, episode="ep-2"),
    command(
        "referrals",
        "record_authorization",
        C,
        {"auth_number": "A-1", "start_date": "2026-03-02", "end_date": "2026-03-31", "units": 30},
    ),
    command("referrals", "change_order", P, {"effective_on": "2026-03-10", "dose": "250 mcg/day"}),
    command("referrals", "discontinue_therapy", C, {"discontinued_on": "2026-03-20", "reason": "completed"}),
    command("referrals", "change_patient_details", C, {"address": "3 Elm Row"}),
    command(
        "referrals", "assign_care_team", C, {"member": "rn-new", "role": "nurse", "assigned_on": "2026-03-02"}
    ),
    command("referrals", "release_care_team", C, {"member": "nurse-1", "released_on": "2026-03-09"}),
    command(
        "assessments",
        "complete_assessment",
        N,
        {
            "assessment_id": "a-1",
            "kind": "initial",
            "assessed_on": "2026-03-02",
            "eligible": True,
            "clinician": "RN Lee",
            "findings": {"site": "clean"},
        },
    ),
    command("deliveries", "schedule_delivery", P, {"delivery_id": "d-1", "scheduled_for": "2026-03-03"}),
    command(
        "deliveries",
        "complete_delivery",
        P,
        {
            "delivery_id": "d-1",
            "delivered_on": "2026-03-03",
            "days_supply": 7,
            "items": [{"code": "J0475", "units": 4, "description": "baclofen 10 mg"}],
        },
    ),
    command(
        "deliveries",
        "correct_delivery",
        P,
        {
            "delivery_id": "d-1",
            "delivered_on": "2026-03-03",
            "days_supply": 14,
            "items": [{"code": "J0475", "units": 4}],
            "correction": "14 days, not 7",
        },
        prepare=_complete_delivery,
    ),
    command(
        "deliveries",
        "fail_delivery",
        P,
        {"delivery_id": "d-1", "reason": "nobody home"},
        prepare=_schedule_delivery,
    ),
    command(
        "deliveries",
        "void_delivery",
        P,
        {"delivery_id": "d-1", "reason": "entered twice"},
        prepare=_complete_delivery,
    ),
    command(
        "visits", "schedule_visit", N, {"visit_id": "v-1", "scheduled_for": "2026-03-03", "kind": "teaching"}
    ),
    command(
        "visits",
        "complete_visit",
        N,
        {
            "visit_id": "v-1",
            "started_at": "2026-03-03T09:00:00-05:00",
            "ended_at": "2026-03-03T11:00:00-05:00",
            "administered": True,
            "nurse": "RN Lee",
            "kind": "start_of_care",
        },
    ),
    command(
        "visits",
        "correct_visit",
        N,
        {
            "visit_id": "v-1",
            "started_at": "2026-03-03T09:00:00-05:00",
            "ended_at": "2026-03-03T12:00:00-05:00",
            "administered": True,
            "nurse": "RN Lee",
            "kind": "start_of_care",
            "correction": "ended at noon",
        },
        prepare=_complete_visit,
    ),
    command(
        "visits", "miss_visit", N, {"visit_id": "v-1", "reason": "patient away"}, prepare=_schedule_visit
    ),
    command(
        "visits", "void_visit", N, {"visit_id": "v-1", "reason": "wrong patient"}, prepare=_complete_visit
    ),
    command("visits", "log_dose", N, {"administered_on": "2026-03-04", "by": "caregiver"}),
    command(
        "complications",
        "report_complication",
        N,
        {"complication_id": "c-1", "kind": "bruising", "severity": "mild", "onset_on": "2026-03-04"},
    ),
    command(
        "complications",
        "resolve_complication",
        N,
        {"complication_id": "c-1", "resolved_on": "2026-03-06"},
        prepare=_report,
    ),
    command("complications", "hold_therapy", C, {"held_from": "2026-03-05", "reason": "line infection"}),
    command("complications", "resume_therapy", C, {"resumed_on": "2026-03-08"}, prepare=_hold),
    command(
        "complications", "admit_to_hospital", C, {"admitted_on": "2026-03-06", "facility_kind": "hospital"}
    ),
    command("complications", "discharge_from_hospital", C, {"discharged_on": "2026-03-09"}, prepare=_admit),
    Endpoint("GET", "/episodes", CARE_AND_AUDIT, params={"status": "accepted"}),
    Endpoint("GET", "/episodes/{episode_id}", CARE_AND_AUDIT),
    Endpoint("GET", "/episodes/{episode_id}/timeline", CARE_AND_AUDIT),
    Endpoint(
        "GET", "/episodes/{episode_id}/timeline", frozenset({A}), params={"as_of": "2030-01-01T00:00:00Z"}
    ),
    Endpoint("GET", "/episodes/{episode_id}/ledger", CARE_AND_AUDIT, params={"through": "2026-03-31"}),
    Endpoint(
        "GET", "/episodes/{episode_id}/ledger", frozenset({A}), params={"as_of": "2030-01-01T00:00:00Z"}
    ),
    Endpoint(
        "GET", "/episodes/{episode_id}/authorizations", CARE_AND_AUDIT, params={"through": "2026-03-31"}
    ),
    Endpoint(
        "GET",
        "/episodes/{episode_id}/authorizations",
        frozenset({A}),
        params={"as_of": "2030-01-01T00:00:00Z"},
    ),
    Endpoint("GET", "/episodes/{episode_id}/deliveries", CARE_AND_AUDIT),
    Endpoint("GET", "/episodes/{episode_id}/visits", CARE_AND_AUDIT),
    Endpoint(
        "GET",
        "/episodes/{episode_id}/complications",
        frozenset({A}),
        params={"as_of": "2030-01-01T00:00:00Z"},
    ),
    Endpoint("GET", "/episodes/{episode_id}/complications", CARE_AND_AUDIT),
    Endpoint(
        "GET", "/episodes/{episode_id}/calendar.html", CARE_AND_AUDIT, params={"through": "2026-03-31"}
    ),
    Endpoint("GET", "/claims", frozenset({C, A, B}), params={"from": "2026-03-01", "to": "2026-03-31"}),
    Endpoint(
        "GET",
        "/claims",
        frozenset({C, A, B}),
        params={"from": "2026-03-01", "to": "2026-03-31", "format": "csv"},
    ),
    Endpoint("GET", "/claims", frozenset({C, A, B}), params={"period": "2026-03"}),
    Endpoint("GET", "/claims", frozenset({C, A, B}), params={"period": "2026-03", "format": "csv"}),
    Endpoint("GET", "/claims", frozenset({A}), params={"period": "2026-03", "as_of": "2030-01-01T00:00:00Z"}),
    Endpoint(
        "POST",
        "/claims/{episode_id}/submit",
        frozenset({B}),
        body={"period": "2026-03", "submitted_on": "2026-04-02"},
        prepare=_billable,
    ),
    Endpoint("GET", "/claims/837p", frozenset({B}), params={"period": "2026-03"}, prepare=_billable),
    Endpoint("GET", "/worklist", CARE_AND_AUDIT, params={"today": "2026-03-10"}),
    Endpoint(
        "GET", "/worklist", frozenset({A}), params={"today": "2026-03-10", "as_of": "2030-01-01T00:00:00Z"}
    ),
    Endpoint("GET", "/dead-letters", frozenset({C, A})),
    Endpoint("GET", "/access-log", frozenset({A})),
    Endpoint("GET", "/events", frozenset({A}), params={"limit": "5"}),
]


def bad_tokens(api: Api) -> dict[str, dict[str, str]]:
    """Headers that must all get 401."""
    claims = {
        "iss": api.auth.issuer,
        "aud": api.auth.audience,
        "sub": "mallory",
        "role": C,
        "exp": int(time.time()) + 600,
    }
    stranger = ec.generate_private_key(ec.SECP256R1())
    jwks = api.auth.local_key_dir / "jwks.json"  # type: ignore[operator]
    public_x = jwt.PyJWKSet.from_json(jwks.read_text()).keys[0].key_id
    return {
        "no token": {},
        "not a JWT": {"Authorization": "Bearer not.a.jwt"},
        "basic auth": {"Authorization": "Basic Y29vcmRpbmF0b3I6cGFzcw=="},
        "expired": api.headers(C, now=time.time() - 7200),
        "wrong audience": api.headers(C, audience="some-other-api"),
        "wrong issuer": api.headers(C, issuer="https://evil.example"),
        "unknown key": {"Authorization": "Bearer " + jwt.encode(claims, stranger, algorithm="ES256")},
        "HS256 with a guessable secret": {
            "Authorization": "Bearer " + jwt.encode(claims, str(public_x), algorithm="HS256")
        },
        "no exp": {
            "Authorization": "Bearer "
            + jwt.encode({k: v for k, v in claims.items() if k != "exp"}, stranger, algorithm="ES256")
        },
    }


def call(api: Api, endpoint: Endpoint, headers: dict[str, str]) -> int:
    path = endpoint.path.replace("{episode_id}", "ep-1")
    response = api.client.request(
        endpoint.method, path, json=endpoint.body, params=endpoint.params, headers=headers
    )
    return response.status_code


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.id)
def test_role_matrix(any_api: Api, endpoint: Endpoint) -> None:
    api = any_api
    open_episode(api, "ep-1")
    coordinator = api.headers(C)
    received = api.client.post(
        "/referrals/ep-2/receive-referral", json=referral_body("pt-2"), headers=coordinator
    )
    assert received.status_code == 200
    if endpoint.prepare:
        endpoint.prepare(api.services)

    expected: dict[str, int] = {}
    got: dict[str, int] = {}
    for name, headers in bad_tokens(api).items():
        expected[name], got[name] = 401, call(api, endpoint, headers)
    expected["role 'admin'"], got["role 'admin'"] = 403, call(api, endpoint, api.headers("admin"))
    # Refused roles first: they must change nothing, so the allowed call still finds what it needs.
    for role in sorted(ROLES, key=lambda r: r in endpoint.allowed):
        expected[role] = 200 if role in endpoint.allowed else 403
        got[role] = call(api, endpoint, api.headers(role))
    assert got == expected


def test_the_table_covers_every_operation(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    operations = {
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    } - {"GET /health", "GET /health/live", "GET /health/ready"}
    covered = {f"{e.method} {e.path}" for e in ENDPOINTS}
    covered = {
        c.replace("/ep-1/", "/{episode_id}/")
        .replace("/ep-2/", "/{episode_id}/")
        .replace("/ep-9/", "/{episode_id}/")
        for c in covered
    }
    assert operations == covered


def test_health_needs_no_token(api: Api) -> None:
    assert api.client.get("/health").json() == {"status": "ok"}
