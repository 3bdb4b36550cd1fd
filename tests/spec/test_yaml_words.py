"""YAML 1.1 reads ``on``/``off``/``yes``/``no`` as booleans; the spec is read as YAML 1.2 words,
so ``mode: off`` as the README writes it is the text ``off``, and booleans still accept them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.spec import SpecError, load_text

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
