"""A dataset's contract run by Great Expectations against its SQL database (``sql:
great_expectations: true``): GX's SQL datasource over the poll's window as a query, so GX's own
aggregate queries run in the database, under the same read-only session and statement timeout
the sidecar's queries have. Column types are checked natively (``detectors.contract``).
"""

from __future__ import annotations

import os
from typing import Any

from agent.sidecar.collectors.stores.sql_tables import SqlStore, StoreError


def window_query(store: SqlStore, selectable: Any, where: Any) -> str:
    """The window's rows as one SQL text with its bounds inlined (GX takes a query string)."""
    import sqlalchemy as sa

    engine = store.engine()
    stmt = sa.select(sa.text("*")).select_from(selectable).where(where)
    return str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def validate_on_database(store: SqlStore, selectable: Any, where: Any,
                         contract: dict[str, Any], dataset: str, now: float) -> Any:
    from sqlalchemy.pool import NullPool

    from detectors.contract import ContractReport, ephemeral_context, validate_batch

    url = os.environ.get(store.source.url_env, "")
    if not url:
        raise StoreError(f"environment variable {store.source.url_env} is not set")
    engine = store.engine()
    args: dict[str, Any] = {"poolclass": NullPool}
    if engine.dialect.name == "postgresql":
        ms = int(store.source.timeout * 1000)
        args["connect_args"] = {"options": f"-c statement_timeout={ms} "
                                "-c default_transaction_read_only=on -c TimeZone=UTC"}
    context = ephemeral_context()
    source = context.data_sources.add_sql(name=f"{dataset}-sql", connection_string=url,
                                          create_temp_table=False, kwargs=args)
    asset = source.add_query_asset(name=dataset, query=window_query(store, selectable, where))
    batch = asset.add_batch_definition_whole_table("window").get_batch()
    outcomes = validate_batch(batch, contract, dataset, now)
    return ContractReport(dataset, 0, tuple(outcomes))
