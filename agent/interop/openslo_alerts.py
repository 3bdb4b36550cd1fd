"""OpenSLO alerting → burn-rate tiers: ``AlertPolicy``s (inline or by reference) and their
``AlertCondition``s (inline or by reference) of kind ``burnrate``, and slo-agent's own
annotations that carry what OpenSLO has no field for (the exporter writes the same keys)."""

from __future__ import annotations

from typing import Any, Protocol

from agent.interop.common import as_list, as_map, tier_entry

#: slo-agent's own annotations (OpenSLO leaves implementation metadata to annotations): the burn
#: alerts' name on an SLO, and a tier's short window on its AlertCondition (OpenSLO conditions
#: have one lookback window; ``alertAfter`` is how long the burn must last, the tier's ``for``)
ALERT_NAME, SHORT_WINDOW = "slo-agent/alert-name", "slo-agent/short-window"
NAME, SERVICE = "slo-agent/name", "slo-agent/service"     # where a name is no RFC 1123 label
#: an alert annotation (``slo-agent/annotation.summary``), and the absent-data alert of an SLO
#: without burn-rate policies (no policy says alertWhenNoData then)
ANNOTATION, NO_DATA = "slo-agent/annotation.", "slo-agent/no-data-alert"


# --- import ---------------------------------------------------------------------------------
_SEVERITY = {"critical": "critical", "page": "critical", "high": "critical"}


class Reader(Protocol):
    notes: list[str]

    def problem(self, at: str, message: str) -> None: ...

    def named(self, kind: str, ref: Any) -> tuple[str, dict[str, Any]] | None: ...


def flat(labels: Any) -> dict[str, str]:
    """OpenSLO labels (a value may be a list) as Prometheus labels."""
    if not isinstance(labels, dict):
        return {}
    return {str(k): ",".join(map(str, v)) if isinstance(v, list) else str(v)
            for k, v in labels.items()}


def alert_annotations(doc: dict[str, Any]) -> dict[str, str]:
    meta = doc.get("metadata")
    ann = meta.get("annotations") if isinstance(meta, dict) else None
    return {k[len(ANNOTATION):]: str(v) for k, v in as_map(ann).items()
            if isinstance(k, str) and k.startswith(ANNOTATION)}


def annotation(doc: dict[str, Any], key: str) -> Any:
    meta = doc.get("metadata")
    ann = meta.get("annotations") if isinstance(meta, dict) else None
    return ann.get(key) if isinstance(ann, dict) else None


def tiers_of(r: Reader, spec: dict[str, Any], window: str, at: str
           ) -> tuple[list[dict[str, Any]], bool]:
    """The SLO's burn-rate conditions as tiers (none when it has no alert policy: nothing is
    invented), and whether any policy asks for an alert on missing data."""
    tiers: list[dict[str, Any]] = []
    no_data = False
    for i, ref in enumerate(as_list(spec.get("alertPolicies"))):
        pat = f"{at}[{i}]"
        if isinstance(ref, dict) and ref.get("kind") == "AlertPolicy":
            policy = ref
        else:
            key = ref.get("alertPolicyRef") if isinstance(ref, dict) else ref
            found = r.named("AlertPolicy", key)
            if found is None:
                r.problem(pat, f"no AlertPolicy named {key!r}")
                continue
            pat, policy = found
        pspec = as_map(policy.get("spec"))
        no_data = no_data or bool(pspec.get("alertWhenNoData"))
        if pspec.get("notificationTargets"):
            r.notes.append(f"{pat}.spec.notificationTargets: not imported; route the alerts "
                           "with Alertmanager (slo-agent generate writes an example)")
        for j, cond in enumerate(as_list(pspec.get("conditions"))):
            cat_ = f"{pat}.spec.conditions[{j}]"
            if isinstance(cond, dict) and "conditionRef" in cond:
                found = r.named("AlertCondition", cond["conditionRef"])
                if found is None:
                    r.problem(cat_, f"no AlertCondition named {cond['conditionRef']!r}")
                    continue
                cat_, cond = found
            cspec = as_map(cond).get("spec") or {}
            c = as_map(cspec.get("condition"))
            if c.get("kind") != "burnrate" or c.get("op", "gt") not in ("gt", "gte"):
                r.problem(f"{cat_}.condition", "only burnrate conditions with op gt/gte map "
                          "onto burn-rate tiers")
                continue
            severity = _SEVERITY.get(str(cspec.get("severity", "")).lower(), "warning")
            meta = as_map(as_map(cond).get("metadata"))
            try:
                tier = tier_entry(
                    str(meta.get("name") or f"tier-{j}"), float(c["threshold"]),
                    str(c["lookbackWindow"]), annotation(cond, SHORT_WINDOW),
                    window, severity, c.get("alertAfter"))
                labels, annotations = flat(meta.get("labels")), alert_annotations(cond)
                tiers.append({**tier, **({"labels": labels} if labels else {}),
                              **({"annotations": annotations} if annotations else {})})
            except (KeyError, TypeError) as exc:
                r.problem(f"{cat_}.condition", f"needs threshold and lookbackWindow ({exc})")
            except ValueError as exc:
                r.problem(f"{cat_}.condition", str(exc))
    return tiers, no_data
