"""Terminal output: rich tables and colour on a terminal, plain text when piped."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.spec.errors import SpecError


def _has_rich() -> bool:
    from importlib.util import find_spec

    return find_spec("rich") is not None


class Output:
    def __init__(self, no_color: bool = False, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        # rich comes with the sidecar and generate extras; the base CLI prints plain text
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) and _has_rich()
        self.no_color = no_color or not self.tty
        self._console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, no_color=self.no_color,
                                    force_terminal=self.tty, highlight=False)
        return self._console

    def table(self, title: str, headers: list[str], rows: list[list[str]]) -> None:
        if self.tty:
            from rich.table import Table

            table = Table(title=title, title_justify="left")
            for h in headers:
                table.add_column(h)
            for r in rows:
                table.add_row(*r)
            self.console.print(table)
            return
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
                  for i, h in enumerate(headers)]
        lines = [title]
        for line in [headers, *rows]:
            cells = (c.ljust(w) for c, w in zip(line, widths, strict=True))
            lines.append("  ".join(cells).rstrip())
        print("\n".join(lines), file=self.stream)      # one write: a table can be 3,000 rows

    def ok(self, message: str) -> None:
        self._line(message, "green", "ok")

    def warn(self, message: str) -> None:
        self._line(message, "yellow", "warning")

    def error(self, message: str) -> None:
        self._line(message, "red", "error", err=True)

    def info(self, message: str) -> None:
        self._line(message, None, None)

    def _line(self, message: str, colour: str | None, tag: str | None, err: bool = False) -> None:
        stream = sys.stderr if err else self.stream
        if self.tty and colour and stream is self.stream:
            from rich.markup import escape

            self.console.print(f"[{colour}]{tag}[/{colour}] {escape(message)}")
        else:
            print(f"{tag}: {message}" if tag else message, file=stream)

    def spec_errors(self, exc: SpecError) -> None:
        print(f"{exc.source}: {len(exc.issues)} error(s)", file=sys.stderr)
        for issue in exc.issues:
            print(f"  - {issue}", file=sys.stderr)
