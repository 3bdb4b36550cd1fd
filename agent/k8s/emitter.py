"""PyYAML's pure-Python safe dumper with its two per-character loops done by regular expressions.

The Kubernetes objects hold whole dashboards and rule files as string values, which PyYAML writes
double-quoted and folded at the line width. Its emitter looks at each character of each string
twice in Python (``analyze_scalar`` to pick a style, ``write_double_quoted`` to write it): ~15 s
for 1,000 objectives. libyaml is fast but folds such strings differently (it does not escape the
space at a fold), so the bytes would change. :class:`Dumper` keeps PyYAML's emitter and replaces
only those two methods with equivalents that find the characters that matter by regex and copy
the runs between them; everything else (styles, indentation, folding points) is PyYAML's own.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.emitter import ScalarAnalysis

_WS = "\0 \t\r\n\x85\u2028\u2029"
_BREAKS = "\n\x85\u2028\u2029"
#: characters PyYAML's analysis calls special; non-ASCII printable ones only without allow_unicode
_SPECIAL = re.compile("[^\n\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010fffe]|\ufeff")
_UNICODE = re.compile("[\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010fffe]")
_BREAK_SPACE = re.compile(f"[{_BREAKS}] ")
_SPACE_BREAK = re.compile(f" [{_BREAKS}]")
#: an indicator anywhere after the first character: ``,?[]{}`` or ``:``
_FLOW_INNER = re.compile(r"[,?\[\]{}:]")
#: ``:`` followed by whitespace or the end, or ``#`` after whitespace (after the first character)
_BLOCK_INNER = re.compile(f"(?s).(?::(?:[{_WS}]|\\Z)|(?<=[{_WS}])#)")
#: a character write_double_quoted escapes (with and without allow_unicode)
_ESCAPE = re.compile("[^\x20-\x7e]|[\"\\\\]")
_ESCAPE_UNICODE = re.compile("[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd]|[\"\\\\\x85\u2028\u2029\ufeff]")


class Dumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` writing the same bytes, with the character loops done by regex."""

    def analyze_scalar(self, scalar: str) -> Any:
        if not scalar:
            return super().analyze_scalar(scalar)
        first, n = scalar[0], len(scalar)
        follows_ws = n == 1 or scalar[1] in _WS
        block = flow = scalar.startswith(("---", "..."))
        if first in "#,[]{}&*!|>'\"%@`":
            flow = block = True
        if first in "?:":
            flow = True
            block = block or follows_ws
        if first == "-" and follows_ws:
            flow = block = True
        if _BLOCK_INNER.search(scalar):
            flow = block = True
        elif _FLOW_INNER.search(scalar, 1):
            flow = True
        line_breaks = any(b in scalar for b in _BREAKS)
        special = bool(_SPECIAL.search(scalar)) or (not self.allow_unicode
                                                    and bool(_UNICODE.search(scalar)))
        leading_space, trailing_space = first == " ", scalar[-1] == " "
        leading_break, trailing_break = first in _BREAKS, scalar[-1] in _BREAKS
        break_space = bool(_BREAK_SPACE.search(scalar))
        space_break = bool(_SPACE_BREAK.search(scalar))
        flow_plain = block_plain = single = block_ok = True
        if leading_space or leading_break or trailing_space or trailing_break:
            flow_plain = block_plain = False
        if trailing_space:
            block_ok = False
        if break_space:
            flow_plain = block_plain = single = False
        if space_break or special:
            flow_plain = block_plain = single = block_ok = False
        if line_breaks:
            flow_plain = block_plain = False
        if flow:
            flow_plain = False
        if block:
            block_plain = False
        return ScalarAnalysis(scalar=scalar, empty=False, multiline=line_breaks,
                              allow_flow_plain=flow_plain, allow_block_plain=block_plain,
                              allow_single_quoted=single, allow_double_quoted=True,
                              allow_block=block_ok)

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        if self.encoding:
            return super().write_double_quoted(text, split)
        self.write_indicator('"', True)
        escape = _ESCAPE_UNICODE if self.allow_unicode else _ESCAPE
        write, n, width = self.stream.write, len(text), self.best_width
        replacements = self.ESCAPE_REPLACEMENTS
        start = end = 0
        while end <= n:
            ch = text[end] if end < n else None
            if ch is None or escape.match(ch):
                if start < end:
                    self.column += end - start
                    write(text[start:end])
                    start = end
                if ch is not None:
                    if ch in replacements:
                        data = "\\" + replacements[ch]
                    elif ch <= "\xff":
                        data = f"\\x{ord(ch):02X}"
                    elif ch <= "\uffff":
                        data = f"\\u{ord(ch):04X}"
                    else:
                        data = f"\\U{ord(ch):08X}"
                    self.column += len(data)
                    write(data)
                    start = end + 1
            if 0 < end < n - 1 and (ch == " " or start >= end) \
                    and self.column + (end - start) > width and split:
                data = text[start:end] + "\\"
                if start < end:
                    start = end
                self.column += len(data)
                write(data)
                self.write_indent()
                self.whitespace = False
                self.indention = False
                if text[start] == " ":
                    self.column += 1
                    write("\\")
            end += 1
            if start < end < n:
                # past the run's start, only an escaped character or a space past the width
                # acts: jump to the first of them (or the end)
                found = escape.search(text, end)
                nxt = found.start() if found else n
                if split:
                    fold = text.find(" ", max(end, start + width - self.column + 1),
                                     min(nxt, n - 1))
                    if fold != -1:
                        nxt = fold
                end = nxt
        self.write_indicator('"', False)
        return None

