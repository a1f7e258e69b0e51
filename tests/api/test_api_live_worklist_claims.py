"""The live worklist and claims equal the commands over the same events, on SQLite and PostgreSQL.

The demo month is driven through the real services (on the store under test); the API's inline
projection keeps the read models. Its events, read back from the services, are a history file for
`carecoord worklist` and `carecoord claims`: `GET /worklist` and `GET /claims?period=` must find
the same items and claims. Then the biller submits every claim through the API (all NONE after),
a hospital stay is reported late, and the live claims still equal the command's: the REPLACE it
calls for, with the corrections that name the late events.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from carecoord.cli import main
from carecoord.config import Settings
from carecoord.demo import run_demo
from events import to_json
from tests.support.api import Api, assign_nurse
from tests.support.x12 import parse_claims, x12_errors

# Every other day of the month and around it, and one long after.
TODAYS = [(date(2026, 2, 25) + timedelta(days=n)).isoformat() for n in range(0, 48, 2)] + ["2026-09-01"]
ITEM_FIELDS = ("episode_id", "patient_ref", "kind", "due", "key")


@pytest.fixture
def demo_api(settings: Settings, tmp_path: Path) -> Iterator[Api]:
    """The demo month stored by the services, and the API over the same stores."""
    run_demo(tmp_path / "demo", settings=settings).close()
    with Api.start(settings, today=lambda: date(2026, 4, 1)) as api:
        yield api


def history_file(api: Api, tmp_path: Path) -> Path:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(to_json(event) + "\n" for event in api.services.contract_events()))
    return path


def command(*argv: str) -> dict[str, Any]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(list(argv)) == 0
    document: dict[str, Any] = json.loads(out.getvalue())
    return document


def items(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(item[field] for field in ITEM_FIELDS) for item in document["items"]]


def live_worklist(api: Api, today: str, **params: Any) -> dict[str, Any]:
    response = api.client.get(
        "/worklist", params={"today": today, "limit": 1000, **params}, headers=api.headers("coordinator")
    )
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def live_claims(api: Api, period: str, role: str = "biller") -> list[dict[str, Any]]:
    response = api.client.get("/claims", params={"period": period}, headers=api.headers(role))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["claims"]
    return found


def without_changes(claims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in claim.items() if k != "changes"} for claim in claims]


def more_work(api: Api) -> None:
    """What the demo's care leaves out: a visit and a delivery never recorded, an open complication."""
    visit = {"visit_id": "v-x", "scheduled_for": "2026-03-10", "kind": "teaching"}
    delivery = {"delivery_id": "d-x", "scheduled_for": "2026-03-08"}
    complication = {"complication_id": "c-x", "kind": "bruising", "severity": "mild"}
    complication["onset_on"] = "2026-03-12"
    for episode_id in ("ep-1001", "ep-1002"):  # a nurse acts only on her care teams' episodes
        assign_nurse(api, episode_id)
    for role, path, body in (
        ("nurse", "/visits/ep-1001/schedule-visit", visit),
        ("pharmacist", "/deliveries/ep-1003/schedule-delivery", delivery),
        ("nurse", "/complications/ep-1002/report-complication", complication),
    ):
        response = api.client.post(path, json=body, headers=api.headers(role))
        assert response.status_code == 200, response.text


def test_the_live_worklist_equals_the_command_on_every_day(demo_api: Api, tmp_path: Path) -> None:
    more_work(demo_api)
    history = history_file(demo_api, tmp_path)
    seen_kinds = set()
    for today in TODAYS:
        expected = items(command("worklist", str(history), "--today", today, "--json"))
        live = live_worklist(demo_api, today)
        assert items(live) == expected, today
        assert live["total"] == len(expected)
        seen_kinds |= {item[2] for item in expected}
    assert len(seen_kinds) >= 10, seen_kinds  # most kinds of the table, not one or two

    # Pages and filters cut the same list.
    whole = items(live_worklist(demo_api, "2026-03-20"))
    assert items(live_worklist(demo_api, "2026-03-20", limit=3, offset=2)) == whole[2:5]
    kind = whole[0][2]
    only = live_worklist(demo_api, "2026-03-20", kind=kind)
    assert items(only) == [item for item in whole if item[2] == kind] and only["total"] == len(only["items"])
    episode = whole[-1][0]
    assert items(live_worklist(demo_api, "2026-03-20", episode_id=episode)) == [
        item for item in whole if item[0] == episode
    ]


