"""`carecoord demo`: drive the five services through a realistic month and print what they recorded."""

from __future__ import annotations

import argparse
import shutil
from datetime import date
from pathlib import Path

DEFAULT_DATA = Path("var/demo")
DEMO_THROUGH = date(2026, 3, 31)  # the demo's month ends here
MARKER = ".carecoord-demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"data folder for the demo's stores, emptied first (default {DEFAULT_DATA})",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed (default 2026: always the same month)"
    )
    parser.add_argument("--examples", type=int, default=3, help="events shown per service (default 3)")


def run(args: argparse.Namespace) -> int:
    from carecoord.billing_report import billing_report, claims_story
    from carecoord.demo import DEFAULT_SEED, run_demo, summarize

    data_dir: Path = args.data
    if not _fresh(data_dir):
        print(
            f"carecoord demo: {data_dir} is not empty and was not made by the demo; "
            "choose another --data folder"
        )
        return 2
    seed = DEFAULT_SEED if args.seed is None else args.seed
    refused: list[tuple[str, str]] = []
    services = run_demo(data_dir, seed=seed, on_refusal=lambda what, why: refused.append((what, why)))
    try:
        print(f"carecoord demo: March 2026, seed {seed}, stores in {data_dir} (SQLite)\n")
        for line in summarize(services, examples=args.examples):
            print(line)
        print("refused, as they should be (nothing stored):")
        for what, why in refused:
            print(f"  {what}: {why}")
        print()
        for line in billing_report(services, data_dir, DEMO_THROUGH):
            print(line)
        print()
        for line in claims_story(services, data_dir, DEMO_THROUGH):
            print(line)
    finally:
        services.close()
    return 0


def _fresh(data_dir: Path) -> bool:
    from carecoord.config import private_dir, private_file

    """Empty `data_dir` for a new run: only when it is new, empty, or an earlier demo's folder."""
    if data_dir.exists():
        if any(data_dir.iterdir()) and not (data_dir / MARKER).exists():
            return False
        shutil.rmtree(data_dir)
    private_dir(data_dir)
    private_file(data_dir / MARKER).write_text("made by `carecoord demo`; emptied at each run\n")
    return True
