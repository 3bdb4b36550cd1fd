"""Dashboard variables, offered only where a query uses them (a variable that filters nothing is a
lie on the page), and the common finish of every dashboard: panels placed, shared crosshair."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, QueryVariable
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    VariableRefresh,
    VariableSort,
)

from agent import catalogue as cat
from agent.spec.document import Spec
from dashboards.panels import DATASOURCE, Grid, used_variables


def variables(spec: Spec) -> dict[str, Any]:
    """Every variable a dashboard may offer, by name: data source, model, version, instance."""
    svc = cat.label_matchers({cat.SERVICE_LABEL: spec.service})
    out: dict[str, Any] = {
        "datasource": DatasourceVariable("datasource").label("Data source").type("prometheus")}
    for name, source, what in (
            ("model", f"{cat.REQUESTS.name}{svc}", "models the SDK reported"),
            ("version", f"{cat.REQUESTS.name}{svc}", "model versions the SDK reported"),
            ("instance", svc, "scrape targets (service replicas and their sidecars)")):
        out[name] = (QueryVariable(name).label(name.capitalize()).datasource(DATASOURCE)
                     .description(f"Narrows the panels whose series carry it: {what}")
                     .query(f"label_values({source}, {name})").include_all(True)
                     .all_value(".*").multi(True).refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
                     .sort(VariableSort.ALPHABETICAL_ASC))
    return out


def finish(dash: Dashboard, spec: Spec, panels: Sequence[Any], first_id: int = 1,
           rows: dict[int, Any] | None = None) -> Dashboard:
    """Place panels left to right (``rows``: a row header before the panel at that index), then
    add the variables the panels use and a shared crosshair."""
    grid = Grid()
    for i, panel in enumerate(panels):
        if rows and i in rows:
            dash = dash.with_row(rows[i].id(1000 + first_id + i).grid_pos(grid.row()))
        dash = dash.with_panel(panel.id(first_id + i).grid_pos(grid.place(panel)))
    used = used_variables(dash)
    for name, var in variables(spec).items():
        if name in used:
            dash = dash.with_variable(var)
    return dash.tooltip(DashboardCursorSync.CROSSHAIR)
