"""`carecoord serve`: run the HTTP API with uvicorn on the configured stores.

The embedded default (SQLite under CARECOORD_DATA) needs nothing else; CARECOORD_POSTGRES_URL
switches every store to PostgreSQL. `--write-openapi PATH` writes the OpenAPI document and exits
(docs/openapi.json is made this way: `carecoord serve --write-openapi docs/openapi.json`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# The service names, without importing the services for `--help`.
SERVICE_NAMES = ("referrals", "assessments", "deliveries", "visits", "complications")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.add_argument(
        "--no-access-log", action="store_true", help="do not print uvicorn's line per request"
    )
    parser.add_argument(
        "--service",
        action="append",
        choices=SERVICE_NAMES,
        metavar="NAME",
        help="serve only this service's commands (repeatable; production runs one process per service)",
    )
    parser.add_argument(
        "--no-queries", action="store_true", help="leave the queries out (a command handler process)"
    )
    parser.add_argument(
        "--write-openapi", type=Path, metavar="PATH", help="write the OpenAPI document to PATH and exit"
    )


def run(args: argparse.Namespace) -> int:
    if args.write_openapi is not None:
        from carecoord.api.app import openapi_document

        args.write_openapi.parent.mkdir(parents=True, exist_ok=True)
        args.write_openapi.write_text(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")
        print(f"carecoord serve: wrote {args.write_openapi}")
        return 0

    import uvicorn

    from carecoord.api.app import create_app
    from carecoord.config import ConfigError, Settings

    try:
        settings = Settings.from_env()
        app = create_app(settings, command_services=args.service, queries_served=not args.no_queries)
    except ConfigError as error:
        print(f"carecoord serve: {error}")
        return 2
    print(
        f"carecoord serve: {settings.store} stores, data in {settings.data_dir}; http://{args.host}:{args.port}"
    )
    try:
        uvicorn.run(
            app, host=args.host, port=args.port, log_level=args.log_level, access_log=not args.no_access_log
        )
    finally:
        app.state.close()
    return 0
