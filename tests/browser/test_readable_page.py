"""The status page as a person reads it, in Chromium: every label of a chart lies inside the
chart (no "warnir" / "critica"), no number carries an exponent, no "— ago"."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.browser.test_status_page import INTERVAL, _send, _traffic, browser, page, sidecar
from tests.sidecar.conftest import Sidecar

__all__ = ["browser", "page", "sidecar"]     # the fixtures, shared with the page's own tests


def test_chart_labels_are_inside_the_chart(sidecar: Sidecar, page: Any) -> None:
    _traffic(sidecar)
    time.sleep(2 * INTERVAL)
    page.goto(sidecar.url + "/objectives/fraud-latency-p95")
    page.wait_for_selector("svg.chart text.legend")
    boxes = page.evaluate("""() => {
        const svg = document.querySelector('svg.chart');
        const vb = svg.viewBox.baseVal;
        return [...svg.querySelectorAll('text')].map(t => {
            const b = t.getBBox();
            return {text: t.textContent, x: b.x, y: b.y, right: b.x + b.width,
                    bottom: b.y + b.height, w: vb.width, h: vb.height};
        });
    }""")
    legends = [b for b in boxes if b["text"].startswith(("warning", "critical"))]
    assert {b["text"] for b in legends} == {"warning 250ms", "critical 1s"}, boxes
    for b in boxes:
        assert b["x"] >= 0 and b["right"] <= b["w"], b
        assert b["y"] >= 0 and b["bottom"] <= b["h"], b


def test_no_exponent_and_no_dash_ago(sidecar: Sidecar, page: Any) -> None:
    _send(sidecar, [{"type": "job", "job": "retrain-fraud", "event": "failure",
                     "duration": 12.0, "error": "OOM"}])
    time.sleep(2 * INTERVAL)
    page.goto(sidecar.url + "/")
    page.wait_for_selector("tr[data-objective]")
    text = page.locator("main").inner_text()
    assert not re.search(r"\de[+-]\d", text)
    assert "— ago" not in text and "ago ago" not in text
    assert "retrain-fraud: 0 ok / 1 failed, last success never" in text, text
    assert page.locator("a.report-link").get_attribute("href") == "/report"
    assert not page.problems, page.problems
