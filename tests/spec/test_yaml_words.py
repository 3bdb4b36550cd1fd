"""YAML 1.1 reads ``on``/``off``/``yes``/``no`` as booleans; the spec is read as YAML 1.2 words,
so ``mode: off`` as the README writes it is the text ``off``, and booleans still accept them."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.spec import SpecError, load_text
from agent.spec.loader import _loader, _parse

BASE = "service: svc\nmodels: [{name: m}]\nobjectives: []\n"


@pytest.mark.parametrize("word", ["on", "off", "auto"])
def test_gpu_mode_words_as_the_readme_writes_them(word: str) -> None:
    spec = load_text(BASE + f"sources: {{gpu: {{mode: {word}}}}}\n")
    assert spec.sources.gpu.mode == word


def test_bool_fields_still_take_yes_no_on_off() -> None:
    text = BASE + ("sources:\n  datasets:\n    - name: d\n      contract:\n"
                   "        allow_extra_columns: no\n      drift: {skip_identifiers: off}\n")
    ds = load_text(text).sources.datasets[0]
    assert ds.contract.allow_extra_columns is False and ds.drift.skip_identifiers is False


def test_wrong_mode_says_what_to_write() -> None:
    with pytest.raises(SpecError) as info:
        load_text(BASE + "sources: {gpu: {mode: maybe}}\n")
    assert "'auto', 'on' or 'off'" in str(info.value)


@given(st.sampled_from(["on", "off", "yes", "no", "y", "n", "true", "false", "auto"]),
       st.sampled_from(["", "'", '"']))
def test_gpu_mode_property(word: str, quote: str) -> None:
    """Every YAML boolean-looking word, quoted or not: a valid mode or an error naming the
    allowed words, never a type error about a boolean."""
    text = BASE + f"sources: {{gpu: {{mode: {quote}{word}{quote}}}}}\n"
    try:
        spec = load_text(text)
    except SpecError as exc:
        assert "sources.gpu.mode" in str(exc) and "'on' or 'off'" in str(exc)
    else:
        assert spec.sources.gpu.mode == word


_YAML_CHARS = st.sampled_from(list("ab09 :-#?'\"{}[],&*!|>%@`.\n\t~=\r\\")
                              + ["é", "\x85", "😀", "\ufeff", "\x00", "\u2028", "\x1b"])
_YAML_TEXT = st.one_of(st.text(_YAML_CHARS, max_size=10), st.sampled_from(
    ["on", "off", "yes", "No", "true", "FALSE", "null", "~", "1e5", "0x1F", "0o7", "1_000", "1:30",
     "2024-01-02", "2024-01-02 10:00:00", ".inf", "-.nan", "<<", "=", "!!str x", "&a x", "*a",
     "a: b", "- a", "[a, b]", "{a: 1}", "'q'", "\"q\"", "|\n  x", "a #c", "---", "..."]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["k", "on", "2", "a b", "? x", "- y", "&a k", "*a",
                                           "%YAML 1.1\n---\nk"]), _YAML_TEXT), max_size=6),
       st.sampled_from(["block", "flow", "raw"]))
def test_libyaml_parse_reads_what_pyyaml_reads(pairs: list[tuple[str, str]], style: str
                                               ) -> None:
    """The spec is parsed by libyaml (fast) with PyYAML's parse as the judge wherever libyaml
    refuses: any text reads the same as with PyYAML alone, or fails with PyYAML's message."""
    if style == "raw":          # hand-written YAML, often invalid
        text = "".join(f"{k}: {v}\n" for k, v in pairs)
    else:
        text = yaml.safe_dump(dict(pairs), default_flow_style=style == "flow",
                              allow_unicode=True)
    try:
        expected: Any = yaml.load(text, Loader=_loader())
    except (yaml.YAMLError, ValueError) as exc:
        expected = ("error", str(exc))
    try:
        got: Any = _parse(text)
    except (yaml.YAMLError, ValueError) as exc:
        got = ("error", str(exc))
    assert got == expected
