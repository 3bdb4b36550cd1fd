"""The generators' own YAML and JSON writers (``alerts/yamlio.py``, ``dashboards/jsonio.py``) write
exactly the bytes PyYAML/libyaml and the standard library's indented JSON write, for any tree:
the fast paths are a speed-up, never a change of output. And ``write`` puts files in place all
or nothing."""

from __future__ import annotations

import contextlib
import json
import math
import random
import struct
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.render.files import render, write
from agent.spec import load_spec
from agent.stages import GenerateError
from alerts import yamlio
from dashboards import jsonio

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "small" / "slo.yaml"

# characters and words that steer libyaml's choice of style: indicators, quotes, breaks, tabs,
# non-ASCII, and strings that read back as other types
_CHARS = st.sampled_from(list("ab_z09 :-#?'\"{}[],&*!|>%@`.\n\t~=<+/")
                         + ["é", "€", "\u2028", "\x85", "\x00", "\x7f", "😀"])
_WORDS = st.sampled_from(["yes", "No", "null", "~", "on", "1e5", "0x1F", "1_000", "-1", ".5",
                          "1:30", "2024-01-02", "---", "...", "- a", "? b", "a: b", "a #c",
                          "<<", "=", ".inf", ".NaN", "", " ", "a\n", "\na", "a \nb", "a\n b",
                          "a\n\nb", "x" * 130, "y " * 1100, "{{ $value }}", "'q'"])
_TEXT = st.one_of(_WORDS, st.text(_CHARS, max_size=12),
                  st.lists(_WORDS, max_size=3).map(" ".join))
_SCALARS = st.one_of(_TEXT, st.none(), st.booleans(), st.integers(-10**20, 10**20),
                     st.floats(allow_nan=True, allow_infinity=True))


def _trees(keys: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(_SCALARS, lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.tuples(kids), st.dictionaries(keys, kids, max_size=4)),
        max_leaves=25)


def _libyaml(data: Any) -> str:
    return yaml.dump(data, Dumper=yamlio._NoAliases, sort_keys=False, width=4096,
                     allow_unicode=True)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_TEXT, _trees(_TEXT), max_size=5))
def test_yaml_writer_writes_what_libyaml_writes(data: dict[str, Any]) -> None:
    assert yamlio.dump(data, "header") == "# header\n" + _libyaml(data)


# printable ASCII, breaks and the words above: documents the direct writer takes on itself
_ASCII = st.sampled_from(list("ab_z09 :-#?'\"{}[],&*!|>%@`.~=<+/\n"))
_PLAIN_TEXT = st.one_of(_WORDS, st.text(_ASCII, max_size=12),
                        st.lists(_WORDS, max_size=3).map(" ".join))
_PLAIN_SCALARS = st.one_of(_PLAIN_TEXT, st.none(), st.booleans(), st.integers(-10**20, 10**20),
                           st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_PLAIN_TEXT, st.recursive(_PLAIN_SCALARS, lambda kids: st.one_of(
    st.lists(st.one_of(_PLAIN_SCALARS, st.dictionaries(_PLAIN_TEXT, kids, max_size=3)),
             max_size=3),
    st.dictionaries(_PLAIN_TEXT, kids, max_size=3)), max_leaves=20), min_size=1, max_size=4))
def test_yaml_direct_writer_writes_what_libyaml_writes(data: dict[str, Any]) -> None:
    try:
        direct = yamlio._document(data)
    except yamlio._Fallback:
        return                           # covered by the test above
    assert direct == _libyaml(data)


def test_yaml_writer_covers_generated_shapes_itself() -> None:
    """The shapes the generators write take the direct path (no fallback), so the speed-up is
    real: plain, quoted and literal strings, numbers, empty collections, nested sequences of
    mappings."""
    doc = {"groups": [{"name": "a: b", "rules": [
        {"record": "x", "expr": "sum(rate(m{a=\"b\"}[5m]))\n/\n(total)", "for": "5m",
         "labels": {"on": "yes", "n": 1, "f": 0.25, "t": True, "z": None}, "e": [], "d": {}},
        {"alert": "'quoted'", "values": "0.2+0x25 _ _", "when": "#1", "x": 1e-05}]}]}
    assert yamlio._document(doc) == _libyaml(doc)


