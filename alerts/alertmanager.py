"""The Alertmanager configuration for the generated alerts: one incident is one notification per
receiver. Alerts are grouped by service and objective (``alerting.notify.group_by``), so an
objective's burn and threshold alerts travel together; critical goes to a pager receiver, warning to
a chat receiver (webhooks to replace with PagerDuty/Slack/... configs), and inhibition keeps only
the alert that says most:

- a service that went silent (the service-wide NoData alert) quiets all its other alerts;
- an objective's critical alert quiets its warnings (threshold warning, ticket tiers, NoData);
- a burn page quiets the objective's critical threshold alert (the page carries the burn);
- a faster tier quiets slower tiers of the same severity (they would only repeat it later).
"""

from __future__ import annotations

from typing import Any

from agent.sli import plans
from agent.spec.document import Spec
from agent.units import format_duration
from alerts.rules import SCOPE_LABEL, SERVICE_SCOPE, TIER_LABEL

_IDENTITY = ["service", "objective"]


def tier_order(spec: Spec) -> list[tuple[str, list[str]]]:
    """(tier, the slower tiers of its severity it quiets) for every tier that has any. A pair
    counts only where every objective that uses both tiers orders them the same way (a shorter
    long window first), so two tiers can never quiet each other."""
    faster: set[tuple[str, str]] = set()
    seen: list[str] = []
    for p in plans(spec):
        for a in p.tiers:
            if a.name not in seen:
                seen.append(a.name)
            for b in p.tiers:
                if a.name != b.name and a.severity == b.severity and (a.long, a.short) < (
                        b.long, b.short):
                    faster.add((a.name, b.name))
    out = []
    for name in seen:
        slower = [b for b in seen if (name, b) in faster and (b, name) not in faster]
        if slower:
            out.append((name, slower))
    return out


def inhibit_rules(spec: Spec) -> list[dict[str, Any]]:
    tier = TIER_LABEL
    rules: list[dict[str, Any]] = [
        {"source_matchers": [f'{SCOPE_LABEL}="{SERVICE_SCOPE}"'],
         "target_matchers": [f'{SCOPE_LABEL}!="{SERVICE_SCOPE}"'], "equal": ["service"]},
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
         "equal": list(_IDENTITY)},
        {"source_matchers": ['severity="critical"', f'{tier}=~".+"'],
         "target_matchers": ['severity="critical"', f'{tier}=""'], "equal": list(_IDENTITY)},
    ]
    for name, slower in tier_order(spec):
        rules.extend({"source_matchers": [f'{tier}="{name}"'],
                      "target_matchers": [f'{tier}="{other}"'], "equal": list(_IDENTITY)}
                     for other in slower)
    return rules


def config(spec: Spec, pager_url: str = "http://127.0.0.1:9095/pager",
           chat_url: str = "http://127.0.0.1:9095/chat") -> dict[str, Any]:
    n = spec.alerting.notify
    service = f'service="{spec.service}"'
    return {
        "route": {
            "receiver": "chat",
            "group_by": list(n.group_by),
            "group_wait": format_duration(n.group_wait),
            "group_interval": format_duration(n.group_interval),
            "repeat_interval": format_duration(n.repeat_interval),
            "routes": [
                {"matchers": [service, 'severity="critical"'], "receiver": "pager",
                 "repeat_interval": format_duration(n.page_repeat_interval)},
                {"matchers": [service, 'severity="warning"'], "receiver": "chat"},
            ],
        },
        "receivers": [
            {"name": "pager", "webhook_configs": [{"url": pager_url, "send_resolved": True}]},
            {"name": "chat", "webhook_configs": [{"url": chat_url, "send_resolved": True}]},
        ],
        "inhibit_rules": inhibit_rules(spec),
    }
