"""The `carecoord` console script: one sub-command per module, each with its own --help.

Sub-commands are imported lazily so that `carecoord replay` does not pay for FastAPI or Kafka.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module, one-line help). Each module has `add_arguments(parser)` and `run(args) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "schema": ("carecoord.commands.schema", "write the JSON Schema of the event contract"),
    "replay": ("carecoord.commands.replay", "rebuild the billing read models from a history file"),
    "claims": ("carecoord.commands.claims", "a period's claims from a history file: what to submit, and why"),
    "worklist": ("carecoord.commands.worklist", "the coordinator's worklist for a day, from a history file"),
    "export": (
        "carecoord.commands.export",
        "write the services' stored events as a history file (JSON Lines)",
    ),
    "demo": ("carecoord.commands.demo", "drive the five services through a realistic month"),
    "relay": ("carecoord.commands.relay", "publish the services' stored events to Kafka (the outbox relay)"),
    "asyncapi": ("carecoord.commands.asyncapi", "write the AsyncAPI document of every topic and message"),
    "project": ("carecoord.commands.project", "projection consumers: Kafka to the read models in PostgreSQL"),
    "rebuild": ("carecoord.commands.rebuild", "rebuild the read models from offset zero and swap them in"),
    "verify": ("carecoord.commands.verify", "compare the live read models with a rebuild from offset zero"),
    "serve": ("carecoord.commands.serve", "run the HTTP API on the configured stores"),
    "status": (
        "carecoord.commands.status",
        "a running deployment's outbox and consumer lags, dead letters, positions (a health check)",
    ),
    "token": ("carecoord.commands.token", "mint a bearer token signed by the local key, for local use"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the chosen command's module is imported (others are listed by name)."""
    parser = argparse.ArgumentParser(
        prog="carecoord",
        description="Care coordination and S9363 per-diem billing for home infusion pharmacies.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, summary) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=summary, description=summary)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(command_parser)
            command_parser.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    return int(args._module.run(args))


if __name__ == "__main__":
    sys.exit(main())
