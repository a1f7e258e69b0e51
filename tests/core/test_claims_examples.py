"""Every example of shared/examples/claims, through the CLI entry (`carecoord.cli.main`), prints its
expected document: every field of every claim and the line numbers of `rejected` (error texts are free).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carecoord.cli import main

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "examples" / "claims"
INDEX = EXAMPLES / "index.json"
MISSING = (
    f"shared/examples/claims not found at {EXAMPLES} (the folder `shared` beside the repository); "
    "the claims examples are the acceptance tests of shared/claims.md and must be present"
)
CLAIM_FIELDS = ("episode_id", "patient_ref", "payer_id", "action", "replaces", "lines", "submitted_lines")
LINE_FIELDS = ("code", "from", "to", "units", "authorization")


def _cases() -> list[Any]:
    if not INDEX.is_file():
        return [pytest.param(None, id="claims-examples-missing")]
    return [pytest.param(case, id=case["name"]) for case in json.loads(INDEX.read_text())]


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The fields the examples' README asks to compare, each present and nothing else."""
    assert set(document) == {"period", "as_of", "claims", "rejected"}, sorted(document)
    claims = []
    for claim in document["claims"]:
        assert set(claim) == set(CLAIM_FIELDS), sorted(claim)
        for name in ("lines", "submitted_lines"):
            for item in claim[name]:
                assert set(item) == set(LINE_FIELDS), item  # each line with exactly the five fields
        claims.append(claim)
    rejected = [(item["line"], item["event_id"]) for item in document["rejected"]]
    return {"period": document["period"], "as_of": document["as_of"], "claims": claims, "rejected": rejected}


def test_the_claims_examples_are_present_and_indexed() -> None:
    if not INDEX.is_file():
        pytest.fail(MISSING)
    listed = {case["history"] for case in json.loads(INDEX.read_text())}
    on_disk = {path.name for path in EXAMPLES.glob("*.jsonl")}
    assert listed == on_disk and listed, f"index.json and the .jsonl files differ: {sorted(listed ^ on_disk)}"


@pytest.mark.parametrize("case", _cases())
def test_example_prints_its_expected_claims(
    case: dict[str, Any] | None, capsys: pytest.CaptureFixture[str]
) -> None:
    if case is None:
        pytest.fail(MISSING)
    argv = ["claims", str(EXAMPLES / case["history"]), "--period", case["period"]]
    if case.get("as_of") is not None:
        argv += ["--as-of", case["as_of"]]
    if case.get("through") is not None:
        argv += ["--through", case["through"]]
    status = main([*argv, "--json"])
    out = capsys.readouterr().out
    assert status == 0, f"{case['command']} exited {status}"
    expected = json.loads((EXAMPLES / case["expected"]).read_text())
    assert comparable(json.loads(out)) == comparable(expected)
    for item in json.loads(out)["rejected"]:
        assert isinstance(item["error"], str) and item["error"]


@pytest.mark.parametrize("case", _cases())
def test_example_reads_as_a_report_too(
    case: dict[str, Any] | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --json: one block per claim, with its action."""
    if case is None:
        pytest.fail(MISSING)
    assert main(["claims", str(EXAMPLES / case["history"]), "--period", case["period"]]) == 0
    out = capsys.readouterr().out
    expected = json.loads((EXAMPLES / case["expected"]).read_text())
    for claim in expected["claims"]:
        header = next(row for row in out.splitlines() if row.startswith(claim["episode_id"] + " "))
        assert claim["action"] in header and (claim["replaces"] or "") in header
