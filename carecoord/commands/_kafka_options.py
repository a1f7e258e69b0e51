"""Options shared by `carecoord project`, `rebuild` and `verify`: where Kafka and PostgreSQL are."""

from __future__ import annotations

import argparse
import os
from datetime import date

BOOTSTRAP_ENV = "CARECOORD_KAFKA_BOOTSTRAP"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
READ_MODEL_URL_ENV = "CARECOORD_READ_MODEL_URL"  # falls back to CARECOORD_POSTGRES_URL


def through_date(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get(BOOTSTRAP_ENV, DEFAULT_BOOTSTRAP),
        help=f"Kafka bootstrap servers (default ${BOOTSTRAP_ENV} or {DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(READ_MODEL_URL_ENV) or os.environ.get("CARECOORD_POSTGRES_URL"),
        help=f"PostgreSQL of the read models (default ${READ_MODEL_URL_ENV}, else $CARECOORD_POSTGRES_URL)",
    )
    parser.add_argument("--prefix", default="rm_", help="table name prefix of the live read models (rm_)")
    parser.add_argument(
        "--topic-prefix",
        default=None,
        help="put in front of every topic name (default $CARECOORD_TOPIC_PREFIX, else none)",
    )


def require_url(args: argparse.Namespace, command: str) -> str | None:
    if not args.postgres_url:
        print(
            f"carecoord {command}: no PostgreSQL for the read models: pass --postgres-url or set "
            f"{READ_MODEL_URL_ENV} or CARECOORD_POSTGRES_URL"
        )
        return None
    return str(args.postgres_url)


def valid_prefix(prefix: str) -> bool:
    return (
        bool(prefix) and prefix.replace("_", "a").isalnum() and prefix.islower() and not prefix[0].isdigit()
    )
