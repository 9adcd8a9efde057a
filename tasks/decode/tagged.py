"""Decode the tagged exports other than RIS: EndNote/Refer (`%T`, `%A` …), RefWorks (`T1`,
`A1` …) and NoteExpress (`{Title}`, `{Author}` …), each a payload of tag → values in file
order. CNKI and Wanfang write them with Chinese texts in the main fields, English in the
translated ones, authors separated by `;` or `;;`, and line breaks as `(#br)`. Texts are plain:
nothing in them is parsed as markup, so `P<0.05` reaches the index as it is."""

from __future__ import annotations

import re
from typing import Any

from scholarflow.paper.doi import find_doi
from tasks.decode.fields import HEADINGS, date_text, first, issns, pages, person, plain, terms
from tasks.decode.paper import Reading

_BREAK = "(#br)"
_NAMES = re.compile(r"\s*(?:;;|;|；)\s*")


def read_endnote(payload: dict[str, Any], flags: list[str]) -> Reading:
    tags = _Tags(payload)
    authors = tags.names("%A")
    layer = {
        "doi": _doi(tags.all("%R")),
        "authors": _with_addresses(authors, tags.all("%+")),
        "journal": {
            "name": first(tags.all("%J"), tags.one("%B")),
            "volume": tags.one("%V"),
            "issue": tags.one("%N"),
            "pages": tags.one("%P"),
            "issn": issns(tags.all("%@")),
        },
        "PeriodicalName": tags.all("%J")[1] if len(tags.all("%J")) > 1 else None,
        "publicationDate": date_text(first(tags.one("%8"), tags.one("%D"))),
        "publicationTypes": tags.one("%0"),
        "keywords": terms(tags.all("%K")),
        "language": tags.one("%G"),
        "pmcid": tags.one("%2") if (tags.one("%2") or "").upper().startswith("PMC") else None,
        "platform": first(tags.one("%W"), tags.one("%~")),
        "url": tags.one("%U"),
    }
    titles = [plain(tags.one("%T")), plain(tags.one("%Q")), plain(tags.one("%!"))]
    return Reading(titles, [_abstract(tags.one("%X"))], (layer,))


def read_refworks(payload: dict[str, Any], flags: list[str]) -> Reading:
    tags = _Tags(payload)
    authors = tags.names("A1")
    layer = {
        "doi": first(tags.one("DO"), _doi(tags.all("LK") + tags.all("UL"))),
        "authors": _with_addresses(authors, tags.all("AD")),
        "journal": {
            "name": first(tags.one("JF"), tags.one("JO"), tags.one("T2")),
            "volume": tags.one("VO"),
            "issue": tags.one("IS"),
            "pages": pages(tags.one("SP"), (tags.one("OP") or "").strip("-")),
            "issn": issns(tags.all("SN")),
        },
        "publicationDate": date_text(
            first(tags.one("RD"), f"{tags.one('YR') or ''} {tags.one('FD') or ''}")
        ),
        "publicationTypes": tags.one("RT"),
        "keywords": terms(tags.all("K1")),
        "language": tags.one("LA"),
        "platform": first(tags.one("DS"), tags.one("DB")),
        "url": first(tags.one("LK"), tags.one("UL")),
    }
    titles = [plain(tags.one("T1")), plain(tags.one("OT"))]
    return Reading(titles, [_abstract(tags.one("AB"))], (layer,))


def read_noteexpress(payload: dict[str, Any], flags: list[str]) -> Reading:
    tags = _Tags(payload)
    authors = tags.names("Author")
    layer = {
        "doi": first(tags.one("DOI"), _doi(tags.all("URL"))),
        "authors": _with_addresses(authors, tags.all("Author Address")),
        "journal": {
            "name": tags.one("Journal"),
            "volume": tags.one("Volume"),
            "issue": tags.one("Issue"),
            "pages": tags.one("Pages"),
            "issn": issns(tags.all("ISBN/ISSN")),
        },
        "PeriodicalName": tags.one("Translated Journal"),
        "publicationDate": date_text(first(tags.one("Date"), tags.one("Year"))),
        "publicationTypes": tags.one("Reference Type"),
        "keywords": terms(tags.all("Keywords")),
        "language": tags.one("Language"),
        "platform": tags.one("Database Provider"),
        "url": tags.one("URL"),
    }
    titles = [plain(tags.one("Title")), plain(tags.one("Translated Title"))]
    abstracts = [_abstract(tags.one("Abstract")), _abstract(tags.one("Translated Abstract"))]
    return Reading(titles, abstracts, (layer,))


class _Tags:
    """A tag's values, blanks dropped."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload

    def all(self, tag: str) -> list[str]:
        values = self.payload.get(tag) or []
        values = values if isinstance(values, list) else [values]
        return [v.strip() for v in values if isinstance(v, str) and v.strip()]

    def one(self, tag: str) -> str | None:
        values = self.all(tag)
        return values[0] if values else None

    def names(self, tag: str) -> list[str]:
        """Authors one a line or several a line between `;`/`;;`; `Family, Given` turned round;
        CNKI's comma-separated Chinese names split."""
        names: list[str] = []
        for value in self.all(tag):
            for part in _NAMES.split(value):
                if not part.strip():
                    continue
                if ("," in part and part.count(",") > 1) or "，" in part:
                    names += [p.strip() for p in re.split(r"[,，]", part) if p.strip()]
                else:
                    names.append(person(part))
        return names


def _year_and_date(tags: _Tags) -> str:
    """RefWorks gives the year (`YR 2002`) and the rest of the date apart (`FD Feb`)."""
    return f"{tags.one('YR') or ''} {tags.one('FD') or ''}".strip()


def _with_addresses(authors: list[str], addresses: list[str]) -> list[dict[str, Any]]:
    """Authors with their affiliations: one address line per author when the counts match
    (Wanfang), every address for a lone author; otherwise addresses stay unattributed."""
    split = [a for value in addresses for a in _NAMES.split(value) if a.strip()]
    if len(addresses) == len(authors) and len(authors) > 1:
        return [{"name": n, "affiliations": [a]} for n, a in zip(authors, addresses, strict=True)]
    if len(split) == len(authors) and len(authors) > 1:
        return [{"name": n, "affiliations": [a]} for n, a in zip(authors, split, strict=True)]
    if len(authors) == 1:
        return [{"name": authors[0], "affiliations": split}]
    return [{"name": name} for name in authors]


def _abstract(value: str | None) -> str | None:
    """CNKI's `(#br)` as the line break it stands for; a first line that is only the heading
    `Abstract` is dropped, as for registry abstracts."""
    if not value:
        return None
    text = value.replace(_BREAK, "\n")
    head, _, rest = text.partition("\n")
    if rest and head.strip().casefold() in HEADINGS:
        text = rest
    return plain(text)


def _doi(values: list[str]) -> str | None:
    return next((doi for value in values if (doi := find_doi(value))), None)
