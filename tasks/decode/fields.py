"""Small readings shared by every declared-format decoder (file exports and harvested works):
which text is plain and which is markup, dates from their parts, names from "Family, Given",
lists from separated strings, ISSNs.

Plain and markup have one way each (`scholarflow/paper/text.py`): a plain field is handed on
as `PlainText`, which `build_paper` never parses, so no `<` in it is lost (an export, an
abstract rebuilt from its words, XML already read as text); a markup field (Crossref's JATS,
HTML) is read as markup here, once (`clean_text(..., markup=True)`), and its text handed on as
`PlainText` too, so a `&lt;` the markup held stays a `<`. A field that may be either (a Dublin
Core description, a work title with `<i>`) is markup only when it closes a known element.
Titles are one line: markup's layout (line breaks around `<i>KRAS</i>`) is not the title's.
"""

from __future__ import annotations

import html
import re
from typing import Any

from scholarflow.paper.text import PlainText, clean_text, closes_an_element

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
_ISSN = re.compile(r"\b\d{4}-?\d{3}[\dXx]\b")
# A leading heading abstracts often carry (JATS `<jats:title>Abstract</jats:title>`, CNKI).
HEADINGS = ("abstract", "摘要", "summary")


def plain(value: Any, *, title: bool = False) -> PlainText | None:
    """A text the source declares plain (the first non-blank one of a list), or None."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    if not isinstance(value, str) or not value.strip():
        return None
    return PlainText(" ".join(value.split()) if title else value)


def markup(value: Any, *, title: bool = False) -> PlainText | None:
    """A field that is markup (JATS, HTML): its visible text, without a leading `Abstract`."""
    if not isinstance(value, str) or not (text := clean_text(value, markup=True)):
        return None
    head, _, rest = text.partition("\n")
    if not title and rest and head.strip(" :").casefold() in HEADINGS:
        text = rest
    return plain(text, title=title)


def sniffed(value: Any, *, title: bool = False) -> PlainText | None:
    """A field that may be either: markup only when it closes a known element, written as tags
    or escaped once more (`&lt;/p&gt;`, as Zenodo's Dublin Core descriptions are), so a stray
    `<` of plain text is never read as one."""
    if not isinstance(value, str):
        return None
    if closes_an_element(value):
        return markup(value, title=title)
    if "&lt;" in value and closes_an_element(unescaped := html.unescape(value)):
        return markup(unescaped, title=title)
    return plain(value, title=title)


def strings(value: Any) -> list[str]:
    """The non-blank strings of a value that may be one or a list."""
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, str) and v.strip()]


def first(*values: Any) -> Any:
    """The first value that is not blank (a list gives its first non-blank item)."""
    for value in values:
        if isinstance(value, list):
            value = next((v for v in value if v not in (None, "")), None)
        if value not in (None, "") and not (isinstance(value, str) and not value.strip()):
            return value
    return None


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


def date_parts(value: Any) -> str | None:
    """Crossref's `{"date-parts": [[2016, 1, 29]]}` as `partial_date` gives it."""
    parts = value.get("date-parts") if isinstance(value, dict) else None
    found = parts[0] if isinstance(parts, list) and parts and isinstance(parts[0], list) else []
    return partial_date(*found[:3]) if found else None


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


def pages(start: Any, end: Any = None) -> str | None:
    start_text, end_text = str(start or "").strip(), str(end or "").strip()
    if start_text and end_text and end_text != start_text:
        return f"{start_text}-{end_text}"
    return start_text or end_text or None


def issns(value: Any) -> list[str]:
    """The ISSNs in a field that may also hold ISBNs or several ISSNs, as `1234-567X`."""
    values = value if isinstance(value, list) else [value]
    found = [m.group().upper() for v in values if isinstance(v, str) for m in _ISSN.finditer(v)]
    return list(dict.fromkeys(f"{i[:4]}-{i[-4:]}" for i in found))
