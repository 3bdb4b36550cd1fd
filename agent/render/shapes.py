"""Render by shape: objectives that differ only in their names and selector values share one
output with holes, so a spec of 1,000 objectives runs the builders for a few shapes, not 1,000
times.

The builders stay the source of truth. For each shape (everything of the objective but its name
and selector values, plus the referenced model and dataset) two *probes* are built: copies of
the shortest and the longest member whose names and selector values are scrambled letter by
letter (a rotation of the alphabet and of the digits, punctuation and case kept, so camel case,
lowercasing and hashes behave as for the member; a short value is repeated first, so that its
probe is not found by chance in the constant text). The first probe's output, with each
*form* of its values (the name, its alert name, its dashboard uid, ... see :data:`NAME_FORMS`)
cut out, is the template; it is kept only if filling it with the second probe's forms gives
exactly the second probe's own output. A builder that spells a value in a form not listed, or
whose output depends on a value beyond its text, fails that check and its shape is rendered
objective by objective, as before: slower, never different.

Holes are plain text: the values are checked to stay plain text in every output (a letter
first, ``[A-Za-z0-9_.-]``, nothing YAML reads as a boolean or null), and the shape's key holds
which kinds of characters each value uses and which of its forms coincide, so a template is
filled only with values that behave like the probes'. Levels, windows, labels and every other
field are part of the shape.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from agent.sli import ObjectivePlan, camel, detail_uid
from agent.spec.document import Objective, Spec
from agent.stages import Stage, stage

T = TypeVar("T")
Forms = dict[str, str]
#: how an objective's name is spelled in generated output, by token; a builder that spells it
#: another way makes its shape render objective by objective (see the module docstring)
NAME_FORMS: dict[str, Callable[[Spec, Objective], str]] = {
    "name": lambda spec, o: o.name,
    "camel": lambda spec, o: camel(o.name),
    "uid": detail_uid,
}
#: selector keys whose value is a label value and nothing else; ``scrape`` and ``objective``
#: name other parts of the spec whose settings shape the output, so they stay in the key
TEXT_SELECTORS = ("model", "version", "feature", "column", "dataset", "gpu", "queue", "job",
                  "cache", "breaker")
#: the fields of an objective that are holes rather than shape
_NOT_SHAPE = {"name", "selector"}
#: a shape needs this many objectives before probing it pays (two probe builds)
MIN_GROUP = 3

_SAFE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*\Z")
#: YAML 1.1 words that read back as booleans or null: no value may be part of one
_WORDS = ("yes", "no", "true", "false", "on", "off", "null")
_LOWER, _UPPER, _DIGITS = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"


def safe(value: str) -> bool:
    """A value that is plain text wherever it lands: JSON, YAML (plain, never a boolean or
    null, whatever is written around it), PromQL strings and label values."""
    if not _SAFE.match(value):
        return False
    low = value.lower()
    return not any(low in word for word in _WORDS)


_CLASS = str.maketrans(_LOWER + _UPPER + _DIGITS, "a" * 26 + "A" * 26 + "0" * 10)


def _classes(value: str) -> str:
    """Which kinds of characters a value uses (its punctuation one by one)."""
    return "".join(sorted(set(value.translate(_CLASS))))


def _pattern(forms: Forms) -> tuple[int, ...]:
    """For each form, the index of the first form with the same text: which forms coincide."""
    values = list(forms.values())
    return tuple(values.index(v) for v in values)


#: probe values are at least this long (a short value repeated): a one-letter model name would
#: otherwise be found all over the constant text, and no template would check out
PROBE_LENGTH = 8


def _scramble(value: str, shift: int) -> str:
    value = value * -(-PROBE_LENGTH // len(value)) if value else value
    table = str.maketrans(_LOWER + _UPPER + _DIGITS,
                          _LOWER[shift:] + _LOWER[:shift] + _UPPER[shift:] + _UPPER[:shift]
                          + _DIGITS[shift % 10:] + _DIGITS[:shift % 10])
    return value.translate(table)


@dataclass
class _Group:
    members: list[int]
    probes: tuple[ObjectivePlan, ObjectivePlan] | None = None


class Shapes:
    """The objectives of one render, grouped by shape, with each group's probes."""

    def __init__(self, spec: Spec, ps: Sequence[ObjectivePlan],
                 forms: dict[str, Callable[[Spec, Objective], str]] | None = None,
                 min_group: int = MIN_GROUP) -> None:
        self.spec, self.ps = spec, list(ps)
        self.name_forms = {**NAME_FORMS, **(forms or {})}
        self.forms: list[Forms | None] = []
        self._key: list[Hashable | None] = []
        referenced = {o.selector.objective for o in spec.objectives if o.selector.objective}
        models = {m.name: m.model_dump_json(exclude={"name"}) for m in spec.models}
        datasets = {d.name: d.model_dump_json(exclude={"name"}) for d in spec.sources.datasets}
        groups: dict[Hashable, _Group] = {}
        for i, p in enumerate(self.ps):
            f, key = self._shape(p.o, referenced, models, datasets)
            self.forms.append(f)
            self._key.append(key)
            if key is not None:
                groups.setdefault(key, _Group([])).members.append(i)
        self.groups = {k: g for k, g in groups.items() if len(g.members) >= min_group}
        for g in self.groups.values():
            g.probes = self._probes(g)

    def _shape(self, o: Objective, referenced: set[str], models: dict[str, Any],
               datasets: dict[str, Any]) -> tuple[Forms | None, Hashable | None]:
        """(forms, key) of an objective; (None, None) when it renders on its own."""
        if o.name in referenced or not safe(o.name):
            return None, None
        holes: dict[str, str] = {}
        kept: dict[str, Any] = {}
        for field, value in o.selector.items():
            if field in TEXT_SELECTORS and safe(value):
                holes[field] = value
            else:
                kept[field] = value
        forms = self._forms(o, holes)
        key = (o.model_dump_json(exclude=_NOT_SHAPE), repr(kept), tuple(holes), _pattern(forms),
               _classes(o.name), *map(_classes, holes.values()),
               models.get(holes.get("model", "")), datasets.get(holes.get("dataset", "")))
        return forms, key

    def _forms(self, o: Objective, holes: dict[str, str]) -> Forms:
        out = {token: form(self.spec, o) for token, form in self.name_forms.items()}
        out.update((f"selector.{k}", v) for k, v in holes.items())
        return out

    def _probes(self, g: _Group) -> tuple[ObjectivePlan, ObjectivePlan] | None:
        """Scrambled copies of the group's shortest and longest member (by their holes'
        length), with the same forms coinciding; None if no scramble keeps the values safe."""
        def size(i: int) -> int:
            f = self.forms[i]
            return sum(map(len, f.values())) if f else 0

        short, long_ = min(g.members, key=size), max(g.members, key=size)
        out = []
        for member, shifts in ((short, (7, 11, 5)), (long_, (13, 17, 19))):
            for shift in shifts:
                p = self._probe(member, shift)
                if p is not None:
                    out.append(p)
                    break
            else:
                return None
        return out[0], out[1]

    def _probe(self, member: int, shift: int) -> ObjectivePlan | None:
        o = self.ps[member].o
        sel = {k: _scramble(v, shift) for k, v in o.selector.items() if k in TEXT_SELECTORS
               and safe(v)}
        probe = o.model_copy(update={"name": _scramble(o.name, shift),
                                     "selector": o.selector.model_copy(update=sel)})
        values = [probe.name, *sel.values()]
        if not all(safe(v) for v in values):
            return None
        mine = self._forms(probe, {k: getattr(probe.selector, k) for k in sel})
        theirs = self.forms[member]
        if theirs is None or _pattern(mine) != _pattern(theirs):
            return None
        return ObjectivePlan(self.spec, probe)

    def probe_forms(self, p: ObjectivePlan) -> Forms:
        sel = {k: v for k, v in p.o.selector.items() if k in TEXT_SELECTORS and safe(v)}
        return self._forms(p.o, sel)

    def render(self, name: Stage, build: Callable[[ObjectivePlan], T],
               kind: type[Template[Any]] | None = None,
               probe: Callable[[ObjectivePlan], Any] | None = None
               ) -> Iterator[tuple[ObjectivePlan, T]]:
        """``build(p)`` for every objective in order: filled from its shape's template where
        the probes gave one, else built (inside stage ``name`` of the objective). ``probe``
        builds the probes where the template needs more than the output (default: build)."""
        kind = kind or TextTemplate
        templates: dict[Hashable, Template[Any] | None] = {}
        for i, p in enumerate(self.ps):
            key = self._key[i]
            tpl = None
            if key is not None and key in self.groups:
                if key not in templates:
                    templates[key] = self._template(self.groups[key], probe or build, kind)
                tpl = templates[key]
            forms = self.forms[i]
            if tpl is not None and forms is not None:
                yield p, tpl.fill(forms)
                continue
            with stage(name, p.o.name):      # the value is built inside, handed out after
                value = build(p)
            yield p, value

    def _template(self, g: _Group, build: Callable[[ObjectivePlan], T],
                  kind: type[Template[Any]]) -> Template[Any] | None:
        if g.probes is None:
            return None
        a, b = g.probes
        try:
            first, second = build(a), build(b)
        except Exception:           # the members will fail (or not) one by one, by name
            return None
        tpl = kind.cut(first, self.probe_forms(a))
        if tpl is None or not _same(tpl.fill(self.probe_forms(b)), kind.result(second)):
            return None
        return tpl


