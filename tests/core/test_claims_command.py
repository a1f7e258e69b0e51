"""`carecoord claims`: usage errors, unreadable files, rejected lines, and the biller's report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carecoord.cli import main
from tests.support.claims import submit
from tests.support.history_builder import standard

MARCH = [
    ("99601", "2026-03-02", "2026-03-02", 1, None),
    ("J0475", "2026-03-02", "2026-03-02", 4, None),
    ("S9363", "2026-03-02", "2026-03-31", 30, "A-1"),
]


@pytest.fixture
def late_stay(tmp_path: Path) -> Path:
    """A claim sent with every March day, then a stay in March reported late, and a bad line."""
    h = standard()
    submit(h, "C-1", MARCH, recorded_at="2026-04-04T16:00:00Z")
    h.admitted("2026-03-10", recorded_at="2026-04-08T15:00:00Z", event_id="e-admit")
    h.discharged("2026-03-15", recorded_at="2026-04-08T15:00:00Z", event_id="e-discharge")
    h.visited("v-9", "2026-03-20", recorded_at="2026-04-08T15:00:00Z", event_id="e-visit")
    h.visit_scheduled("v-10", "2026-03-27", recorded_at="2026-04-08T15:00:00Z", event_id="e-scheduled")
    path = tmp_path / "history.jsonl"
    lines = h.lines()
    lines.insert(2, "")
    lines.insert(4, '{"event_type": "ClaimSubmitted", "event_id": "bad-1"}')
    path.write_text("\n".join(lines) + "\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        status = main(["claims", *argv])
    except SystemExit as exit_:  # argparse's usage errors
        status = int(exit_.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize(
    "options",
    [
        ["--period", "2026-13"],
        ["--period", "2026-3"],
        ["--period", "March"],
        ["--period", "2026-03-01"],
        [],
        ["--period", "2026-03", "--through", "2026-02-30"],
        ["--period", "2026-03", "--through", "2026-W10-1"],
        ["--period", "2026-03", "--as-of", "2026-04-08"],
        ["--period", "2026-03", "--as-of", "2026-04-08T15:00:00"],
    ],
)
def test_a_malformed_option_is_a_usage_error(
    options: list[str], late_stay: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, str(late_stay), *options, "--json")
    assert status == 2 and out == "" and "usage" in err


def test_an_unreadable_file_exits_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in (tmp_path / "missing.jsonl", tmp_path):
        status, out, err = run(capsys, str(path), "--period", "2026-03", "--json")
        assert status != 0 and out == "" and "cannot read" in err


def test_rejected_lines_are_listed_and_the_rest_is_billed(
    late_stay: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, str(late_stay), "--period", "2026-03", "--json")
    assert status == 0
    document = json.loads(out)
    assert [(r["line"], r["event_id"]) for r in document["rejected"]] == [(5, "bad-1")]  # the blank counts
    assert [(c["episode_id"], c["action"], c["replaces"]) for c in document["claims"]] == [
        ("ep-1", "REPLACE", "C-1")
    ]


def test_as_of_is_echoed_and_hides_later_events(late_stay: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys, str(late_stay), "--period", "2026-03", "--as-of", "2026-04-05T00:00:00Z", "--json"
    )
    document = json.loads(out)
    assert status == 0 and document["as_of"] == "2026-04-05T00:00:00Z" and document["period"] == "2026-03"
    assert document["claims"][0]["action"] == "NONE"
    assert [r["line"] for r in document["rejected"]] == [5]  # --as-of does not hide a rejected line


def test_the_report_shows_the_days_that_changed_and_the_events_that_changed_them(
    late_stay: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, str(late_stay), "--period", "2026-03")
    assert status == 0
    assert "ep-1  patient pt-1  payer BCBS-ND  REPLACE C-1" in out
    assert "S9363 days removed 2026-03-11..2026-03-14" in out
    step = next(row for row in out.splitlines() if row.strip().startswith("2026-04-08T15:00:00Z"))
    assert "HospitalAdmitted e-admit" in step and "HospitalDischarged e-discharge" in step
    assert "VisitCompleted e-visit" in step and "other lines 1 added, 0 removed" in step
    assert "e-scheduled" not in step  # recorded at the same instant, but it changed nothing
    assert "1 rejected lines" in out and "line 5" in out
