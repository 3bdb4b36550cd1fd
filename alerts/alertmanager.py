"""An example Alertmanager configuration for the generated alerts: critical (page) to a pager
receiver, warning (ticket) to a chat receiver, and the lower tier inhibited while the higher fires.
Receivers are webhooks to replace with PagerDuty/Slack/... configs."""

from __future__ import annotations

from typing import Any

from agent.spec.document import Spec


def config(spec: Spec, pager_url: str = "http://127.0.0.1:9095/pager",
           chat_url: str = "http://127.0.0.1:9095/chat") -> dict[str, Any]:
    service = f'service="{spec.service}"'
    return {
        "route": {
            "receiver": "chat",
            "group_by": ["alertname", "service", "objective"],
            "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h",
            "routes": [
                {"matchers": [service, 'severity="critical"'], "receiver": "pager",
                 "repeat_interval": "1h"},
                {"matchers": [service, 'severity="warning"'], "receiver": "chat"},
            ],
        },
        "receivers": [
            {"name": "pager", "webhook_configs": [{"url": pager_url, "send_resolved": True}]},
            {"name": "chat", "webhook_configs": [{"url": chat_url, "send_resolved": True}]},
        ],
        "inhibit_rules": [
            {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
             "equal": ["service", "objective"]},
        ],
    }
