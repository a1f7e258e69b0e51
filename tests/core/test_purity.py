"""The pure core reads no clock and touches no file: what import-linter cannot see (it checks
imports, and `datetime` is needed for dates) is checked here on the code itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "projections" / "core"

# Calls that read the clock or the outside world, by the name they are called as.
FORBIDDEN_CALLS = {"now", "today", "utcnow", "time", "monotonic", "perf_counter", "open", "input", "print"}


def forbidden_calls(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in FORBIDDEN_CALLS:
                found.append(f"line {node.lineno}: {name}()")
    return found


@pytest.mark.parametrize("module", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_the_core_reads_no_clock_and_opens_nothing(module: Path) -> None:
    assert forbidden_calls(module.read_text()) == []


def test_the_check_finds_a_clock_read() -> None:
    assert forbidden_calls("from datetime import date\nx = date.today()\n") == ["line 2: today()"]
