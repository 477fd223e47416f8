"""Tables that fit the terminal.

The width is the terminal's (80 when unknown: Rich's default off a terminal, or
``COLUMNS``). Columns that identify a row (run id, task) and numbers and dates are *whole*:
never cut, never dropped. Text columns share what is left: a long value is folded at word
boundaries or cut with an ellipsis, and a text column that cannot get a useful width leaves
the table and is printed under it, one line per row. ``--wide`` prints every column at its
natural width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

Justify = Literal["left", "right", "center"]


@dataclass(frozen=True)
class Column:
    header: str
    justify: Justify = "left"
    whole: bool = True  # an id, a name, a number, a date: never cut
    overflow: Literal["ellipsis", "fold"] = "ellipsis"  # for a text column
    min_width: int = 12  # a text column narrower than this goes under the table


def _cell_width(cell: str) -> int:
    return max((Text.from_markup(line).cell_len for line in cell.split("\n")), default=0)


def fit_table(console: Console, title: str | None, columns: Sequence[Column],
              rows: Sequence[Sequence[str]], *, wide: bool = False,
              row_label: Sequence[str] | None = None) -> None:
    """Print ``rows`` as a table that fits ``console.width`` (or at full width if ``wide``).

    A text column that does not fit is printed under the table, each value after its
    row's label (``row_label``, default the first cell).
    """
    natural = [max([_cell_width(c.header)] + [_cell_width(r[i]) for r in rows])
               for i, c in enumerate(columns)]
    shown = list(range(len(columns)))
    limits = dict(enumerate(natural))
    width = console.width
    # Between two columns: their padding and the box's separator, 3 spaces; 2 when the
    # padding collapses (tight terminals).
    gap = 3 if wide or sum(natural) + 3 * (len(columns) - 1) <= width else 2
    if not wide:
        texts = [i for i in shown if not columns[i].whole]
        while True:
            free = width - sum(natural[i] for i in shown if columns[i].whole) \
                - gap * (len(shown) - 1)
            wanted = {i: min(natural[i], columns[i].min_width) for i in texts}
            if sum(wanted.values()) <= free or not texts:
                break
            shown.remove(texts.pop())  # the last text column goes under the table
        # Each text column gets its minimum, then what is left in column order.
        free -= sum(wanted.values())
        for i in texts:
            extra = min(natural[i] - wanted[i], max(free, 0))
            limits[i] = wanted[i] + extra
            free -= extra
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  collapse_padding=gap == 2, padding=(0, 1), title_justify="left")
    for i in shown:
        c = columns[i]
        if c.whole or wide:
            table.add_column(c.header, justify=c.justify, no_wrap=True, min_width=natural[i])
        else:
            table.add_column(c.header, justify=c.justify, no_wrap=c.overflow == "ellipsis",
                             overflow=c.overflow, max_width=limits[i])
    for r in rows:
        table.add_row(*(r[i] for i in shown))
    total = sum(natural[i] if (columns[i].whole or wide) else limits[i] for i in shown) \
        + gap * (len(shown) - 1)
    console.print(table, width=max(total, width) if wide else None, crop=not wide)
    moved = [i for i in range(len(columns)) if i not in shown]
    labels = row_label or [r[0] for r in rows]
    below = Table.grid(padding=(0, 1))  # the value folds under itself, not under the label
    below.add_column(no_wrap=True)
    below.add_column(overflow="fold")
    for i in moved:
        for label, r in zip(labels, rows, strict=True):
            if Text.from_markup(r[i]).plain.strip() not in ("", "-"):
                below.add_row(f"  {label} {columns[i].header}:", r[i])
    if below.row_count:
        console.print(below)