class Template(ABC, Generic[T]):
    """An output with holes: :meth:`cut` from a probe's output, :meth:`fill` per objective."""

    @classmethod
    @abstractmethod
    def cut(cls, value: Any, forms: Forms) -> Template[Any] | None:
        """The template of ``value`` with ``forms``' texts as holes; None if it has none."""

    @classmethod
    def result(cls, value: Any) -> Any:
        """The output a probe's build stands for (the build itself, unless it records more)."""
        return value

    @abstractmethod
    def fill(self, forms: Forms) -> T:
        """The output for an objective whose forms are ``forms``."""


def form_finder(forms: Forms) -> tuple[re.Pattern[str], dict[str, str]]:
    """A regex of every form's text (longest first) and text → token (the first token of
    coinciding forms: they coincide for every member of the shape)."""
    token_of: dict[str, str] = {}
    for token, text in forms.items():
        token_of.setdefault(text, token)
    alternatives = sorted(token_of, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, alternatives))), token_of


class TextTemplate(Template[str | None]):
    """A text with holes; None (no output for this shape) is a template too. Filled by joining
    the constant parts with the values (``str.format`` on a 30 kB dashboard is 30x slower)."""

    def __init__(self, parts: list[str] | None, tokens: list[str]) -> None:
        self.parts, self.tokens = parts, tokens
        self._base: list[str] = []
        if parts is not None:
            self._base = [""] * (2 * len(parts) - 1)
            self._base[::2] = parts
        self._slots = [(2 * i + 1, t) for i, t in enumerate(tokens)]

    @classmethod
    def cut(cls, value: Any, forms: Forms) -> TextTemplate | None:
        if value is None:
            return cls(None, [])
        if not isinstance(value, str):
            return None
        pattern, token_of = form_finder(forms)
        parts, tokens, done = [], [], 0
        for m in pattern.finditer(value):
            parts.append(value[done:m.start()])
            tokens.append(token_of[m.group()])
            done = m.end()
        parts.append(value[done:])
        return cls(parts, tokens)

    def fill(self, forms: Forms) -> str | None:
        if self.parts is None:
            return None
        buf = self._base.copy()
        for i, token in self._slots:
            buf[i] = forms[token]
        return "".join(buf)


