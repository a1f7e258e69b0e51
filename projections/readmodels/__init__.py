"""The read-model shell: the SQL around the pure core, in SQLite (embedded) or PostgreSQL.

- datastore.py: one database's connections and transactions, and our SQL (`?`, `{p}`) rewritten
  for it; the API's own tables use it too.
- tables.py: the `rm_` tables' schema, and every query that reads them.
- store.py: ReadModelStore, the abstract store: what both databases write alike, and the abstract
  methods each does its own way, implemented in sqlite.py and postgres.py.
- caches.py: what a writer remembers between batches (parsed events, views written).
- writer.py: the one write path (a batch in one transaction; drain; the daily refresh).
- projector.py: the embedded projector, following the services' notification logs.
"""
