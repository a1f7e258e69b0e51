"""`carecoord demo`: a deterministic month through the services' commands, on the embedded default."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from carecoord.cli import main
from carecoord.demo import run_demo
from carecoord.demo.episodes import PLANS, patient


def test_the_demo_month(tmp_path: Path) -> None:
    refused: list[tuple[str, str]] = []
    with run_demo(tmp_path / "a", on_refusal=lambda what, why: refused.append((what, why))) as services:
        events = services.contract_events()
    counts = Counter(e.event_type for e in events)
    assert counts["ReferralReceived"] == len(PLANS) == 20
    assert counts["ReferralDeclined"] == 2 and counts["TherapyDiscontinued"] == 3
    assert counts["HospitalAdmitted"] == counts["HospitalDischarged"] == 1
    assert counts["TherapyHeld"] == counts["TherapyResumed"] == 1
    assert counts["DeliveryVoided"] == 1 and counts["DeliveryCompleted"] > 40
    assert counts["DoseAdministered"] > 20 and counts["VisitCompleted"] > 40
    assessments = [e.data for e in events if e.event_type == "AssessmentCompleted"]
    assert [a.eligible for a in assessments].count(False) == 1  # type: ignore[union-attr]
    assert len({e.event_id for e in events}) == len(events)
    # A late report: recorded days after it occurred.
    admitted = next(e for e in events if e.event_type == "HospitalAdmitted")
    assert (admitted.recorded_instant - admitted.occurred_instant).days >= 4
    # Every refusal the demo tries is refused, and nothing of it stored.
    assert len(refused) == 8
    assert not any(e.episode_id in ("ep-1999",) or "-x" in str(e.data) for e in events)


def test_the_demo_is_deterministic(tmp_path: Path) -> None:
    with run_demo(tmp_path / "a") as first, run_demo(tmp_path / "b") as second:
        assert first.contract_events() == second.contract_events()


def test_the_command_prints_what_was_recorded_without_patient_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--data", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    for service in ("referrals", "assessments", "deliveries", "visits", "complications"):
        assert f"{service}: " in out
    assert "reported late" in out and "refused, as they should be" in out
    # It ends with the month's claims submitted, a stay reported late, and the replacement it calls for.
    ending = out[out.index("claims for 2026-03: ") :]
    assert "claims for 2026-03: VOID 0, REPLACE 0, NEW 18, NONE 0" in ending
    assert "submitted on 2026-04-02: 18 original claims" in ending
    assert "REPLACE CLM-2026-03-" in ending and "S9363 days removed 2026-03-21..2026-03-23" in ending
    assert "HospitalAdmitted" in ending and "submitted on 2026-04-07: replacement CLM-2026-03-" in ending
    assert ending.rstrip().endswith("claims for 2026-03 now: VOID 0, REPLACE 0, NEW 0, NONE 18")
    for plan in PLANS:
        details = patient(plan.patient_ref)
        assert details.name not in out and details.address not in out
    # Run again: the demo's own folder is emptied and reused.
    assert main(["demo", "--data", str(tmp_path / "demo")]) == 0


def test_the_command_will_not_wipe_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["demo", "--data", str(tmp_path)]) == 2
    assert (tmp_path / "precious.txt").read_text() == "keep me"
