"""Rules for a value typed as text, in plain Python (no Polars): the command line's date
options use them too, so they stay cheap to import."""

from __future__ import annotations

import re
from datetime import date

_TEXT_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TEXT_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?")


def text_date(text: str) -> date:
    """A date typed as text: ``dd/mm/YYYY`` (the sheets' format) or ISO
    ``YYYY-MM-DD[Thh:mm...]``, never guessed (imports, the rate provider's answers)."""
    s = text.strip()
    if m := _TEXT_DMY.fullmatch(s):
        day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    elif m := _TEXT_ISO.fullmatch(s):
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        raise ValueError(f"{text!r} is not a date; write dd/mm/YYYY or YYYY-MM-DD")
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{text!r} is not a real date (day/month out of range)") from None
