"""Where the API keeps its own tables (access log, idempotency keys) and how it opens the read models.

Embedded default: the API's tables in `<data>/api.sqlite3`, the read models in
`<data>/projections.sqlite3`. With PostgreSQL: both in the configured database and schema
(`api_*` and `rm_*` tables). Connections are per thread: FastAPI runs endpoints on a thread pool,
and one DB-API connection must not carry two transactions at once.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from carecoord.config import PostgresSettings, Settings
from projections.readmodels.store import ReadModelStore

API_SQLITE = "api.sqlite3"
READ_MODEL_SQLITE = "projections.sqlite3"


def postgres_conninfo(pg: PostgresSettings) -> str:
    from psycopg.conninfo import make_conninfo

    options = {"options": f"-c search_path={pg.schema}"} if pg.schema else {}
    return make_conninfo(
        host=pg.host, port=pg.port, dbname=pg.dbname, user=pg.user, password=pg.password, **options
    )


def read_model_store(settings: Settings) -> ReadModelStore:
    """A new read-model store (its own connection) on the configured database."""
    if settings.postgres:
        return ReadModelStore.postgres(postgres_conninfo(settings.postgres))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return ReadModelStore.sqlite(settings.data_dir / READ_MODEL_SQLITE)


class Cursor:
    """A DB-API cursor that takes `?` placeholders in either dialect."""

    def __init__(self, cursor: Any, dialect: str) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        self._cursor.execute(sql.replace("?", "%s") if self._dialect == "postgres" else sql, params)
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._cursor.executemany(sql.replace("?", "%s") if self._dialect == "postgres" else sql, rows)

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)


class Database:
    """One SQLite file or one PostgreSQL database, a connection per thread."""

    def __init__(self, connect: Callable[[], Any], dialect: str) -> None:
        self._connect = connect
        self.dialect = dialect
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> Database:
        if settings.postgres:
            conninfo = postgres_conninfo(settings.postgres)

            def connect_pg() -> Any:
                import psycopg

                return psycopg.connect(conninfo, autocommit=True)

            return cls(connect_pg, "postgres")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = settings.data_dir / API_SQLITE

        def connect_sqlite() -> sqlite3.Connection:
            connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA busy_timeout=10000")
            return connection

        return cls(connect_sqlite, "sqlite")

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        # A PostgreSQL connection lost (the server restarted, the session was terminated) stays
        # closed for good: this thread opens a new one instead of failing for ever.
        if connection is not None and getattr(connection, "closed", False):
            with self._lock:
                self._all.remove(connection)
            connection = None
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        connection = self._connection()
        if self.dialect == "sqlite":
            raw = connection.cursor()
            raw.execute("BEGIN IMMEDIATE")
            try:
                yield Cursor(raw, "sqlite")
            except BaseException:
                raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")
        else:
            with connection.transaction(), connection.cursor() as raw:
                yield Cursor(raw, "postgres")

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()
        self._local = threading.local()
