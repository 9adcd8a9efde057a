"""Decode BibTeX entries (the field → value payloads `tasks/fetch/bibtex.py` reads). Values
are LaTeX: accents and escapes (`G{\\"o}tze`, `50\\%`) become the characters they stand for,
through `pylatexenc` when a backslash is present; braces that only protect capitals go; math
stays verbatim (`$a<b$`), so no visible character is lost."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pylatexenc.latex2text import LatexNodes2Text

from tasks.decode.fields import date_text, first, partial_date, person, plain, terms
from tasks.decode.paper import Reading
from tasks.decode.ris import issns

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


def text(value: Any) -> str | None:
    """A BibTeX value as text: LaTeX decoded where it has a command, braces dropped."""
    if not isinstance(value, str) or not value.strip():
        return None
    if "\\" in value:
        return _latex().latex_to_text(value).strip() or None
    return _BRACES.sub("", value).strip() or None


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
