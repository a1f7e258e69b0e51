"""Whether an SQLite store changed since a moment, without reading it: `PRAGMA data_version`.

On the embedded default every following service's directory catches up on the referrals store
before each command. Reading its notification log when nothing was stored costs a read transaction
and a query (~45 us of CPU of a ~300 us command served over HTTP); SQLite's `data_version`, asked on
a connection of its own, answers "has any other connection committed since I last asked" in ~2 us,
for writers in this process and in others alike (https://sqlite.org/pragma.html#pragma_data_version).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class DataVersion:
    """`version()`: a number that changes whenever another connection commits to the database."""

    def __init__(self, path: str | Path) -> None:
        # Read-only, and never used for anything else: its own commits would not count.
        self._connection = sqlite3.connect(
            f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            (version,) = self._connection.execute("PRAGMA data_version").fetchone()
        return int(version)

    def close(self) -> None:
        with self._lock:
            self._connection.close()
