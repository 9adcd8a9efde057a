"""Small readings shared by the file-format decoders: dates from their parts, names from
"Family, Given", lists from separated strings, and the plain-text marker for every text an
export holds (exports are never markup, so no `<` in them is parsed)."""

from __future__ import annotations

import re
from typing import Any

from scholarflow.paper.text import PlainText

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|2[0-2][0-9]{2})(?!\d)")
_DATE_PARTS = re.compile(r"[/\-.\s年月日]+")
_SEPARATORS = re.compile(r"\s*(?:;;|;|；|，|,)\s*")


def plain(value: Any) -> PlainText | None:
    """A text the source declares plain, or None for nothing (blank, not text)."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    if not isinstance(value, str) or not value.strip():
        return None
    return PlainText(value)


def month_number(value: Any) -> int | None:
    text = str(value or "").strip().lower().rstrip(".")
    if text.isdigit():
        number = int(text)
        return number if 1 <= number <= 12 else None
    return _MONTHS.get(text[:3] if text[:3] != "sep" else "sep")


def partial_date(year: Any, month: Any = None, day: Any = None) -> str | None:
    """`2014-03-02`, `2014-03` or `2014`, as precise as the parts given are valid."""
    found = _YEAR.search(str(year or ""))
    if found is None:
        return None
    text = found.group(1)
    number = month_number(month)
    if number is None:
        return text
    text += f"-{number:02d}"
    day_text = str(day or "").strip()
    if day_text.isdigit() and 1 <= int(day_text) <= 31:
        text += f"-{int(day_text):02d}"
    return text


def date_text(value: Any) -> str | None:
    """A date written `2014/03/02/`, `2014//`, `2001 Jan-Feb`, `2021-01-15 16:54` or
    `2009年3月`, as `partial_date` gives it."""
    text = str(value or "").strip()
    if not text:
        return None
    parts = [p for p in _DATE_PARTS.split(text) if p]
    if not parts:
        return None
    year_at = next((i for i, p in enumerate(parts) if _YEAR.fullmatch(p)), None)
    if year_at is None:
        return partial_date(text)
    rest = parts[year_at + 1 :]
    month = rest[0] if rest else None
    day = rest[1] if len(rest) > 1 and month_number(month) is not None else None
    return partial_date(parts[year_at], month, day)


def terms(values: Any) -> list[str]:
    """Keywords as a list: each value split at `;`, `;;` and commas, blanks dropped."""
    items = values if isinstance(values, list) else [values]
    found: list[str] = []
    for item in items:
        if isinstance(item, str):
            found += [t.strip() for t in _SEPARATORS.split(item) if t.strip()]
    return list(dict.fromkeys(found))


def person(name: str) -> str:
    """`Family, Given` as `Given Family`; any other form as it is."""
    name = name.strip().strip(",;").strip()
    if name.count(",") == 1:
        family, given = (part.strip() for part in name.split(","))
        if family and given:
            return f"{given} {family}"
    return name


def first(*values: Any) -> Any:
    """The first value that is not blank."""
    for value in values:
        if isinstance(value, list):
            value = next((v for v in value if v not in (None, "")), None)
        if value not in (None, "") and not (isinstance(value, str) and not value.strip()):
            return value
    return None


def pages(start: Any, end: Any = None) -> str | None:
    start_text, end_text = str(start or "").strip(), str(end or "").strip()
    if start_text and end_text and end_text != start_text:
        return f"{start_text}-{end_text}"
    return start_text or end_text or None
