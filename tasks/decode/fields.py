"""What the decoders of declared formats share: which text is markup and which is plain, dates
from parts, ORCID iDs.

`build_paper` cleans every text with `clean_text`, which reads markup where it sees a tag or an
entity. A plain-text field (a Dublin Core title, an OpenAlex abstract rebuilt from its words)
is escaped first, so that reading it as markup gives back every character as written
(`a<b and c>d` stays whole). A field that is markup (Crossref's JATS, HTML) is read as markup
here, once, and its text handed on escaped the same way: a `&lt;` the markup held stays a `<`.
Titles are one line: markup's layout (line breaks around `<i>KRAS</i>`) is not the title's.
"""

from __future__ import annotations

import html
import re
from typing import Any

from scholarflow.paper.text import clean_text

# What makes a field markup: a closing tag of HTML's inline and block elements, JATS or MathML
# (`</i>`, `</jats:p>`), or a line break (`<br>`, `<br/>`), written as tags or escaped once more
# (`&lt;/p&gt;`, as Zenodo's Dublin Core descriptions are). An opening tag alone is not enough:
# `a<b and c>d` is plain text that only looks like one.
_NAMES = (
    r"(?:p|i|b|u|em|strong|sup|sub|sc|span|div|ul|ol|li|a|h[1-6]|table|tr|td|th"
    r"|jats:[a-z-]+|mml:[a-z]+|math|italic|bold)"
)
_MARKUP = re.compile(rf"</{_NAMES}\s*>|<br\s*/?>", re.IGNORECASE)
_ESCAPED_MARKUP = re.compile(rf"&lt;/{_NAMES}\s*&gt;|&lt;br\s*/?&gt;", re.IGNORECASE)
_ORCID = re.compile(r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]")


# A leading heading JATS abstracts often carry.
_HEADINGS = ("abstract", "摘要", "summary")


def plain(text: Any, *, title: bool = False) -> str | None:
    """A plain-text field, escaped so that cleaning keeps every character."""
    if not isinstance(text, str) or not text.strip():
        return None
    if title:
        text = " ".join(text.split())
    return html.escape(text, quote=False) if ("<" in text or "&" in text) else text


def markup(text: Any, *, title: bool = False) -> str | None:
    """A field that is markup (JATS, HTML): its visible text, without a leading `Abstract`."""
    if not isinstance(text, str) or not (cleaned := clean_text(text)):
        return None
    head, _, rest = cleaned.partition("\n")
    if not title and rest and head.strip(" :").casefold() in _HEADINGS:
        cleaned = rest
    return plain(cleaned, title=title)


def sniffed(text: Any, *, title: bool = False) -> str | None:
    """A field that may be either (Dublin Core descriptions, titles with `<i>`): markup only
    when it holds a known tag, so a stray `<` of plain text is never read as one."""
    if not isinstance(text, str):
        return None
    if _MARKUP.search(text):
        return markup(text, title=title)
    if _ESCAPED_MARKUP.search(text):
        return markup(html.unescape(text), title=title)
    return plain(text, title=title)


def orcid(value: Any) -> str | None:
    """The bare iD (`0000-0002-1825-0097`) of an ORCID written in any form."""
    match = _ORCID.search(str(value or ""))
    return match.group(0) if match else None


def date_parts(value: Any) -> str | None:
    """`{"date-parts": [[2016, 1, 29]]}` as `2016-01-29` (or `2016-01`, `2016`)."""
    parts = value.get("date-parts") if isinstance(value, dict) else None
    first = parts[0] if isinstance(parts, list) and parts and isinstance(parts[0], list) else []
    numbers = [int(p) for p in first if isinstance(p, int | str) and str(p).isdigit()]
    if not numbers:
        return None
    return "-".join(f"{n:02d}" if i else str(n) for i, n in enumerate(numbers[:3]))


def first_text(value: Any) -> str | None:
    """The first non-empty string of a value that may be a list."""
    items = value if isinstance(value, list) else [value]
    return next((v for v in items if isinstance(v, str) and v.strip()), None)


def strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, str) and v.strip()]
