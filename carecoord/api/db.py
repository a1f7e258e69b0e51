"""Where the API keeps its own tables (access log, idempotency keys) and how it opens the read models.

Embedded default: the API's tables in `<data>/api.sqlite3`, the read models in
`<data>/projections.sqlite3`. With PostgreSQL: both in the configured database and schema
(`api_*` and `rm_*` tables). Connections, transactions, `?` placeholders and SQLite's PRAGMAs are
the read-model shell's (projections/readmodels/datastore.py, sqlite.py, postgres.py), one layer
for both; the API's own tables take a connection per thread, since FastAPI runs endpoints on a
thread pool and one DB-API connection must not carry two transactions at once.
"""

from __future__ import annotations

from carecoord.config import PostgresSettings, Settings, private_file
from projections.readmodels.datastore import Datastore
from projections.readmodels.postgres import PostgresDatastore, PostgresReadModelStore
from projections.readmodels.sqlite import SQLiteDatastore, SQLiteReadModelStore
from projections.readmodels.store import ReadModelStore

API_SQLITE = "api.sqlite3"
READ_MODEL_SQLITE = "projections.sqlite3"


def postgres_conninfo(pg: PostgresSettings) -> str:
    from psycopg.conninfo import make_conninfo

    options = {"options": f"-c search_path={pg.schema}"} if pg.schema else {}
    return make_conninfo(
        host=pg.host, port=pg.port, dbname=pg.dbname, user=pg.user, password=pg.password, **options
    )


def api_database(settings: Settings) -> Datastore:
    """The database of the API's own tables, a connection per thread."""
    if settings.postgres:
        return PostgresDatastore(postgres_conninfo(settings.postgres), per_thread=True)
    return SQLiteDatastore(private_file(settings.data_dir / API_SQLITE), per_thread=True)


def read_model_store(settings: Settings, *, per_thread: bool = False) -> ReadModelStore:
    """A new read-model store on the configured database: its own connection, or one per thread."""
    if settings.postgres:
        return PostgresReadModelStore(postgres_conninfo(settings.postgres), per_thread=per_thread)
    return SQLiteReadModelStore(private_file(settings.data_dir / READ_MODEL_SQLITE), per_thread=per_thread)
