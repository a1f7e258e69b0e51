"""Replaying a file on several processes prints exactly what one process prints."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest

import projections.replay as replay_file_module
from benchmarks.generate import history
from projections.core.documents import replay_document
from projections.replay import replay_file

THROUGH = date(2026, 12, 31)


def test_parallel_replay_equals_serial_replay_and_the_in_memory_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small chunks, so that a patient's later episodes wait for chunks still to come.
    monkeypatch.setattr(replay_file_module, "PATIENTS_PER_CHUNK", 7)
    lines = list(history(6_000, 150, seed=3))
    lines.insert(10, '{"event_id": "bad", "event_type": "DoseAdministered"}')  # rejected, line 11
    lines.insert(20, "")  # skipped, yet counted as line 21
    lines += lines[100:300]  # duplicates count once
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")

    outputs = []
    for workers in (1, 2, 3):
        out = io.StringIO()
        episodes = replay_file(path, THROUGH, out, workers=workers)
        outputs.append(out.getvalue())
        assert episodes == 150
    assert outputs[0] == outputs[1] == outputs[2]

    document = json.loads(outputs[0])
    assert document == replay_document(lines, THROUGH)
    assert [r["line"] for r in document["rejected"]] == [11]
    assert sum(e["billable_days"] for e in document["episodes"]) > 1_000
