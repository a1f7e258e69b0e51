"""Options shared by `carecoord project`, `rebuild` and `verify`: where Kafka and PostgreSQL are."""

from __future__ import annotations

import argparse
from datetime import date

from carecoord.config import (
    DEFAULT_KAFKA_BOOTSTRAP,
    KAFKA_BOOTSTRAP_ENV,
    READ_MODEL_URL_ENV,
    kafka_bootstrap,
    read_model_url,
)


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
        default=kafka_bootstrap(default=DEFAULT_KAFKA_BOOTSTRAP),
        help=f"Kafka bootstrap servers (default ${KAFKA_BOOTSTRAP_ENV} or {DEFAULT_KAFKA_BOOTSTRAP})",
    )
    parser.add_argument(
        "--postgres-url",
        default=read_model_url(),
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
