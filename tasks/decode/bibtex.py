"""Decode BibTeX entries (the field → value payloads `tasks/fetch/bibtex.py` reads). Values
are LaTeX: accents and escapes (`G{\\"o}tze`, `50\\%`) become the characters they stand for,
through `pylatexenc` when a backslash is present; braces that only protect capitals go; math
stays verbatim (`$a<b$`), so no visible character is lost."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from pylatexenc.latex2text import LatexNodes2Text

from tasks.decode.fields import date_text, first, issns, partial_date, person, plain, terms
from tasks.decode.paper import Reading

_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_BRACES = re.compile(r"[{}]")
_BLANK_YEARS = frozenset({"null", "none", "n.d.", "nd"})


def read_bibtex(payload: dict[str, Any], flags: list[str]) -> Reading:
    field = payload.get
    year = text(field("year"))
    archive = (text(field("archiveprefix")) or text(field("eprinttype")) or "").lower()
    layer: dict[str, Any] = {
        "doi": text(field("doi")),
        "authors": [{"name": name} for name in authors(field("author"))],
        "journal": {
            "name": text(first(field("journal"), field("journaltitle"), field("booktitle"))),
            "volume": text(field("volume")),
            "issue": text(field("number")),
            "pages": (text(field("pages")) or "").replace("--", "-") or None,
            "issn": issns(field("issn")),
        },
        "publicationDate": date_text(text(field("date")))
        or (
            partial_date(year, text(field("month")))
            if year and year.lower() not in _BLANK_YEARS
            else None
        ),
        "publicationTypes": field("ENTRYTYPE"),
        "keywords": terms(text(field("keywords"))),
        "language": text(field("language")),
        "pmid": text(field("pmid")),
        "pmcid": text(field("pmcid")),
        "arxiv_id": text(field("eprint")) if archive == "arxiv" else None,
        "platform": text(field("databaseprovider")),
        "url": text(field("url")),
    }
    titles = [plain(text(field("title"))), plain(text(field("shorttitle")))]
    return Reading(titles, [plain(text(field("abstract")))], (layer,))


# The accents and escapes most names and titles use, read without a LaTeX parser (a parse costs
# about a millisecond a field); anything else still goes to pylatexenc.
_ACCENTS = {
    "`": "\u0300", "'": "\u0301", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304",
    ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328",
    "r": "\u030a", "d": "\u0323", "b": "\u0331",
}  # fmt: skip
_SYMBOL_ACCENT = re.compile(r"\{?\\([`'^\"~=.])\s*\{?([A-Za-z])\}?\}?")
_LETTER_ACCENT = re.compile(r"\{?\\([uvHckrdb])(?:\s+|\{)([A-Za-z])\}?\}?")
_LETTERS = {
    "ss": "ß", "o": "ø", "O": "Ø", "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ",
    "aa": "å", "AA": "Å", "l": "ł", "L": "Ł", "i": "ı",
}  # fmt: skip
_LETTER = re.compile(r"\{?\\(ss|ae|AE|oe|OE|aa|AA|o|O|l|L|i)(?![A-Za-z])\s*\}?")
_ESCAPE = re.compile(r"\\([%&_#$])")


def text(value: Any) -> str | None:
    """A BibTeX value as text: LaTeX decoded where it has a command, braces dropped."""
    if not isinstance(value, str) or not value.strip():
        return None
    if "\\" in value:
        simple = _ESCAPE.sub(r"\1", value)
        simple = _SYMBOL_ACCENT.sub(_accented, simple)
        simple = _LETTER_ACCENT.sub(_accented, simple)
        simple = _LETTER.sub(lambda m: _LETTERS[m.group(1)], simple)
        if "\\" in simple:
            return _latex().latex_to_text(value).strip() or None
        value = unicodedata.normalize("NFC", simple)
    return _BRACES.sub("", value).strip() or None


def _accented(match: re.Match[str]) -> str:
    return match.group(2) + _ACCENTS[match.group(1)]


def authors(value: Any) -> list[str]:
    """`A and B and others`, each `Family, Given` or `Given Family`; `{Corporate Name}` kept
    whole. `others` is no name."""
    if not isinstance(value, str):
        return []
    names: list[str] = []
    depth = 0
    start = 0
    for match in re.finditer(r"[{}]|\s+and\s+", value, re.IGNORECASE):
        token = match.group()
        if token == "{":
            depth += 1
        elif token == "}":
            depth = max(depth - 1, 0)
        elif depth == 0:
            names.append(value[start : match.start()])
            start = match.end()
    names.append(value[start:])
    decoded = (text(name) for name in names)
    return [person(name) for name in decoded if name and name.lower() != "others"]


@lru_cache(maxsize=1)
def _latex() -> LatexNodes2Text:
    return LatexNodes2Text(math_mode="verbatim")
