"""`carecoord serve`: run the HTTP API with uvicorn on the configured stores.

The embedded default (SQLite under CARECOORD_DATA) needs nothing else; CARECOORD_POSTGRES_URL
switches every store to PostgreSQL. `--write-openapi PATH` writes the OpenAPI document and exits
(docs/openapi.json is made this way: `carecoord serve --write-openapi docs/openapi.json`).

`--workers N` runs N worker processes on one port, each with its own services and connections:
commands run one at a time in a worker (see carecoord/api/commands.py), so N workers overlap N.
It needs CARECOORD_API_INLINE_PROJECTION=0 (the read models kept by the projection consumers):
one projector per worker would write the same read models.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from events import SERVICE_NAMES


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
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes (default 1); more than one needs CARECOORD_API_INLINE_PROJECTION=0",
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

    from carecoord.api.app import create_app, inline_projection_from_env
    from carecoord.config import INLINE_PROJECTION_ENV, ConfigError, Settings, hand_serve_worker_options

    if args.workers < 1:
        print("carecoord serve: --workers must be at least 1")
        return 2
    if args.workers > 1 and inline_projection_from_env():
        print(
            f"carecoord serve: --workers {args.workers} needs {INLINE_PROJECTION_ENV}=0 "
            "(the read models kept by the projection consumers, not by each worker)"
        )
        return 2
    try:
        settings = Settings.from_env()
        # Built here even with workers: the stores' tables and the local keys are made once, before
        # the workers start together.
        app = create_app(settings, command_services=args.service, queries_served=not args.no_queries)
    except ConfigError as error:
        print(f"carecoord serve: {error}")
        return 2
    print(
        f"carecoord serve: {settings.store} stores, data in {settings.data_dir}; http://{args.host}:{args.port}"
        + (f" ({args.workers} workers)" if args.workers > 1 else "")
    )
    options: dict[str, Any] = dict(
        host=args.host, port=args.port, log_level=args.log_level, access_log=not args.no_access_log
    )
    if args.workers > 1:
        import shutil

        from carecoord.config import use_metrics_multiprocess_folder

        app.state.close()
        worker_options = {"services": args.service, "queries": not args.no_queries}
        hand_serve_worker_options(json.dumps(worker_options))
        # Every worker's metrics on each worker's /metrics: the workers (spawned, so they import
        # prometheus_client afresh) write them to one folder, which any of them adds up.
        metrics_folder = use_metrics_multiprocess_folder()
        try:
            uvicorn.run(f"{__name__}:worker_app", factory=True, workers=args.workers, **options)
        finally:
            shutil.rmtree(metrics_folder, ignore_errors=True)
        return 0
    try:
        uvicorn.run(app, **options)
    finally:
        app.state.close()
    return 0


def worker_app() -> Any:
    """The app of one worker process (uvicorn calls this in each); closed when the worker stops."""
    from carecoord.api.app import create_app
    from carecoord.config import Settings, serve_worker_options

    options = json.loads(serve_worker_options())
    settings = Settings.from_env()
    with one_process_at_a_time(settings.data_dir):
        return create_app(
            settings,
            command_services=options.get("services"),
            queries_served=options.get("queries", True),
            close_on_shutdown=True,
        )


@contextmanager
def one_process_at_a_time(data_dir: Path) -> Iterator[None]:
    """Opening the stores one process at a time (a file lock in the data folder): each application
    (re)creates its tables and functions when it opens, and PostgreSQL refuses two concurrent
    CREATE OR REPLACE FUNCTION ("tuple concurrently updated")."""
    import fcntl

    from carecoord.config import private_file

    with private_file(data_dir / "startup.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
