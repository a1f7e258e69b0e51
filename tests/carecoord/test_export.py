"""The auditor's history: `carecoord export` and `GET /events`, from the services' stores.

A demo month is exported, replayed with `carecoord replay`, and compared with what the API answers,
episode by episode; `/events` pages through the same events in the same order, and its cursor
neither skips nor repeats an event while commands keep arriving.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from carecoord.cli import main
from carecoord.config import Settings
from carecoord.demo import run_demo
from events import SERVICE_NAMES
from tests.support.api import Api, open_episode

THROUGH = date(2026, 3, 31)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with Api.start(Settings.embedded(tmp_path / "var")) as running:
        yield running


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("export") / "demo"
    run_demo(data).close()
    return data


def export(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> list[str]:
    monkeypatch.setenv("CARECOORD_DATA", str(data))
    monkeypatch.delenv("CARECOORD_POSTGRES_URL", raising=False)
    monkeypatch.delenv("CARECOORD_KAFKA_BOOTSTRAP", raising=False)
    capsys.readouterr()
    assert main(["export", *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_an_exported_demo_replays_to_what_the_api_answers(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = export(demo, monkeypatch, capsys)
    assert len(lines) > 300 and all(json.loads(line)["recorded_by"]["role"] == "service" for line in lines)
    history = tmp_path / "history.jsonl"
    history.write_text("\n".join(lines) + "\n")
    assert main(["replay", str(history), "--through", THROUGH.isoformat(), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["rejected"] == [] and len(replayed["episodes"]) == 20

    with Api.start(Settings.embedded(demo), today=lambda: THROUGH) as api:
        auditor = api.headers("auditor")
        claims = api.client.get("/claims", params={"from": "2000-01-01", "to": "2099-12-31"}, headers=auditor)
        lines_of: dict[str, list[dict[str, Any]]] = {}
        for payer in claims.json()["payers"]:
            for line in payer["lines"]:
                lines_of.setdefault(line["episode_id"], []).append(
                    {k: line[k] for k in ("code", "from", "to", "units", "authorization")}
                )
        for episode in replayed["episodes"]:
            episode_id = episode["episode_id"]
            ledger = api.client.get(
                f"/episodes/{episode_id}/ledger", params={"through": THROUGH.isoformat()}, headers=auditor
            ).json()
            fields = ("patient_ref", "status", "start_of_care", "billable_days")
            assert {k: ledger[k] for k in fields} == {k: episode[k] for k in fields}, episode_id
            assert [(d["date"], d["billable"], d["reason"]) for d in ledger["days"]] == [
                (d["date"], d["billable"], d["reason"]) for d in episode["days"]
            ], episode_id
            key = lambda line: (line["code"], line["from"])  # noqa: E731
            assert sorted(lines_of.get(episode_id, []), key=key) == sorted(episode["claim_lines"], key=key)
            timeline = api.client.get(f"/episodes/{episode_id}/timeline", headers=auditor).json()
            shown = ("occurred_at", "event_type", "source", "event_id", "summary")
            assert [{k: e[k] for k in shown} for e in timeline["entries"]] == episode["timeline"], episode_id


def test_export_as_of_and_one_episode(
    demo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    everything = [json.loads(line) for line in export(demo, monkeypatch, capsys)]
    as_of = "2026-03-15T00:00:00Z"
    early = [json.loads(line) for line in export(demo, monkeypatch, capsys, "--as-of", as_of)]
    assert early == [e for e in everything if e["recorded_at"] <= "2026-03-15T00:00:00+00:00"]
    assert 0 < len(early) < len(everything)
    one = [json.loads(line) for line in export(demo, monkeypatch, capsys, "--episode", "ep-1001")]
    assert one == [e for e in everything if e["episode_id"] == "ep-1001"] and one
    with pytest.raises(SystemExit) as usage:
        main(["export", "--as-of", "yesterday"])
    assert usage.value.code == 2


def pages(api: Api, limit: int, after: str | None = None) -> tuple[list[dict[str, Any]], str]:
    events: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"after": after} if after else {})
        page = api.client.get("/events", params=params, headers=api.headers("auditor"))
        assert page.status_code == 200, page.text
        body = page.json()
        events += body["events"]
        if not body["events"]:
            return events, body["next"]
        after = body["next"]


def test_events_pages_through_what_export_writes_in_the_same_order(
    demo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = [json.loads(line) for line in export(demo, monkeypatch, capsys)]
    with Api.start(Settings.embedded(demo), today=lambda: THROUGH) as api:
        by_seven, _ = pages(api, 7)
        by_thousand, end = pages(api, 1000)
        assert by_seven == by_thousand == exported
        assert api.client.get("/events", params={"after": end}, headers=api.headers("auditor")).json() == {
            "events": [],
            "next": end,
        }
        for role in ("coordinator", "pharmacist", "nurse"):
            assert api.client.get("/events", headers=api.headers(role)).status_code == 403
        too_long = ".".join("1" * (len(SERVICE_NAMES) + 1))  # one position per service, no more
        for cursor in ("x", "1.2", "-1" + ".0" * (len(SERVICE_NAMES) - 1), too_long):
            bad = api.client.get("/events", params={"after": cursor}, headers=api.headers("auditor"))
            assert bad.status_code == 422, cursor


def test_the_cursor_neither_skips_nor_repeats_while_commands_arrive(api: Api) -> None:
    open_episode(api)
    stop = threading.Event()
    dose = {"administered_on": "2026-03-04", "by": "nurse"}

    def keep_recording() -> None:
        nurse = api.headers("nurse")
        while not stop.is_set():
            api.client.post("/visits/ep-1/log-dose", json=dose, headers=nurse)
            api.client.post(
                "/deliveries/ep-1/schedule-delivery",
                json={"delivery_id": f"d-{time.time_ns()}", "scheduled_for": "2026-03-05"},
                headers=api.headers("pharmacist"),
            )

    writer = threading.Thread(target=keep_recording)
    writer.start()
    seen: list[dict[str, Any]] = []
    after: str | None = None
    try:
        for _ in range(150):
            params: dict[str, Any] = {"limit": 3} | ({"after": after} if after else {})
            body = api.client.get("/events", params=params, headers=api.headers("auditor")).json()
            seen += body["events"]
            after = body["next"]
    finally:
        stop.set()
        writer.join()
    rest, _ = pages(api, 5, after)
    seen += rest
    ids = [event["event_id"] for event in seen]
    assert len(ids) == len(set(ids)), "an event was repeated"
    stored = {event.event_id for event in api.services.contract_events()}
    assert len(stored) > 60 and set(ids) == stored, "an event was skipped"
