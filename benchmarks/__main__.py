"""`make bench`: run the benchmarks, print their figures and append them to results.jsonl."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

# name -> module with `run(workdir)`; each prints its figures and records them.
BENCHMARKS = {
    "replay": "benchmarks.replay",
    "relay": "benchmarks.relay",
    "projection": "benchmarks.projection",
    "freshness": "benchmarks.freshness",
    "http": "benchmarks.http",
    "worklist": "benchmarks.worklist",
    "worklist_api": "benchmarks.worklist_api",
    "claims": "benchmarks.claims",
    "recompute": "benchmarks.recompute",
    "ledger": "benchmarks.ledger",
    "stages": "benchmarks.stages",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("var/bench"))
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(BENCHMARKS)}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    for name in args.names or list(BENCHMARKS):
        print(f"== {name}")
        importlib.import_module(BENCHMARKS[name]).run(args.workdir)


if __name__ == "__main__":
    main()
