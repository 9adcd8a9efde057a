"""DataCite XML harvested over OAI-PMH (the `datacite` prefix), as tasks/harvest/datacite.py
reads it: titles typed (the main title first, its subtitle joined to it, translated and
alternative titles after), descriptions typed (abstracts first), creators with given and
family names, ORCID iDs and affiliations, the DOI (the resource's identifier, else a DOI among
its alternate identifiers), the issue date, subjects, resource type, language.

Titles and descriptions are plain text unless they close an HTML element (as Dublin Core's):
a `P<0.05` in an abstract stays whole.
"""

from __future__ import annotations

from typing import Any

from scholarflow.paper.doi import find_doi
from tasks.decode.fields import first, sniffed, terms
from tasks.decode.paper import Reading

# Title types in the order they are offered (None: the main title).
_TITLE_ORDER = (None, "TranslatedTitle", "AlternativeTitle", "Other")
# Alternate identifier types that name a field of their own.
_IDS = {"arxiv": "arxiv_id", "pmid": "pmid", "pmcid": "pmcid"}


def read_datacite(payload: dict[str, Any], flags: list[str]) -> Reading:
    meta = payload.get("metadata") or {}
    identifier = meta.get("identifier") or {}
    alternates = [a for a in meta.get("alternate_identifiers") or [] if a.get("value")]
    doi = _doi(identifier, alternates)
    dates = {d.get("type"): d.get("value") for d in meta.get("dates") or [] if d.get("value")}
    kind = meta.get("resource_type") or {}
    links = [a["value"] for a in alternates if (a.get("type") or "").upper() == "URL"]
    layer: dict[str, Any] = {
        "doi": doi,
        "authors": [_author(c) for c in meta.get("creators") or []],
        "publicationDate": first(dates.get("Issued"), meta.get("publication_year")),
        "publicationTypes": [t for t in (kind.get("text"), kind.get("general")) if t],
        "url": first(links, f"https://doi.org/{doi}" if doi else None),
        "platform": payload.get("repository") or meta.get("publisher"),
        "keywords": terms([s.get("text") for s in meta.get("subjects") or []]),
        "language": meta.get("language"),
    }
    for alternate in alternates:
        field = _IDS.get((alternate.get("type") or "").lower())
        if field and field not in layer:
            layer[field] = alternate["value"]
    return Reading(_titles(meta.get("titles") or []), _abstracts(meta), (layer,))


def _titles(titles: list[dict[str, Any]]) -> list[str | None]:
    """Main titles with their subtitle, then the other kinds, each as it may be marked up."""
    subtitles = [t["text"] for t in titles if t.get("type") == "Subtitle" and t.get("text")]
    subtitle = subtitles[0] if subtitles else None
    ordered = sorted(
        (t for t in titles if t.get("text") and t.get("type") != "Subtitle"),
        key=lambda t: _TITLE_ORDER.index(t.get("type")) if t.get("type") in _TITLE_ORDER else 9,
    )
    texts = [t["text"] for t in ordered]
    if subtitle:
        texts = [f"{texts[0]}: {subtitle}", *texts[1:]] if texts else [subtitle]
    return [sniffed(text, title=True) for text in texts]


def _abstracts(meta: dict[str, Any]) -> list[str | None]:
    descriptions = [d for d in meta.get("descriptions") or [] if d.get("text")]
    descriptions.sort(key=lambda d: d.get("type") != "Abstract")  # stable: abstracts first
    return [sniffed(d["text"]) for d in descriptions]


def _doi(identifier: dict[str, Any], alternates: list[dict[str, Any]]) -> str | None:
    if (identifier.get("type") or "").upper() == "DOI" and identifier.get("value"):
        return find_doi(identifier["value"])
    typed = [a["value"] for a in alternates if (a.get("type") or "").upper() == "DOI"]
    return next((found for value in typed if (found := find_doi(value))), None)


def _author(creator: dict[str, Any]) -> dict[str, Any]:
    given, family = creator.get("given"), creator.get("family")
    name = f"{given} {family}" if given and family else creator.get("name") or family or given
    return {
        "name": name,
        "orcid": creator.get("orcid"),
        "affiliations": creator.get("affiliations") or [],
    }
