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
        if text.isascii() and (self.indent or 0) + 1 < self.best_width:
            return self._double_quoted_ascii(text, split)
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


    # -- ASCII text: escapes by str.translate, folds found by one regex search each -----------
    def _double_quoted_ascii(self, text: str, split: bool) -> None:
        """PyYAML's double-quoted writer for ASCII text, one step per fold instead of one per
        escaped character. The text is escaped at once (``E``); a twin (``M``, the same length)
        marks each escape's first and last character and each unescaped space, where PyYAML
        may fold: before a space, and after an escape (one column later when another escape
        follows, or when the next character is the last one). A fold is the first such place
        past the width. (Only where the indentation is inside the width: else PyYAML may fold
        twice at one place, which the regex writer above reproduces.)"""
        self.write_indicator('"', True)
        escaped, marks = _escape(text)
        write, n, width = self.stream.write, len(escaped), self.best_width
        column, start = self.column, 0
        if split and n > 1:
            indent = self.indent or 0
            brk = "\\" + self.best_line_break + " " * indent
            last = n - 1
            while True:
                at = start + width - column + 1   # the first place whose column is past it
                found, pos = None, max(at, 1)
                while True:
                    m = _FOLDS.search(marks, pos)
                    if m is None or m.start() >= n:
                        break
                    x = m.start()
                    if marks[x - 1] != 2:                 # before a space
                        if x != last:
                            found = x
                            break
                    elif marks[x] != 1 and x != last:
                        found = x                         # after an escape
                        break
                    elif x > at and not _escape_first(marks, x):
                        found = x           # after an escape, before another or the last
                        break
                    pos = x + 1
                if found is None:
                    break
                write(escaped[start:found])
                write(brk)
                self.line += 1
                self.whitespace = self.indention = False
                start, column = found, indent
                if marks[found] == 32:
                    write("\\")
                    column += 1
        write(escaped[start:])
        self.column = column + n - start
        self.write_indicator('"', False)
        return None

    # -- plain and single-quoted scalars: a step per word, not per character -----------------
    def write_plain(self, text: str, split: bool = True) -> None:
        if self.encoding or not _ONE_LINE.match(text):
            return super().write_plain(text, split)
        if self.root_context:
            self.open_ended = True
        if not text:
            return None
        write = self.stream.write
        if not self.whitespace:
            self.column += 1
            write(" ")
        self.whitespace = self.indention = False
        for i, piece in enumerate(_SPACES.split(text)):
            if i % 2 and piece == " " and self.column > self.best_width and split:
                self.write_indent()
                self.whitespace = self.indention = False
            elif piece:
                self.column += len(piece)
                write(piece)
        return None

    def write_single_quoted(self, text: str, split: bool = True) -> None:
        if self.encoding or not _QUOTABLE_LINES.match(text):
            return super().write_single_quoted(text, split)
        self.write_indicator("'", True)
        write = self.stream.write
        pieces = _SPACES_OR_BREAKS.split(text)
        last = len(pieces) - 1
        for i, piece in enumerate(pieces):
            if not i % 2:                                   # a run of other characters
                if piece:
                    quotes = piece.count("'")
                    self.column += len(piece) + quotes
                    write(piece.replace("'", "''") if quotes else piece)
            elif piece[0] == " ":                          # a run of spaces
                inside = (i > 1 or pieces[0]) and (i < last - 1 or pieces[last])
                if piece == " " and self.column > self.best_width and split and inside:
                    self.write_indent()
                else:
                    self.column += len(piece)
                    write(piece)
            else:                                           # a run of line breaks
                self.write_line_break()
                for _ in piece:
                    self.write_line_break()
                self.write_indent()
        self.write_indicator("'", False)
        return None


def _escape_first(marks: bytes, x: int) -> bool:
    """The escape ending just before ``x`` is the text's first character."""
    return marks.rfind(b"\x01", 0, x) == 0


def _escape(text: str) -> tuple[str, bytes]:
    """(ASCII ``text`` escaped as PyYAML's double-quoted writer does, its marks): the marks are
    made by a bytes translation (a two-character escape is \\x01 then \\x02), the escapes by
    str.replace of the characters present, both at C speed; a control character written as
    ``\\xXX`` sends the text through the (slower) general tables."""
    marks = text.encode("ascii").translate(_MARKS_BYTES)
    if b"\x05" in marks:
        general = text.translate(_MARKS)
        return text.translate(_ESCAPED), general.encode("ascii")
    if b"\x01" not in marks:
        return text, marks
    for ch, esc in _TWO:
        if ch in text:
            text = text.replace(ch, esc)
    return text, marks.replace(b"\x01", b"\x01\x02")


def _escape_table() -> tuple[dict[int, str], dict[int, str]]:
    """ASCII → how PyYAML's double-quoted writer spells it (without allow_unicode), and → its
    mark: 'a' for a plain character, ' ' for a space, \\x01 (\\x03...) \\x02 over an escape."""
    replacements = yaml.emitter.Emitter.ESCAPE_REPLACEMENTS
    escaped, marks = {}, {}
    for code in range(128):
        ch = chr(code)
        if ch in '"\\' or not "\x20" <= ch <= "\x7e":
            esc = "\\" + replacements[ch] if ch in replacements else f"\\x{code:02X}"
            escaped[code] = esc
            marks[code] = "\x01" + "\x03" * (len(esc) - 2) + "\x02"
        else:
            marks[code] = " " if ch == " " else "a"
    return escaped, marks


_ESCAPED, _MARKS = _escape_table()
#: per ASCII byte: \x01 a two-character escape, \x05 a longer one, ' ' a space, 'a' the rest
_MARKS_BYTES = bytes((1 if len(_ESCAPED[c]) == 2 else 5) if c in _ESCAPED else
                     (32 if c == 32 else 97) for c in range(128)) + b"a" * 128
#: the two-character escapes, the backslash first (the others add backslashes)
_TWO = sorted(((chr(c), e) for c, e in _ESCAPED.items() if len(e) == 2),
              key=lambda pair: pair[0] != "\\")
#: a place PyYAML's double-quoted writer may fold at: before an unescaped space, after an escape
_FOLDS = re.compile(b"(?= )|(?<=\x02)")
_ONE_LINE = re.compile("[^\n\x85\u2028\u2029]*\\Z")
_QUOTABLE_LINES = re.compile("[^\x85\u2028\u2029]*\\Z")
_SPACES = re.compile("( +)")
_SPACES_OR_BREAKS = re.compile("( +|\n+)")
