"""Tables that fit the terminal.

The width is the terminal's (80 when unknown: Rich's default off a terminal, or
``COLUMNS``). Columns that identify a row (run id, task) and numbers and dates are *whole*:
never cut, never dropped. Text columns share what is left: a long value is folded at word
boundaries or cut with an ellipsis, and a text column that cannot get a useful width leaves
the table and is printed under it, one line per row. ``--wide`` prints every column at its
natural width.
"""

from __future__ import annotations

import re
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


# Inside a word too long for its line (a path, a list without spaces) a line may end after
# one of these, the first group preferred (``/data/`` | ``toolbox.db``, not ``toolbox.`` |
# ``db``); a word with none of them is cut only when nothing else fits.
_BREAK_AFTER = ("/", ",;=&?", "-_.:")


def _break_word(word: str, width: int) -> list[str]:
    """``word`` in pieces of at most ``width`` cells, each ending after a break character
    when one is in reach, else cut at the width."""
    pieces = []
    while len(word) > width:
        cut = width
        for group in _BREAK_AFTER:
            found = [i + 1 for i, ch in enumerate(word[:width]) if ch in group]
            if found and found[-1] > width // 3:  # not a sliver of a line
                cut = found[-1]
                break
        pieces.append(word[:cut])
        word = word[cut:]
    return [*pieces, word] if word else pieces


def wrap_plain(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` cells, broken at spaces; a word longer than a
    line is broken after a path separator or punctuation (``_break_word``), never inside
    a word when a space would do."""
    width = max(width, 8)
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if len(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        pieces = _break_word(word, width)
        lines += pieces[:-1]
        line = pieces[-1] if pieces else ""
    lines.append(line)
    return lines


def wrap_text(text: Text, width: int) -> Text:
    """A Rich ``Text`` wrapped as ``wrap_plain`` does, its styles kept, lines joined by
    newlines: a table cell Rich will not fold again."""
    plain = text.plain
    if "\n" in plain or len(plain) <= width:
        return text
    offsets, at = [], 0
    for line in wrap_plain(plain, width)[:-1]:
        at += len(line)
        offsets.append(at)
        if plain[at:at + 1] == " ":
            at += 1  # the space a line ended at is dropped
    out = Text()
    for i, part in enumerate(text.divide(offsets)):
        if i:
            out.append("\n")
            if part.plain.startswith(" "):
                part = part[1:]  # the space the line broke at
        out.append_text(part)
    return out


def print_hanging(console: Console, label: str, value: str, *, markup: bool = False) -> None:
    """``label`` (markup) then ``value``, wrapped at word boundaries to the console's width,
    each continuation line indented under the value's first character. Off a terminal (a
    pipe, a log, cron's mail) the line is printed whole: a program reads it."""
    text = Text.from_markup(value) if markup else Text(value)
    if console.soft_wrap:
        console.print(Text.from_markup(label) + text, soft_wrap=True)
        return
    indent = Text.from_markup(label).cell_len
    if console.width - indent < 20:  # too narrow for a hanging column: a plain indent
        indent = 4
        console.print(Text.from_markup(label))
        label = " " * indent
    wrapped = wrap_text(text, console.width - indent).split("\n")
    for i, line in enumerate(wrapped):
        console.print(Text.from_markup(label) + line if i == 0 else Text(" " * indent) + line,
                      overflow="ignore", crop=False, no_wrap=True)


def _word_width(cell: str) -> int:
    """The widest piece of ``cell`` a line may not break: a word, or a path's part between
    two ``/`` (a path may break after one; a table name is never cut)."""
    plain = Text.from_markup(cell).plain
    return max((len(piece) for word in plain.split() for piece in re.split(r"(?<=/)", word)),
               default=0)


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
    longest = [max([_word_width(r[i]) for r in rows], default=0) for i in range(len(columns))]
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
            # A folded column is never narrower than its longest word (a table name, a
            # path without spaces): it goes under the table rather than cut one.
            wanted = {i: min(natural[i], max(columns[i].min_width, longest[i])
                             if columns[i].overflow == "fold" else columns[i].min_width)
                      for i in texts}
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
    folded = {i for i in shown if not wide and not columns[i].whole
              and columns[i].overflow == "fold"}
    for r in rows:
        # A folded cell is wrapped here, at spaces and then after path separators: Rich's
        # own fold would cut a path or a word anywhere (``…/data/too`` | ``lbox.db``).
        table.add_row(*(wrap_text(Text.from_markup(r[i]), limits[i]) if i in folded else r[i]
                        for i in shown))
    total = sum(natural[i] if (columns[i].whole or wide) else limits[i] for i in shown) \
        + gap * (len(shown) - 1)
    console.print(table, width=max(total, width) if wide else None, crop=not wide)
    moved = [i for i in range(len(columns)) if i not in shown]
    labels = row_label or [r[0] for r in rows]
    below = Table.grid(padding=(0, 1))  # the value folds under itself, not under the label
    below.add_column(no_wrap=True)
    below.add_column(overflow="fold")
    under = [(f"  {label} {columns[i].header}:", r[i]) for i in moved
             for label, r in zip(labels, rows, strict=True)
             if Text.from_markup(r[i]).plain.strip() not in ("", "-")]
    room = width - max((Text.from_markup(head).cell_len for head, _ in under), default=0) - 1
    for head, value in under:
        below.add_row(head, value if wide else wrap_text(Text.from_markup(value), room))
    if below.row_count:
        console.print(below)
