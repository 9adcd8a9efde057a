"""Crossref's JSON for a work (`/works/{doi}`, or an item of a `/works` page): titles are lists
(HTML inline tags possible), the abstract is JATS, dates are `date-parts`, authors carry ORCID
iDs and affiliations."""

from __future__ import annotations

from typing import Any

from tasks.decode.fields import date_parts, first_text, markup, orcid, sniffed, strings
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
        "authors": [
            {"name": name, "orcid": orcid(a.get("ORCID"))}
            for a in work.get("author") or []
            if isinstance(a, dict) and (name := _name(a))
        ],
        "journal": {
            "name": first_text(work.get("container-title")),
            "volume": work.get("volume"),
            "issue": work.get("issue"),
            "pages": work.get("page"),
            "issn": strings(work.get("ISSN")),
        },
        "publicationDate": published,
        "publicationTypes": work.get("type"),
        "citationCount": work.get("is-referenced-by-count"),
        "url": work.get("URL"),
        "platform": "Crossref",
    }
    return Reading(titles, [markup(work.get("abstract"))], (layer,))


def _name(author: dict[str, Any]) -> str:
    if isinstance(author.get("name"), str):
        return str(author["name"])
    return " ".join(str(author[k]) for k in ("given", "family") if author.get(k))
