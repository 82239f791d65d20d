"""SQL over a store's snapshots with DuckDB: the ``sql`` viewer (docs/sql.md).

Found by kloset through the ``kloset.viewers`` entry point; ``Store.sql()``, ``Store.query()`` and
``kloset sql`` use it. Installed with ``pip install 'kloset[sql]'``.
"""

from .connection import connect, fetch, interrupt, prepare, prewarm, query

__all__ = ["connect", "fetch", "interrupt", "prepare", "prewarm", "query"]
