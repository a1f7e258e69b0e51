"""A command's look at the referrals stream, folded into the command's own transaction (PostgreSQL).

A service that follows the episodes must see every referral, decline and discontinuation stored
before a command. Read plainly, that is one SELECT of the referrals table after the directory's
position before every command: on PostgreSQL a round trip on another connection, measured at
~150-300 us of wall time and ~90 us of CPU, against ~750 us for the save itself.

When the episode source is the referrals application's own table in the same database (the
non-Kafka PostgreSQL setup), a command may instead run first on what its directory already knows,
and let its save carry the position that knowledge was read at (`referrals_after`). The recorder
below then adds to the save's own transaction, last in the same pipeline and so without another
round trip, a call that fails the transaction when the referrals table holds anything after that
position. Nothing is stored then, and the command runs again after catching up, exactly as a
command always did (`command` in services/common/application.py). In READ COMMITTED the call's
snapshot is taken after the command began, so every referral committed before the command is
either known to the directory or fails the fence. The library's table lock on insert makes notification ids
commit in order, so "nothing after the position" means nothing stored since.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import PersistenceError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

# The referrals service's events table: ReferralsApplication.name + "_events", as the library names it.
REFERRALS_TABLE = "referrals_events"
FENCE_FUNCTION = "carecoord_referrals_unchanged_after"
# The SQLSTATE the fence raises (class "CC", not one PostgreSQL uses), so that it cannot be taken for
# any other failure of the save.
REFERRALS_MOVED_SQLSTATE = "CC001"


class ReferralsMoved(Exception):
    """The referrals stream has events the command did not see: it stored nothing and runs again."""


class ReferralsFencedRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder, whose insert can also check the referrals table's position."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        schema = Identifier(datastore.schema)
        function = Identifier(FENCE_FUNCTION)
        # Created with the tables, as the library creates its own functions (CREATE OR REPLACE: every
        # following service's recorder makes the same one). max() and not EXISTS (... > after): the
        # function's cached generic plan for `> after` guesses a third of the table and scans it
        # (~110 us against ~30 us measured); max() is one step down the notification_id index.
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}(after bigint) RETURNS void "
                "LANGUAGE plpgsql AS $body$ BEGIN "
                "IF (SELECT max(notification_id) FROM {schema}.{referrals}) > after THEN "
                "RAISE EXCEPTION 'referrals stored after position %', after "
                "USING ERRCODE = {sqlstate}; "
                "END IF; END $body$"
            ).format(
                schema=schema,
                function=function,
                referrals=Identifier(REFERRALS_TABLE),
                sqlstate=REFERRALS_MOVED_SQLSTATE,
            )
        )
        self._fence_statement = SQL("SELECT {schema}.{function}(%s)").format(schema=schema, function=function)

    def _insert_stored_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        *,
        referrals_after: int | None = None,
        **kwargs: Any,
    ) -> None:
        super()._insert_stored_events(curs, stored_events, **kwargs)
        if referrals_after is not None:
            # Last in the pipeline, after the lock and the insert: a statement that fails aborts the
            # rest of its pipeline, and psycopg would then take statements it meant to prepare there
            # for prepared ("prepared statement ... does not exist" on the next save). Its own cursor:
            # the library reads the inserted rows' notification ids from `curs`.
            with curs.connection.cursor() as fence:
                fence.execute(self._fence_statement, (referrals_after,), prepare=True)


def is_referrals_moved(error: PersistenceError) -> bool:
    """Whether a failed save was refused by the fence (the library wraps psycopg's error)."""
    return getattr(error.__cause__, "sqlstate", None) == REFERRALS_MOVED_SQLSTATE
