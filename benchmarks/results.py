"""Recording benchmark figures: printed, and appended to benchmarks/results.jsonl one JSON object per line."""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.jsonl"


def _commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=RESULTS.parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def record(name: str, value: float, unit: str, baseline_value: float | None = None, **context: Any) -> None:
    figure: dict[str, Any] = {"name": name, "value": round(value, 3), "unit": unit}
    if baseline_value is not None:
        figure["baseline_value"] = round(baseline_value, 3)
    figure.update(context)
    figure["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    figure["commit"] = _commit()
    figure["machine"] = f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}"
    baseline = f" (baseline {baseline_value:,.1f})" if baseline_value is not None else ""
    print(f"  {name}: {value:,.1f} {unit}{baseline}")
    with RESULTS.open("a") as out:
        out.write(json.dumps(figure) + "\n")
