"""Deterministic YAML for generated files: no anchors, stable order, wide lines.

The documents are plain trees (dicts, lists, strings, numbers), so most are written here directly,
byte for byte as libyaml writes them through PyYAML (block style, indentless sequences in
mappings, multi-line strings as ``|-`` literals): PyYAML's representer and the resolver calls its
C emitter makes back into Python cost ~1 ms per promtool test file, most of ``slo-agent
generate``. Whatever this writer does not cover exactly (non-ASCII or control characters, very
long strings, multi-line keys, nested lists, odd types) falls back to PyYAML for the whole
document, so the output never depends on which path wrote it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# libyaml's C emitter is ~10x faster than PyYAML's; the output is the same YAML document.
_Base: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _NoAliases(_Base):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: Any, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_NoAliases.add_representer(str, _str)


def dump(data: Any, header: str | None = None) -> str:
    try:
        text = _document(data)
    except _Fallback:
        text = yaml.dump(data, Dumper=_NoAliases, sort_keys=False, width=4096,
                         allow_unicode=True)
    return (f"# {header}\n" if header else "") + text


# --- the direct writer ------------------------------------------------------------------------
class _Fallback(Exception):
    """Something the direct writer does not reproduce exactly: PyYAML writes the document."""


#: a single line of printable ASCII that libyaml writes plain in block context: no indicator
#: first (``#,[]{}&*!|>'"%@` ``, space, or ``?:-`` before a space), not ``---``/``...`` first, no
#: ``": "`` or ``" #"`` inside, no ``:`` or space last. Tabs, non-ASCII and control characters
#: are left to libyaml.
_PLAIN = re.compile(r"""(?!---|\.\.\.|[?:-](?: |\Z)|[#,\[\]{}&*!|>'"%@` ])"""
                    r"(?:(?!: | #)[ -~])+(?<![: ])\Z")
#: a line libyaml cannot write plain but single-quotes as it is
_QUOTABLE = re.compile(r"[ -~]+\Z")
#: printable ASCII lines for a ``|-`` literal: no leading space or break, no trailing space or
#: break (and no space just before a break, checked apart: libyaml would double-quote those)
_LITERAL = re.compile(r"[!-~][ -~]*(?:\n[ -~]*)*(?<=[!-~])\Z")
#: far below the 4096-column width, so libyaml never folds a line
_LONGEST = 2000
#: simple keys are at most 128 characters in libyaml
_LONGEST_KEY = 128
_RESOLVERS: dict[Any, list[tuple[str, Any]]] = _NoAliases.yaml_implicit_resolvers
_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?\Z")
Memo = dict[str, str]


def _other_types(first: Any) -> re.Pattern[str] | None:
    """One pattern for every implicit resolver of strings starting with ``first``: a plain
    string it matches would read back as another type (a number, bool, null, date)."""
    found = _RESOLVERS.get(first, []) + _RESOLVERS.get(None, [])
    if not found:
        return None
    return re.compile("|".join(f"(?{'x' if r.flags & re.X else ''}:{r.pattern})"
                               for _, r in found))


_OTHER = {first: _other_types(first) for first in _RESOLVERS if first is not None}
_WILDCARD = _other_types(None)     # resolvers for any first character (none by default)


def _line(s: str, limit: int) -> str:
    """A one-line string: plain where libyaml keeps it plain, else single-quoted."""
    if len(s) > limit:
        raise _Fallback
    if _PLAIN.match(s):
        other = _OTHER.get(s[0], _WILDCARD)
        if other is None or not other.match(s):
            return s
    if s == "" or _QUOTABLE.match(s):
        return "'" + s.replace("'", "''") + "'"
    raise _Fallback


def _text(v: str, indent: int, memo: Memo) -> str:
    """A string value after ``key:`` or ``-`` (with its leading space); ``indent`` is where a
    literal's lines start."""
    got = memo.get(v)
    if got is not None:
        return got
    if "\n" not in v:
        got = memo[v] = " " + _line(v, _LONGEST)
        return got
    if len(v) > _LONGEST or " \n" in v or not _LITERAL.match(v):
        raise _Fallback
    pad = " " * indent
    return " |-\n" + "\n".join([pad + line if line else "" for line in v.split("\n")])


def _scalar(v: Any) -> str:
    """A non-string scalar, as PyYAML's representer spells it (with its leading space)."""
    if v is None:
        return " null"
    if v is True:
        return " true"
    if v is False:
        return " false"
    t = type(v)
    if t is int:
        return " " + str(v)
    if t is float:
        text = repr(v).lower()
        if "." not in text and "e" in text:
            text = text.replace("e", ".0e", 1)
        if not _FLOAT.match(text):       # nan, inf: PyYAML spells them
            raise _Fallback
        return " " + text
    raise _Fallback


def _mapping(d: dict[Any, Any], indent: int, lead: str, out: list[str], keys: Memo,
             memo: Memo) -> None:
    """A block mapping whose keys start at ``indent``; the first key line begins with ``lead``
    (its indentation, or a sequence item's ``- ``)."""
    pad = " " * indent
    for k, v in d.items():
        key = keys.get(k) if type(k) is str else None
        if key is None:
            if type(k) is not str or "\n" in k:
                raise _Fallback
            key = keys[k] = _line(k, _LONGEST_KEY) + ":"
        head = lead + key
        lead = pad
        t = type(v)
        if t is str:
            out.append(head + (memo.get(v) or _text(v, indent + 2, memo)))
        elif t is dict:
            if v:
                out.append(head)
                _mapping(v, indent + 2, pad + "  ", out, keys, memo)
            else:
                out.append(head + " {}")
        elif t is list or t is tuple:
            if v:
                out.append(head)
                _sequence(v, indent, out, keys, memo)
            else:
                out.append(head + " []")
        else:
            out.append(head + _scalar(v))


def _sequence(items: Any, indent: int, out: list[str], keys: Memo, memo: Memo) -> None:
    """A block sequence whose ``- `` marks start at ``indent``."""
    dash = " " * indent + "- "
    for v in items:
        t = type(v)
        if t is str:
            out.append(dash[:-1] + _text(v, indent + 2, memo))
        elif t is dict:
            if v:
                _mapping(v, indent + 2, dash, out, keys, memo)
            else:
                out.append(dash + "{}")
        elif t is list or t is tuple:
            if v:
                raise _Fallback
            out.append(dash + "[]")
        else:
            out.append(dash[:-1] + _scalar(v))


#: rendered mapping keys, shared by every document (a few dozen distinct names in practice),
#: and rendered one-line values (labels, durations, units recur in every objective's files);
#: each emptied past its cap
_KEYS: Memo = {}
_KEYS_CAP = 4096
_VALUES: Memo = {}
_VALUES_CAP = 4096        # values are at most _LONGEST characters: a few MB at worst


def _document(data: Any) -> str:
    if type(data) is not dict or not data:
        raise _Fallback
    if len(_KEYS) > _KEYS_CAP:
        _KEYS.clear()
    if len(_VALUES) > _VALUES_CAP:
        _VALUES.clear()
    out: list[str] = []
    _mapping(data, 0, "", out, _KEYS, _VALUES)
    return "\n".join(out) + "\n"
