"""Crossref's JSON for a work (`/works/{doi}`, or an item of a `/works` page): titles are lists
(HTML inline tags possible), the abstract is JATS, dates are `date-parts`, authors carry ORCID
iDs and affiliations."""

from __future__ import annotations

from typing import Any

from tasks.decode.fields import date_parts, first, issns, markup, sniffed, strings
from tasks.decode.paper import Reading

# The dates of a work, most telling first.
_DATES = ("published", "published-print", "published-online", "issued", "created")


def read_crossref(payload: dict[str, Any], flags: list[str]) -> Reading:
    work = payload.get("message") if isinstance(payload.get("message"), dict) else payload
    titles = [
        sniffed(t, title=True)
        for t in strings(work.get("title")) + strings(work.get("original-title"))
    ]
    published = next((d for key in _DATES if (d := date_parts(work.get(key)))), None)
    layer = {
        "doi": work.get("DOI"),
        "authors": [_author(a) for a in work.get("author") or [] if isinstance(a, dict)],
        "journal": {
            "name": first(strings(work.get("container-title"))),
            "volume": work.get("volume"),
            "issue": work.get("issue"),
            "pages": work.get("page"),
            "issn": issns(work.get("ISSN")),
        },
        "publicationDate": published,
        "publicationTypes": work.get("type"),
        "citationCount": work.get("is-referenced-by-count"),
        "url": work.get("URL"),
        "language": work.get("language"),
        "platform": "Crossref",
    }
    return Reading(titles, [markup(work.get("abstract"))], (layer,))


def _author(author: dict[str, Any]) -> dict[str, Any]:
    """Crossref's author as `build_paper` reads one: its name (or given and family names), its
    ORCID iD (any written form) and the names of its affiliations."""
    return {
        "name": author.get("name"),
        "given": author.get("given"),
        "family": author.get("family"),
        "orcid": author.get("ORCID"),
        "affiliations": [
            a.get("name") for a in author.get("affiliation") or [] if isinstance(a, dict)
        ],
    }
