"""Decode PubMed/MEDLINE articles (the payloads `tasks/fetch/medline.py` reads): titles and
abstracts are already text (their inline markup and MathML read by the XML parser), so they
are plain here; structured abstracts keep their section labels, one section a line."""

from __future__ import annotations

from typing import Any

from tasks.decode.fields import month_number, partial_date, plain
from tasks.decode.paper import Reading

# The platform PubMed records name in their provenance: what a withdrawn PMID's deletion looks
# for (tasks/harvest/deletions.py).
PUBMED = "PubMed"


def read_medline(payload: dict[str, Any], flags: list[str]) -> Reading:
    journal = payload.get("journal") or {}
    book = payload.get("book") or {}
    ids = payload.get("ids") or {}
    pmid = payload.get("pmid") or ids.get("pubmed")
    layer: dict[str, Any] = {
        "doi": ids.get("doi") or (payload.get("elocation") or {}).get("doi"),
        "pmid": pmid,
        "pmcid": ids.get("pmc"),
        "arxiv_id": ids.get("arxiv"),
        "authors": [_author(a) for a in payload.get("authors") or []],
        "journal": {
            "name": journal.get("title") or book.get("title") if journal else None,
            "volume": journal.get("volume"),
            "issue": journal.get("issue"),
            "pages": payload.get("pages"),
            "issn": journal.get("issn") or [],
        },
        "publicationDate": _published(journal.get("pub_date") or book.get("pub_date"))
        or _published(payload.get("article_date")),
        "publicationTypes": payload.get("publication_types")
        or (["Book"] if payload.get("kind") == "PubmedBookArticle" else []),
        "keywords": [*(payload.get("keywords") or []), *(payload.get("mesh") or [])],
        "language": (payload.get("languages") or [None])[0],
        "platform": PUBMED,
        "url": f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if pmid else None,
    }
    abstracts = [_abstract(payload.get("abstract") or [])]
    abstracts += [
        _abstract(other.get("text") or []) for other in payload.get("other_abstracts") or []
    ]
    titles = [plain(payload.get("title")), plain(payload.get("vernacular_title"))]
    return Reading(titles, abstracts, (layer,))


def _abstract(sections: list[dict[str, str]]) -> str | None:
    lines = [
        f"{s['label']}: {s['text']}" if s.get("label") and s.get("text") else s.get("text") or ""
        for s in sections
    ]
    return plain("\n".join(line for line in lines if line))


def _author(author: dict[str, Any]) -> dict[str, Any]:
    name = author.get("collective") or " ".join(
        part for part in (author.get("fore") or author.get("initials"), author.get("last")) if part
    )
    if name and author.get("suffix") and not author.get("collective"):
        name = f"{name} {author['suffix']}"
    return {
        "name": name,
        "orcid": author.get("orcid"),
        "affiliations": author.get("affiliations") or [],
    }


def _published(date: dict[str, str] | None) -> str | None:
    if not date:
        return None
    if "year" in date:
        return partial_date(date["year"], date.get("month"), date.get("day"))
    parts = (date.get("medline_date") or "").split()  # `1998 Dec-1999 Jan`, `2000 Spring`
    if not parts:
        return None
    month = parts[1].split("-")[0] if len(parts) > 1 else None
    return partial_date(parts[0], month if month_number(month) else None)
