"""Every example history in shared/examples, replayed through the real CLI, gives its expected document.

Compared: every field shared/contract.md defines for the replay document, except the two free-text
fields the examples' README leaves open: timeline `summary` and `rejected[].error`. Each error must
still name the event type and the field the expected error names.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = (REPO / ".." / "shared").resolve()
EXAMPLES = SHARED / "examples"
INDEX = EXAMPLES / "index.json"
MISSING = (
    f"shared/examples not found at {EXAMPLES} (expected the folder `shared` beside the repository "
    f"folder {REPO}); the example histories are the contract's acceptance tests and must be present"
)

EPISODE_FIELDS = (
    "episode_id",
    "patient_ref",
    "status",
    "start_of_care",
    "billable_days",
    "days",
    "claim_lines",
    "timeline",
)
DAY_FIELDS = ("date", "billable", "reason")
LINE_FIELDS = ("code", "from", "to", "units", "authorization")
TIMELINE_FIELDS = ("occurred_at", "event_type", "source", "event_id")  # `summary` is free text
REJECTED_FIELDS = ("line", "event_id")  # `error` is free text, checked separately


def _cases() -> list[Any]:
    if not INDEX.is_file():
        return [pytest.param(None, id="shared-examples-missing")]
    return [pytest.param(case, id=case["name"]) for case in json.loads(INDEX.read_text())]


def _pick(mapping: dict[str, Any], fields: tuple[str, ...], where: str) -> dict[str, Any]:
    missing = [name for name in fields if name not in mapping]
    assert not missing, f"{where}: fields missing from the document: {missing}"
    return {name: mapping[name] for name in fields}


def contract_view(document: dict[str, Any]) -> dict[str, Any]:
    """Only the fields the contract defines (and the README asks to compare)."""
    top = _pick(document, ("through", "as_of", "episodes", "rejected"), "document")
    episodes = []
    for episode in top["episodes"]:
        view = _pick(episode, EPISODE_FIELDS, "episode")
        where = episode["episode_id"]
        view["days"] = [_pick(day, DAY_FIELDS, f"{where} day") for day in view["days"]]
        view["claim_lines"] = [
            _pick(line, LINE_FIELDS, f"{where} claim line") for line in view["claim_lines"]
        ]
        view["timeline"] = [_pick(entry, TIMELINE_FIELDS, f"{where} timeline") for entry in view["timeline"]]
        episodes.append(view)
    top["episodes"] = episodes
    top["rejected"] = [_pick(entry, REJECTED_FIELDS, "rejected") for entry in top["rejected"]]
    return top


def run_replay(history: Path, through: str, as_of: str | None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "carecoord.cli", "replay", str(history), "--through", through]
    if as_of is not None:
        command += ["--as-of", as_of]
    command.append("--json")
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def test_examples_folder_is_present_and_indexed() -> None:
    if not INDEX.is_file():
        pytest.fail(MISSING)
    listed = {case["history"] for case in json.loads(INDEX.read_text())}
    on_disk = {path.name for path in EXAMPLES.glob("*.jsonl")}
    assert listed == on_disk, f"index.json and the .jsonl files differ: {sorted(listed ^ on_disk)}"


@pytest.mark.parametrize("case", _cases())
def test_example_replays_to_expected_document(case: dict[str, Any] | None) -> None:
    if case is None:
        pytest.fail(MISSING)
    expected = json.loads((EXAMPLES / case["expected"]).read_text())
    result = run_replay(EXAMPLES / case["history"], case["through"], case["as_of"])
    assert result.returncode == 0, f"{case['command']} exited {result.returncode}: {result.stderr}"
    actual = json.loads(result.stdout)

    assert contract_view(actual) == contract_view(expected)

    for got, want in zip(actual["rejected"], expected["rejected"], strict=True):
        assert isinstance(got["error"], str) and got["error"], got
        # The expected error names the event and the field ("DeliveryCompleted.data.days_supply")
        # or the kind of failure ("bad json"): each of its words must appear in ours.
        words = [w for w in re.split(r"[.\s:]+", want["error"]) if w and w != "data"]
        for word in words:
            assert word.lower() in got["error"].lower(), (
                f"line {got['line']}: {got['error']!r} lacks {word!r}"
            )
