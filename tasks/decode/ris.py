"""Decode RIS records (the dicts `rispy` makes, keyed by its field names: `title`,
`primary_title`, `authors`, `first_authors`, `journal_name`, `year`, …). RIS is plain text:
nothing in it is parsed as markup."""

from __future__ import annotations

from typing import Any

from tasks.decode.fields import date_text, first, issns, pages, person, plain, terms
from tasks.decode.paper import Reading


def read_ris(payload: dict[str, Any], flags: list[str]) -> Reading:
    authors = [person(a) for a in payload.get("authors") or payload.get("first_authors") or []]
    address = payload.get("author_address")
    custom2 = str(payload.get("custom2") or "")
    layer: dict[str, Any] = {
        "doi": first(payload.get("doi")),
        "authors": [
            {"name": name, "affiliations": [address] if address and len(authors) == 1 else []}
            for name in authors
        ],
        "journal": {
            "name": first(
                payload.get("journal_name"),
                payload.get("alternate_title3"),
                payload.get("secondary_title")
                if payload.get("type_of_reference") in ("JOUR", "JFULL", "EJOUR")
                else None,
                payload.get("alternate_title1"),
                payload.get("alternate_title2"),
            ),
            "volume": first(payload.get("volume")),
            "issue": first(payload.get("number")),
            "pages": pages(payload.get("start_page"), payload.get("end_page")),
            "issn": issns(payload.get("issn")),
        },
        "publicationDate": date_text(
            first(payload.get("date"), payload.get("year"), payload.get("publication_year"))
        ),
        "publicationTypes": payload.get("type_of_reference"),
        "keywords": terms(payload.get("keywords") or []),
        "language": first(payload.get("language")),
        "pmcid": custom2 if custom2.upper().startswith("PMC") else None,
        "platform": first(payload.get("name_of_database"), payload.get("database_provider")),
        "url": first(payload.get("urls")),
    }
    titles = [
        plain(payload.get(key))
        for key in ("title", "primary_title", "translated_title", "short_title")
    ]
    abstracts = [plain(payload.get("abstract")), plain(payload.get("notes_abstract"))]
    return Reading(titles, abstracts, (layer,))