_JSON_SCALARS = st.one_of(st.text(_CHARS, max_size=8), st.none(), st.booleans(),
                          st.integers(-10**20, 10**20),
                          st.floats(allow_nan=True, allow_infinity=True))
_JSON_TREES = st.recursive(_JSON_SCALARS, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.tuples(kids),
    st.dictionaries(st.text(_CHARS, max_size=6), kids, max_size=4)), max_leaves=30)


def _finite(o: Any) -> Any:
    """``o`` with NaN and infinities as None: what the writer puts where json would write the
    invalid ``NaN``/``Infinity``."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    return o


def _path(name: str) -> Any:
    """Both encoders: orjson's text with json's spelling put back, and the fallback."""
    if name == "pure-python":
        return mock.patch.object(jsonio, "orjson", None)
    assert jsonio.orjson is not None, "orjson comes with the generate extra"
    return contextlib.nullcontext()


PATHS = pytest.mark.parametrize("json_path", ["orjson", "pure-python"])


@PATHS
@settings(max_examples=300, deadline=None)
@given(data=_JSON_TREES)
def test_json_writer_writes_what_json_writes(json_path: str, data: Any) -> None:
    with _path(json_path):
        assert jsonio.dumps(data) == json.dumps(_finite(data), indent=2, sort_keys=True)


@PATHS
@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(st.text(_CHARS, max_size=6), st.lists(
    st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.lists(st.sampled_from(
        list("0123456789.eE+- :,\"\\") + ["\n", "e-", "0.0000", "1e-7", '": 1e-7'])).map("".join)),
    max_size=6), max_size=4))
def test_json_writer_spells_every_float_as_json_does(json_path: str, data: Any) -> None:
    """Floats of every magnitude beside strings that look like numbers, exponents and keys:
    orjson writes ``1e-7`` and ``0.00001`` where json writes ``1e-07`` and ``1e-05``."""
    with _path(json_path):
        assert jsonio.dumps(data) == json.dumps(data, indent=2, sort_keys=True)


def test_orjson_spells_floats_as_json_except_where_the_writer_looks() -> None:
    """The writer respells only floats whose orjson text holds ``e-``, ``e+`` or ``0.0000``:
    over a million random doubles (every exponent) and each decade's edges, every other float
    is spelled the same by both."""
    import orjson  # the generate extra brings it (a missing install step fails here)
    rng = random.Random(7)
    doubles = [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
               for _ in range(1_000_000)]
    doubles += [m * 10.0 ** e for e in range(-30, 30) for m in (1, 1.5, 9.999999999999999,
                                                                1.0000000000000002)]
    doubles += [rng.uniform(-1e6, 1e6) for _ in range(100_000)]
    for x in doubles:
        if math.isfinite(x):
            ours, theirs = orjson.dumps(x).decode(), float.__repr__(x)
            assert ours == theirs or any(n in ours for n in jsonio._DIFFERENT), (ours, theirs)


def test_json_writer_encodes_sdk_models_as_the_sdk_encoder_does() -> None:
    from grafana_foundation_sdk.builders.dashboard import Dashboard
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    from dashboards.panels import query, series_panel

    built = (Dashboard("é · x").uid("u").tags(["a"]).with_panel(series_panel(
        "t", "s", [query('rate(x{a="$model"}[5m])', "{{model}}")], "d")).build())
    assert jsonio.dumps(built) == JSONEncoder(sort_keys=True, indent=2).encode(built)


def test_a_failed_write_replaces_nothing_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    """Files are written under temporary names and renamed only once all are written: a
    failure part-way leaves the output as it was."""
    spec = load_spec(GOLDEN)
    files = render(spec)
    write(spec, tmp_path, files)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    changed = {rel: (kind, text + "# changed\n") for rel, (kind, text) in files.items()}
    changed["zz/blocked/file.yml"] = ("test", "x: 1\n")
    (tmp_path / "zz").write_text("a file where a folder must go")
    with pytest.raises(GenerateError) as err:
        write(spec, tmp_path, changed)
    assert err.value.stage == "write"
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == {**before, tmp_path / "zz": b"a file where a folder must go"}
