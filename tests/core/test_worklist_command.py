"""`carecoord worklist` as a command: its document, usage errors and exit codes as `carecoord
replay`'s, rejected lines, and the report for people."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carecoord.cli import main
from tests.support.history_builder import History, standard

TODAY = "2026-03-20"


def write(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def clinic() -> History:
    h = standard()
    h.complication("c-1", "2026-03-12")
    h.visit_scheduled("v-1", "2026-03-18")
    h.ep = "ep-2"
    standard(h, patient="pt-2", supply_days=10)
    return h


def test_the_json_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, clinic().lines())
    assert main(["worklist", path, "--today", TODAY, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert list(document) == ["today", "as_of", "items", "rejected"]
    assert (document["today"], document["as_of"], document["rejected"]) == (TODAY, None, [])
    assert [list(item) for item in document["items"]] == [
        ["episode_id", "patient_ref", "kind", "due", "key", "detail"]
    ] * 3
    assert [
        (i["episode_id"], i["patient_ref"], i["kind"], i["due"], i["key"]) for i in document["items"]
    ] == [
        ("ep-1", "pt-1", "COMPLICATION_OPEN", "2026-03-12", "c-1"),
        ("ep-1", "pt-1", "VISIT_OVERDUE", "2026-03-18", "v-1"),
        ("ep-2", "pt-2", "SUPPLY_RUNS_OUT", TODAY, None),
    ]


def test_as_of_is_echoed_as_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, clinic().lines())
    as_of = "2026-01-01T00:04:30Z"  # referral, acceptance, authorization, assessment only
    assert main(["worklist", path, "--today", TODAY, "--as-of", as_of, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["as_of"] == as_of
    assert [(i["episode_id"], i["kind"]) for i in document["items"]] == [("ep-1", "START_OF_CARE_NEEDED")]


def test_rejected_lines_are_listed_as_replay_lists_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = clinic().lines()
    broken = json.loads(lines[3])
    broken["data"]["assessed_on"] = "2026-02-30"
    lines[3] = json.dumps(broken)
    lines.insert(5, "")
    lines.insert(6, "{not json")
    path = write(tmp_path, lines)
    assert main(["worklist", path, "--today", TODAY, "--json"]) == 0
    worklist = json.loads(capsys.readouterr().out)
    assert main(["replay", path, "--through", TODAY, "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert [r["line"] for r in worklist["rejected"]] == [4, 7]
    assert worklist["rejected"] == replayed["rejected"]


@pytest.mark.parametrize(
    "arguments",
    [
        ["--today", "2026-3-20"],
        ["--today", "2026-W12-5"],
        ["--today", "2026-02-30"],
        ["--today", "9999-12-31"],  # some due dates would fall after the calendar
        ["--today", TODAY, "--as-of", "2026-03-20"],
        ["--today", TODAY, "--as-of", "2026-03-20T18:00:00"],
        [],
    ],
)
def test_usage_errors_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str]
) -> None:
    path = write(tmp_path, clinic().lines())
    with pytest.raises(SystemExit) as exit_:
        main(["worklist", path, *arguments])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "--today" in error or "--as-of" in error


def test_an_unreadable_history_exits_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "missing.jsonl")
    assert main(["worklist", missing, "--today", TODAY, "--json"]) == 1
    assert main(["replay", missing, "--through", TODAY, "--json"]) == 1
    assert main(["worklist", str(tmp_path), "--today", TODAY]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert errors[0].startswith("carecoord worklist: cannot read") and missing in errors[0]


def test_the_report_for_people_groups_items_by_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = clinic().lines()
    lines.append("{not json")
    assert main(["worklist", write(tmp_path, lines), "--today", TODAY]) == 0
    report = capsys.readouterr().out
    headings = [line for line in report.splitlines() if line and not line.startswith(" ")]
    assert headings == [
        "Worklist for 2026-03-20: 3 items",
        "Supply runs out (1)",
        "Visit overdue (1)",
        "Complication open (1)",
        "1 rejected lines:",
    ]
    assert "2026-03-18 (2 days ago)" in report and "ep-1 (pt-1)" in report and "line 15:" in report
