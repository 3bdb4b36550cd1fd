"""Indented JSON for generated dashboards, byte for byte what ``json.dumps(obj, indent=2,
sort_keys=True)`` (ASCII-escaped) writes through grafana-foundation-sdk's encoder, except that
NaN and infinities are written ``null`` (json's ``NaN`` is not JSON; Grafana would refuse the
file). The standard library drops to its pure-Python encoder whenever ``indent`` is set, and
1,000 objective dashboards spent most of ``slo-agent generate`` there: orjson (the ``generate``
extra) writes the text ~2.5x faster, and the few places its spelling differs from :mod:`json`'s are
put back (non-ASCII and DEL escaped, floats respelled by ``float.__repr__``); a document it cannot
write as :mod:`json` would (integers past 64 bits, lone surrogates, non-string keys, unknown
types) is written by the pure-Python encoder below.

Builder models are turned into plain values through their own ``to_json`` (what the SDK's
encoder calls); everything else follows :mod:`json`'s rules: ``str`` subclasses as strings, ``int``
and ``float`` subclasses as numbers, tuples as lists.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from types import FunctionType
from typing import Any

orjson: Any
try:
    import orjson
except ImportError:                 # the generate extra brings it; without it, the slow path
    orjson = None

_string: Callable[[str], str] = json.encoder.encode_basestring_ascii
_INF = float("inf")


def _float(o: float) -> str:
    if o != o or o == _INF or o == -_INF:
        return "null"
    return float.__repr__(o)


def _key(k: Any) -> str:
    """A dict key as :mod:`json` writes it (always a JSON string)."""
    if isinstance(k, str):
        return _string(k)
    if isinstance(k, float):
        return _string(_float(k))
    if k is True:
        return '"true"'
    if k is False:
        return '"false"'
    if k is None:
        return '"null"'
    if isinstance(k, int):
        return _string(int.__repr__(k))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")


def _encode(o: Any, nl: str) -> str:
    """``o`` at the indentation whose line break and indent are ``nl``."""
    t = type(o)
    if t is dict:
        if not o:
            return "{}"
        inner = nl + "  "
        sep = "," + inner
        return ("{" + inner + sep.join(
            [(_string(k) if type(k) is str else _key(k)) + ": "
             + (_string(v) if type(v) is str else _encode(v, inner))
             for k, v in sorted(o.items())]) + nl + "}")
    to_json = _MODELS.get(t)
    if to_json is not None:
        return _encode(to_json(o), nl)
    if t is list or t is tuple:
        if not o:
            return "[]"
        inner = nl + "  "
        return "[" + inner + ("," + inner).join(
            [_string(v) if type(v) is str else _encode(v, inner) for v in o]) + nl + "]"
    if t is str:
        return _string(o)
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if t is int:
        return int.__repr__(o)
    if t is float:
        return _float(o)
    return _other(o, nl)


_JSON_TYPES = (str, int, float, list, tuple, dict)
#: builder model classes seen → their ``to_json`` (a few dozen SDK classes; emptied past its cap)
_MODELS: dict[type, Callable[[Any], Any]] = {}
_MODELS_CAP = 1024


def _model_method(t: type) -> Callable[[Any], Any] | None:
    """The class's own plain ``to_json``, remembered in :data:`_MODELS` (the same call for
    every instance); None for anything else."""
    method = getattr(t, "to_json", None)
    if not isinstance(method, FunctionType):
        return None
    if len(_MODELS) >= _MODELS_CAP:
        _MODELS.clear()
    _MODELS[t] = method
    return method


def _other(o: Any, nl: str) -> str:
    """Builder models (through their ``to_json``), then subclasses of the JSON types (enums)."""
    if not isinstance(o, _JSON_TYPES):
        to_json = getattr(o, "to_json", None)
        if callable(to_json):
            _model_method(type(o))
            return _encode(to_json(), nl)
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")
    if isinstance(o, str):
        return _string(o)
    if isinstance(o, int):
        return int.__repr__(o)
    if isinstance(o, float):
        return _float(o)
    if isinstance(o, (list, tuple)):
        return _encode(list(o), nl)
    return _encode(dict(o), nl)


def dumps(obj: Any) -> str:
    """``obj`` (plain values and SDK models) as sorted, 2-space indented, ASCII-escaped JSON."""
    if orjson is not None:
        try:
            text: str = orjson.dumps(obj, default=_plain, option=_OPTIONS).decode()
        except TypeError:                          # orjson.JSONEncodeError included
            return _encode(obj, "\n")
        if not text.isascii():                     # only inside strings: structure is ASCII
            text = text.encode("ascii", _ESCAPE).decode("ascii")
        if "\x7f" in text:                         # ASCII, but json escapes it
            text = text.replace("\x7f", "\\u007f")
        return _respell(text)
    return _encode(obj, "\n")


_OPTIONS = (orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS
            | orjson.OPT_PASSTHROUGH_DATETIME) if orjson is not None else 0
_ESCAPE = "slo-agent-json-ascii"


def _escape(exc: UnicodeError) -> tuple[str, int]:
    """Non-ASCII characters as :mod:`json` escapes them: ``\\uXXXX``, astral ones as a pair."""
    assert isinstance(exc, UnicodeEncodeError)
    return _string(exc.object[exc.start:exc.end])[1:-1], exc.end


codecs.register_error(_ESCAPE, _escape)

#: a line of orjson's indented output whose value is a number: indentation, maybe a key, the number
_NUMBER_LINE = re.compile(r' *(?:"(?:[^"\\\n]|\\.)*": )?(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)'
                          r",?(?:\n|\Z)")
#: where orjson's spelling of a float can differ from ``float.__repr__``'s: ``1e-7`` for
#: ``1e-07``, ``0.00001`` for ``1e-05`` (the tests check this over a million random doubles)
_DIFFERENT = ("e-", "e+", "0.0000")


def _respell(text: str) -> str:
    """Floats as :mod:`json` spells them; both write the shortest digits that read back, so only
    the spelling changes. Each line holding a place where the spellings can differ is matched on
    its own: a number that is the line's value is respelled (one inside a string is not)."""
    lines: set[int] = set()
    for needle in _DIFFERENT:
        i = text.find(needle)
        while i != -1:
            lines.add(text.rfind("\n", 0, i) + 1)
            i = text.find(needle, i + 1)
    out: list[str] = []
    done = 0
    for start in sorted(lines):
        m = _NUMBER_LINE.match(text, start)
        if m is not None and not m.group(1).lstrip("-").isdigit():
            out += [text[done:m.start(1)], float.__repr__(float(m.group(1)))]
            done = m.end(1)
    return "".join(out) + text[done:] if out else text


def _plain(o: Any) -> Any:
    """orjson's ``default``: builder models through their ``to_json``, float subclasses as
    floats; anything else sends the whole document to the pure-Python encoder."""
    t = type(o)
    to_json = _MODELS.get(t)
    if to_json is None:
        if isinstance(o, float):
            return float(o)
        to_json = None if isinstance(o, _JSON_TYPES) else _model_method(t)
        if to_json is None:
            raise TypeError(f"{t.__name__}: left to the pure-Python encoder")
    return to_json(o)
