"""The Kubernetes objects' YAML dumper (``agent/k8s/emitter.py``) writes exactly the bytes PyYAML's
own safe dumper writes: its regex scalar analysis and double-quoted writer are a speed-up, never
a change of output (folds at the width, escapes, styles)."""

from __future__ import annotations

import io
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.k8s.emitter import Dumper

# characters that steer PyYAML's style choice and folding: indicators, quotes, breaks, spaces,
# backslashes, non-ASCII (escaped without allow_unicode), control and astral characters
_CHARS = st.sampled_from(list("ab z09 :-#?'\"{}[],&*!|>%@`.\\\n\t\r") + [
    "\x00", "\x85", "\xa0", "×", "\u2028", "\u2029", "\ufeff", "\ud800", "😀"])
_PIECES = st.one_of(_CHARS, st.sampled_from(["  ", "\n  ", '"a": "b"', "x" * 30, "y " * 20]))
_TEXT = st.one_of(st.text(_CHARS, max_size=40),
                  st.lists(_PIECES, min_size=20, max_size=200).map("".join),
                  st.sampled_from(["---", "...", "- a", "? b", "a: b", "a #c", ":", "-", "#"]))


@settings(max_examples=400, deadline=None)
@given(_TEXT, st.booleans(), st.integers(10, 120))
def test_dumper_writes_what_pyyaml_writes(text: str, unicode: bool, width: int) -> None:
    data: Any = {"k": text, "l": [text, {"m": {"n": text}}], text[:8] or "e": 1}
    expected = yaml.dump(data, Dumper=yaml.SafeDumper, sort_keys=False, width=width,
                         allow_unicode=unicode)
    assert yaml.dump(data, Dumper=Dumper, sort_keys=False, width=width,
                     allow_unicode=unicode) == expected


@settings(max_examples=400, deadline=None)
@given(_TEXT, st.booleans())
def test_scalar_analysis_is_pyyamls(text: str, unicode: bool) -> None:
    ours = Dumper(io.StringIO(), allow_unicode=unicode).analyze_scalar(text)
    theirs = yaml.SafeDumper(io.StringIO(), allow_unicode=unicode).analyze_scalar(text)
    assert ours.__dict__ == theirs.__dict__


# ASCII text takes the fast writers (escapes by translation, a step per fold or per word):
# spaces, escapes side by side, quotes, breaks, control characters written as \xXX
_ASCII = st.sampled_from(list("ab z09 :-#?'\"{}[],.\\\n\t\x01\x7f"))
_ASCII_TEXT = st.one_of(st.text(_ASCII, max_size=60),
                        st.lists(_ASCII | st.sampled_from(["  ", "\n\n", '\\"']),
                                 max_size=150).map("".join),
                        st.lists(st.sampled_from(['"a": "b",', "\n    ", "xyz " * 7, "'q'",
                                                  "\\\\", '""', "w" * 40, " "]),
                                 min_size=5, max_size=120).map("".join))


@settings(max_examples=600, deadline=None)
@given(_ASCII_TEXT, st.integers(5, 120), st.integers(0, 4))
def test_fast_writers_write_what_pyyaml_writes(text: str, width: int, depth: int) -> None:
    data: Any = text
    for i in range(depth):
        data = {f"k{i}": data, "l": [data]}
    expected = yaml.dump(data, Dumper=yaml.SafeDumper, sort_keys=False, width=width)
    assert yaml.dump(data, Dumper=Dumper, sort_keys=False, width=width) == expected
    for style in ('"', "'"):
        want = yaml.dump(data, Dumper=yaml.SafeDumper, sort_keys=False, width=width,
                         default_style=style)
        assert yaml.dump(data, Dumper=Dumper, sort_keys=False, width=width,
                         default_style=style) == want


@pytest.mark.parametrize("style", [None, "'", '"'])
def test_every_fold_column_is_pyyamls(style: str | None) -> None:
    """Words of every length up to the width, at every width: each fold point is met at, just
    before and just past the width (the off-by-ones a random text rarely lands on)."""
    words = " ".join("w" * (i % 13 + 1) + ("'" if i % 5 == 0 else "") + ('"' if i % 7 == 0
                                                                         else "")
                     for i in range(60))
    for width in range(5, 61):
        for data in (words, {"k": words}, {"a": {"b": [words]}}):
            kw: dict[str, Any] = {"sort_keys": False, "width": width, "default_style": style}
            assert yaml.dump(data, Dumper=Dumper, **kw) == yaml.dump(
                data, Dumper=yaml.SafeDumper, **kw), (width, data)
