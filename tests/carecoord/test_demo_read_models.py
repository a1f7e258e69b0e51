"""The embedded read models, fed by the real services, equal an auditor's replay of the same events."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

from carecoord.billing_report import billing_report, project_embedded
from carecoord.demo import run_demo
from events import to_json
from projections.core.documents import episode_document
from projections.core.history import project_history, read_history
from projections.replay import write_replay_json
from tests.support.records import history_digests

THROUGH = date(2026, 3, 31)


def test_read_models_from_the_services_equal_a_replay_of_their_events(tmp_path: Path) -> None:
    services = run_demo(tmp_path / "demo")
    try:
        store = project_embedded(services, tmp_path / "demo", THROUGH)
        lines = [to_json(event) for event in services.contract_events()]
    finally:
        services.close()
    views = project_history(read_history(lines), THROUGH)
    assert len(views) == 20
    assert store.digests() == history_digests(lines, THROUGH)

    # The demo month shows the rules at work, not only billable days.
    reasons = {day["reason"] for view in views for day in episode_document(view)["days"]}
    assert {
        "BILLABLE",
        "BEFORE_SOC",
        "INPATIENT_STAY",
        "ON_HOLD",
        "AUTH_UNITS_EXHAUSTED",
        "NO_AUTH",
        "NOT_ELIGIBLE",
        "NOT_PER_DIEM_FREQUENCY",
    } <= reasons
    assert {view.status for view in views} >= {"active", "declined", "discontinued"}

    # The replay document of the exported history is valid JSON and lists the same episodes.
    out = io.StringIO()
    assert write_replay_json(lines, THROUGH, out) == 20
    assert [e["episode_id"] for e in json.loads(out.getvalue())["episodes"]] == [v.episode_id for v in views]


def test_the_demo_report_lists_every_episode_and_one_stay_in_full(tmp_path: Path) -> None:
    services = run_demo(tmp_path / "demo")
    try:
        report = list(billing_report(services, tmp_path / "demo", THROUGH))
    finally:
        services.close()
    ledger = [line for line in report if line.startswith("ep-")]
    assert len(ledger) == 20
    assert any("timeline of ep-" in line for line in report)
    assert any(line.strip().startswith("S9363") for line in report)
    assert any("INPATIENT_STAY" in line for line in ledger)
