"""`carecoord schema OUTDIR`: the contract as JSON Schema documents."""

from __future__ import annotations

import argparse
from pathlib import Path

from events.schema import write_schemas


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outdir", type=Path, help="folder to write one .schema.json per event type into")


def run(args: argparse.Namespace) -> int:
    for path in write_schemas(args.outdir):
        print(path)
    return 0
