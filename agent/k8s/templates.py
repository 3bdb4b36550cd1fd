"""Kubernetes objects rendered by shape: an objective's PrometheusRule and dashboard ConfigMap as
YAML text with holes, like the plain files' templates (:mod:`agent.render.shapes`).

A plain text template cannot hold YAML whose strings are folded at the line width: a longer name
moves every fold after it. So the template keeps PyYAML's own output between the scalars that
hold a hole, and for each of those the emitter's state where it began (style, column,
indentation); filling one writes the filled value again with the same writer methods
(:mod:`agent.k8s.emitter`) from that state. Everything else of the emitter's work (events,
styles, keys, indentation) is done once per shape.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from agent.k8s.emitter import Dumper
from agent.render.shapes import Forms, Template, TextTemplate, form_finder

#: what render_kubernetes passes to yaml.dump, so a recorded document is the same text
DUMP_ARGS: dict[str, Any] = {"sort_keys": False, "width": 100}


@dataclass(frozen=True)
class _Slot:
    """A scalar as the emitter began writing it."""

    start: int
    end: int
    value: str
    style: str | None
    indent: int | None
    whitespace: bool
    indention: bool
    split: bool


@dataclass(frozen=True)
class Recorded:
    """A document's YAML text and where each of its scalars lies in it."""

    text: str
    slots: list[_Slot]


class _Recorder(Dumper):
    def __init__(self, stream: io.StringIO, **kwargs: Any) -> None:
        super().__init__(stream, **kwargs)
        self.slots: list[_Slot] = []
        self._out = stream

    def process_scalar(self) -> None:
        stream, event = self._out, self.event
        assert isinstance(event, yaml.ScalarEvent)
        start, style, value = stream.tell(), self.style, event.value
        slot = (self.indent, self.whitespace, self.indention, not self.simple_key_context)
        super().process_scalar()
        self.slots.append(_Slot(start, stream.tell(), value, style, *slot))


def record(doc: Any) -> Recorded:
    """``doc`` as yaml.dump(doc, Dumper=Dumper, **DUMP_ARGS) writes it, with its scalars."""
    stream = io.StringIO()
    dumper = _Recorder(stream, default_flow_style=False, **DUMP_ARGS)
    try:
        dumper.open()
        dumper.represent(doc)
        dumper.close()
    finally:
        dumper.dispose()
    return Recorded(stream.getvalue(), dumper.slots)


class _Collect:
    """A stream the scratch emitter writes into."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.write = self.parts.append


_WRITERS: dict[str | None, Callable[[Dumper, str, bool], None]] = {
    '"': Dumper.write_double_quoted, "'": Dumper.write_single_quoted,
    "": Dumper.write_plain, None: Dumper.write_plain,
    "|": lambda d, text, split: d.write_literal(text),
    ">": lambda d, text, split: d.write_folded(text),
}


class _Scratch:
    """One emitter, reused to write single scalars from a recorded state."""

    def __init__(self) -> None:
        self.dumper = Dumper(io.StringIO(), default_flow_style=False, **DUMP_ARGS)

    def write(self, slot: _Slot, value: str, column: int) -> str:
        d = self.dumper
        out = _Collect()
        d.stream = out
        d.column, d.indent = column, slot.indent
        d.whitespace, d.indention = slot.whitespace, slot.indention
        d.root_context = False
        _WRITERS[slot.style](d, value, slot.split)
        return "".join(out.parts)


_LOCAL = threading.local()         # one scratch emitter per thread: it holds state mid-write


def _scratch() -> _Scratch:
    try:
        scratch: _Scratch = _LOCAL.scratch
    except AttributeError:
        scratch = _LOCAL.scratch = _Scratch()
    return scratch


class YamlTemplate(Template[str]):
    """YAML text with holes, cut from a :class:`Recorded` probe document."""

    def __init__(self, parts: list[str], holes: list[tuple[_Slot, TextTemplate]]) -> None:
        self.parts, self.holes = parts, holes
        #: per constant part: (holds a line break, its length after the last one)
        self._tails = [(p.rfind("\n"), len(p)) for p in parts]

    @classmethod
    def cut(cls, value: Any, forms: Forms) -> YamlTemplate | None:
        if not isinstance(value, Recorded):
            return None
        pattern, _ = form_finder(forms)
        parts, holes, done = [], [], 0
        for slot in value.slots:
            if pattern.search(slot.value) is None:
                continue
            tpl = TextTemplate.cut(slot.value, forms)
            if tpl is None:
                return None
            parts.append(value.text[done:slot.start])
            holes.append((slot, tpl))
            done = slot.end
        parts.append(value.text[done:])
        return cls(parts, holes)

    @classmethod
    def result(cls, value: Any) -> Any:
        return value.text if isinstance(value, Recorded) else value

    def fill(self, forms: Forms) -> str:
        out = [self.parts[0]]
        column = _column(self.parts[0], 0)
        scratch = _scratch()
        for (slot, tpl), part, (brk, size) in zip(self.holes, self.parts[1:], self._tails[1:],
                                                    strict=True):
            filled = tpl.fill(forms)
            assert filled is not None
            text = scratch.write(slot, filled, column)
            out.append(text)
            out.append(part)
            column = _column(text, column)
            column = size - brk - 1 if brk >= 0 else column + size
        return "".join(out)


def _column(text: str, column: int) -> int:
    """The column after writing ``text`` from ``column``."""
    brk = text.rfind("\n")
    return len(text) - brk - 1 if brk >= 0 else column + len(text)
