"""Data stores the sidecar reads datasets from, one module per store, each answering the same
question with the same aggregates (:mod:`.aggregates`): rows, null counts, the newest event time,
the schema, counts per category and per reference quantile bin, allowed-value counts.

:mod:`.duckdb_files` computes them on parquet and CSV files with DuckDB (the file is scanned,
never loaded whole); :mod:`.sql_tables` pushes them down to a SQL database through SQLAlchemy,
read-only and with a statement timeout, :mod:`.sql_contract` runs a contract through Great
Expectations against the same database, and :mod:`.sql_position` keeps where a
``since_last_poll`` window stands in the snapshot. Part of the ``collectors`` room: may import
``state``, ``ingest``, ``judge``, ``detectors`` and the spec, never the lifecycle or ``http``.
"""
