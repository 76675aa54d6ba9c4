"""The only module that prints: tables, progress, one-line messages.

Everything else in ``hetrec/`` returns values; the CLI hands them here. Output goes
to stderr for progress and messages, stdout for tables and JSON, so
``hetrec evaluate ... > table.txt`` captures just the results.
"""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

# Piped or redirected output (logs, CI) gets a wide console, so tables are not truncated to 80 columns.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 160)


def message(text: str) -> None:
    """A one-line status message on stderr."""
    err.print(escape(text), highlight=False)  # escaped: "[pretrain.x]" in a message is text, not markup


def error(text: str) -> None:
    err.print(f"[bold red]error:[/] {escape(text)}", highlight=False)


def _cell(v: Any, floatfmt: str) -> str:
    """A dash for missing values (None, NaN: e.g. a slice with no users), formatted floats, str otherwise."""
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    return floatfmt.format(v) if isinstance(v, float) else escape(str(v))


def table(rows: Sequence[dict[str, Any]], *, title: str | None = None, floatfmt: str = "{:.4f}") -> None:
    """Print a list of dicts as a table (columns in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(str(c), justify="right" if rows and isinstance(rows[0].get(c), (int, float)) else "left")
    for row in rows:
        t.add_row(*[_cell(v, floatfmt) for v in (row.get(c) for c in columns)])
    out.print(t)


def as_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Any]:
    """Progress on stderr; yields ``advance(n=1, info="")``. On a terminal a bar with ETA and ``info``
    (current loss, validation metric) and, through ``advance.steps(what, done, of)``, a second row for the
    batches of the current epoch and its validation; otherwise (logs, CI, pipes) one plain line per advance, e.g.
    ``training 3/300  loss 0.4120  val ndcg@10 0.0612``, so long commands are never silent."""
    if not err.is_terminal:
        done = 0

        def line(n: int = 1, info: str = "") -> None:
            nonlocal done
            done += n
            of = f"/{total}" if total is not None else ""
            err.print(escape(f"{description} {done}{of}" + (f"  {info}" if info else "")), highlight=False)

        yield line
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(description, total=total, info="")
        inner = bar.add_task("", total=None, info="", visible=False)

        def advance(n: int = 1, info: str = "") -> None:
            bar.update(task, advance=n, info=escape(info))

        def steps(what: str, done: int, of: int) -> None:
            """The second row: batches of the current epoch, then its validation (terminal only)."""
            bar.update(inner, description=escape(f"  {what}"), completed=done, total=of, visible=True)

        advance.steps = steps  # type: ignore[attr-defined]
        yield advance
        bar.update(inner, visible=False)


def track(items: Iterable, description: str, total: int | None = None) -> Iterator:
    with progress(description, total=total if total is not None else getattr(items, "__len__", lambda: None)()) as adv:
        for x in items:
            yield x
            adv()