class TreeTemplate(Template[Any]):
    """A tree of dicts, lists and scalars whose strings (keys included) may hold holes."""

    def __init__(self, tree: Any) -> None:
        self.tree = tree

    @classmethod
    def cut(cls, value: Any, forms: Forms) -> TreeTemplate | None:
        pattern, _ = form_finder(forms)

        def walk(v: Any) -> Any:
            t = type(v)
            if t is str:
                if pattern.search(v) is None:
                    return v
                tpl = TextTemplate.cut(v, forms)
                return _Holes(tpl) if tpl is not None else v
            if t is dict:
                return {walk(k): walk(x) for k, x in v.items()}
            if t is list:
                return [walk(x) for x in v]
            if v is None or t in (int, float, bool):
                return v
            raise _Untemplatable

        try:
            return cls(walk(value))
        except _Untemplatable:
            return None

    def fill(self, forms: Forms) -> Any:
        def walk(v: Any) -> Any:
            t = type(v)
            if t is _Holes:
                return v.tpl.fill(forms)
            if t is dict:
                return {walk(k): walk(x) for k, x in v.items()}
            if t is list:
                return [walk(x) for x in v]
            return v

        return walk(self.tree)


class _Untemplatable(Exception):
    """A value of a type the tree template does not copy."""


@dataclass(frozen=True)
class _Holes:
    tpl: TextTemplate


def _same(a: Any, b: Any) -> bool:
    """Equal, and in the same order (dict order is written out) and of the same types."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)
