"""Every worklist example in shared/examples/worklist, run through `carecoord worklist --json`, gives
its expected items (episode_id, patient_ref, kind, due, key, in order) and rejected line numbers.
`detail` and `rejected[].error` are free text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carecoord.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = (REPO / ".." / "shared" / "examples" / "worklist").resolve()
INDEX = EXAMPLES / "index.json"
ITEM_FIELDS = ("episode_id", "patient_ref", "kind", "due", "key")


def _cases() -> list[Any]:
    if not INDEX.is_file():
        return [pytest.param(None, id="worklist-examples-missing")]
    return [pytest.param(case, id=case["name"]) for case in json.loads(INDEX.read_text())]


def _items(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(item[field] for field in ITEM_FIELDS) for item in document["items"]]


@pytest.mark.parametrize("case", _cases())
def test_example(case: dict[str, Any] | None, capsys: pytest.CaptureFixture[str]) -> None:
    if case is None:
        pytest.fail(
            f"worklist examples not found at {EXAMPLES} (expected the folder `shared` beside the "
            f"repository folder {REPO}); they are the worklist's acceptance tests and must be present"
        )
    argv = ["worklist", str(EXAMPLES / case["history"]), "--today", case["today"], "--json"]
    if case["as_of"] is not None:
        argv += ["--as-of", case["as_of"]]

    assert main(argv) == 0
    got = json.loads(capsys.readouterr().out)
    expected = json.loads((EXAMPLES / case["expected"]).read_text())

    assert (got["today"], got["as_of"]) == (expected["today"], expected["as_of"])
    assert _items(got) == _items(expected)
    assert all(isinstance(item["detail"], str) and item["detail"] for item in got["items"])
    assert [r["line"] for r in got["rejected"]] == [r["line"] for r in expected["rejected"]]
    assert [r["event_id"] for r in got["rejected"]] == [r["event_id"] for r in expected["rejected"]]


def test_every_example_is_listed_in_the_index() -> None:
    if not INDEX.is_file():
        pytest.fail(f"worklist examples not found at {EXAMPLES}")
    listed = {case["history"] for case in json.loads(INDEX.read_text())}
    assert listed == {path.name for path in EXAMPLES.glob("*.jsonl")}
