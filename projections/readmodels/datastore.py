"""One database, SQLite or PostgreSQL: its connections, its transactions, and how our SQL is written.

Our SQL is written once, with `?` placeholders and `{p}` for a table prefix; a `SQLCursor` rewrites
it for the database it runs on. Each database has its own `Datastore` subclass (sqlite.py,
postgres.py) that knows how to connect and how to run a transaction there, as the eventsourcing
library's SQLiteDatastore and PostgresDatastore do. The read-model stores use one connection each;
the HTTP API (carecoord/api/db.py, for its own tables) uses one per thread, since FastAPI runs
endpoints on a thread pool and a DB-API connection must not carry two transactions at once.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from types import SimpleNamespace
from typing import Any, ClassVar, Protocol


class Cursor(Protocol):
    """What our SQL code needs of a cursor (a SQLCursor, or a test's stand-in)."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class SQLCursor:
    """A DB-API cursor that takes our SQL: `{p}` becomes the table prefix, `?` the placeholder."""

    def __init__(self, cursor: Any, placeholder: str, prefix: str = "") -> None:
        self._cursor = cursor
        self._placeholder = placeholder
        self.prefix = prefix

    def sql(self, text: str) -> str:
        text = text.replace("{p}", self.prefix)
        return text if self._placeholder == "?" else text.replace("?", self._placeholder)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> SQLCursor:
        self._cursor.execute(self.sql(sql), params)
        return self

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        rows = list(params)
        if rows:
            self._cursor.executemany(self.sql(sql), rows)

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """PostgreSQL COPY of rows into `{p}table` (psycopg adapts each value as for a query)."""
        statement = f"COPY {self.prefix}{table} ({', '.join(columns)}) FROM STDIN"
        with self._cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


class Datastore(ABC):
    """One SQLite file or one PostgreSQL database: one connection, or one per thread."""

    # For code that keeps a schema of its own per database (the API's tables); the read-model
    # stores have a class per database instead.
    dialect: ClassVar[str]
    placeholder: ClassVar[str]

    def __init__(self, *, per_thread: bool = False) -> None:
        self._per_thread = per_thread
        self._holder: Any = self._new_holder()
        self._connections: list[Any] = []
        self._lock = threading.Lock()

    @abstractmethod
    def connect(self) -> Any:
        """A new DB-API connection, in autocommit mode: `transaction` opens each transaction."""

    @abstractmethod
    def _begin(self, connection: Any, *, snapshot: bool) -> AbstractContextManager[Any]:
        """A raw cursor inside a transaction on `connection` that commits when the block ends
        (rolls back when it raises). With `snapshot`, every read in it sees one instant."""

    def connection(self) -> Any:
        """This store's connection (this thread's, when per thread), made when first needed."""
        connection = getattr(self._holder, "connection", None)
        # A PostgreSQL connection lost (the server restarted, the session was terminated) stays
        # closed for good: this store (this thread) opens a new one instead of failing for ever.
        if connection is not None and getattr(connection, "closed", False):
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)
            connection = None
        if connection is None:
            connection = self.connect()
            self._holder.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    @contextmanager
    def transaction(self, prefix: str = "", *, snapshot: bool = False) -> Iterator[SQLCursor]:
        """One transaction: everything inside commits together or not at all."""
        with self._begin(self.connection(), snapshot=snapshot) as cursor:
            yield SQLCursor(cursor, self.placeholder, prefix)

    def cursor(self, raw: Any, prefix: str = "") -> SQLCursor:
        """A DB-API cursor of a transaction someone else owns, taking our SQL."""
        return SQLCursor(raw, self.placeholder, prefix)

    def close(self) -> None:
        """Close every connection; the next transaction connects again."""
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._holder = self._new_holder()

    def _new_holder(self) -> Any:
        return threading.local() if self._per_thread else SimpleNamespace()