def test_the_live_claims_equal_the_command_before_and_after_submitting(demo_api: Api, tmp_path: Path) -> None:
    api = demo_api
    for period in ("2026-02", "2026-03", "2026-04"):
        expected = command("claims", str(history_file(api, tmp_path)), "--period", period, "--json")
        assert live_claims(api, period) == expected["claims"], period
    march = live_claims(api, "2026-03")
    assert {claim["action"] for claim in march} == {"NEW"}

    # The biller submits what every action calls for: afterwards every claim stands right.
    biller = api.headers("biller")
    for claim in march:
        response = api.client.post(
            f"/claims/{claim['episode_id']}/submit",
            json={"period": "2026-03", "submitted_on": "2026-04-02"},
            headers=biller,
        )
        assert response.status_code == 200, response.text
        assert response.json()["frequency"] == "original"
        assert response.json()["lines"] == claim["lines"]
    assert {claim["action"] for claim in live_claims(api, "2026-03")} == {"NONE"}
    refused = api.client.post(
        f"/claims/{march[0]['episode_id']}/submit",
        json={"period": "2026-03", "submitted_on": "2026-04-02"},
        headers=biller,
    )
    assert refused.status_code == 409 and refused.json()["error"] == "nothing_to_submit"

    # A stay reported late makes the sent claim of an active episode wrong.
    episode = next(c["episode_id"] for c in march if any(line["code"] == "S9363" for line in c["lines"]))
    coordinator = api.headers("coordinator")
    admitted = {"admitted_on": "2026-03-20", "occurred_at": "2026-03-20T10:00:00-05:00"}
    discharged = {"discharged_on": "2026-03-24", "occurred_at": "2026-03-24T10:00:00-05:00"}
    for path, body in (("admit-to-hospital", admitted), ("discharge-from-hospital", discharged)):
        response = api.client.post(f"/complications/{episode}/{path}", json=body, headers=coordinator)
        assert response.status_code == 200, response.text
    after = live_claims(api, "2026-03")
    expected = command("claims", str(history_file(api, tmp_path)), "--period", "2026-03", "--json")
    assert without_changes(after) == expected["claims"]
    (replace,) = [claim for claim in after if claim["action"] != "NONE"]
    assert replace["episode_id"] == episode and replace["action"] == "REPLACE"
    changes = replace["changes"]
    assert changes["since_sent"]["days_removed"] == ["2026-03-21", "2026-03-22", "2026-03-23"]
    # Recorded one after the other: the admission took every day after it, the discharge gave
    # back those from the discharge date on.
    admitted, discharged = changes["steps"]
    assert [e["event_type"] for e in admitted["events"]] == ["HospitalAdmitted"]
    assert admitted["changes"]["days_removed"][0] == "2026-03-21"
    assert [e["event_type"] for e in discharged["events"]] == ["HospitalDischarged"]
    assert discharged["changes"]["days_added"][0] == "2026-03-24"
    assert all(e["event_id"] and e["recorded_at"] for step in changes["steps"] for e in step["events"])

    response = api.client.post(
        f"/claims/{episode}/submit", json={"period": "2026-03", "submitted_on": "2026-04-10"}, headers=biller
    )
    assert response.status_code == 200, response.text
    assert response.json()["frequency"] == "replacement"
    assert response.json()["replaces"] == replace["replaces"]
    assert {claim["action"] for claim in live_claims(api, "2026-03", role="auditor")} == {"NONE"}


def test_the_837p_of_the_month_passes_the_x12_validator(demo_api: Api) -> None:
    api = demo_api
    march = live_claims(api, "2026-03")
    response = api.client.get("/claims/837p", params={"period": "2026-03"}, headers=api.headers("biller"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/edi-x12")
    text = response.text
    assert x12_errors(text) == []
    parsed = parse_claims(text)
    assert [claim.claim_id for claim in parsed] == [f"CLM-2026-03-{c['episode_id']}" for c in march]
    for claim, sent in zip(parsed, march, strict=True):
        assert claim.frequency == "1"
        assert claim.units("S9363") == sum(line["units"] for line in sent["lines"] if line["code"] == "S9363")
    # Only the biller writes it: it carries names, birth dates and addresses.
    for role in ("coordinator", "auditor", "nurse"):
        refused = api.client.get("/claims/837p", params={"period": "2026-03"}, headers=api.headers(role))
        assert refused.status_code == 403


def test_as_of_recomputes_what_was_known_then_as_the_commands_do(demo_api: Api, tmp_path: Path) -> None:
    api = demo_api
    history = history_file(api, tmp_path)
    auditor = api.headers("auditor")
    for as_of in ("2026-03-10T00:00:00Z", "2026-03-22T12:00:00-05:00"):
        expected = command("worklist", str(history), "--today", "2026-03-20", "--as-of", as_of, "--json")
        response = api.client.get(
            "/worklist", params={"today": "2026-03-20", "as_of": as_of, "limit": 1000}, headers=auditor
        )
        assert response.status_code == 200, response.text
        assert items(response.json()) == items(expected) and response.json()["as_of"] == as_of
        claims = command("claims", str(history), "--period", "2026-03", "--as-of", as_of, "--json")
        response = api.client.get("/claims", params={"period": "2026-03", "as_of": as_of}, headers=auditor)
        assert response.status_code == 200, response.text
        assert without_changes(response.json()["claims"]) == claims["claims"]
    assert items(expected) != items(live_worklist(api, "2026-03-20"))  # as_of did hide something


def test_an_unknown_kind_or_period_is_refused_naming_the_field(demo_api: Api) -> None:
    api = demo_api
    response = api.client.get(
        "/worklist", params={"today": "2026-03-20", "kind": "NOT_A_KIND"}, headers=api.headers("nurse")
    )
    assert response.status_code == 422 and "kind" in response.text
    wrong: list[dict[str, str]] = [{"period": "2026-13"}, {"period": "2026-03", "from": "2026-03-01"}]
    for params in [*wrong, {"from": "2026-03-01"}]:
        response = api.client.get("/claims", params=params, headers=api.headers("biller"))
        assert response.status_code == 422, params
