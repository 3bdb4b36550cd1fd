"""What a sidecar's role (``sidecar.role``) lets it do in a fleet of replicas.

Every replica's sidecar takes its own replica's SDK traffic; sources the whole service shares
(dataset files, job events) are checked by one designated sidecar, the checker, so N replicas
neither read each file N times nor count one job run N times. ``all`` (the default) is one
sidecar doing both, for a service of one replica.
"""

from __future__ import annotations

from agent.sidecar.state.agent_state import AgentState
from agent.spec.document import Spec
from agent.spec.objective import Objective

ROLES = ("all", "replica", "checker")
#: why a replica shows no value for an objective on a shared source
CHECKER_REASON = "evaluated by the checker"
ENV = "SLO_AGENT_ROLE"


def polls_datasets(role: str) -> bool:
    return role != "replica"


def takes_job_events(role: str) -> bool:
    return role != "replica"


def refusal(role: str, index: int) -> str:
    """The 409's message for a job event (item ``index``) sent to a replica."""
    return (f"items[{index}]: job events go to the checker sidecar (sidecar.role: checker, or "
            f"{ENV}=checker); this sidecar's role is {role!r} and takes SDK traffic only")


def checker_objectives(spec: Spec) -> frozenset[str]:
    """Objectives this sidecar leaves to the checker: on a replica, those that read a job's
    events or a dataset file the checker polls (objectives on SDK-fed datasets stay here)."""
    if spec.sidecar.role != "replica":
        return frozenset()
    files = {d.name for d in spec.sources.datasets if d.path}
    return frozenset(o.name for o in spec.objectives if _shared(o, files))


def _shared(o: Objective, files: set[str]) -> bool:
    return o.selector.job is not None or (o.selector.dataset is not None
                                           and o.selector.dataset in files)


def forget_shared(state: AgentState, spec: Spec) -> None:
    """On a replica, drop dataset-file and job state a snapshot kept from an earlier role, so
    no replica exports series of a source only the checker reads."""
    if spec.sidecar.role != "replica":
        return
    for d in spec.sources.datasets:
        if d.path:
            state.datasets.pop(d.name, None)
    state.service.jobs.clear()
    state.service.total_runs = 0
