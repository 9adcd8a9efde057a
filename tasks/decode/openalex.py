"""An OpenAlex work (API answer or snapshot line): the abstract comes as
`abstract_inverted_index` (word → positions) and is rebuilt to plain text; the DOI, ORCID iDs
and ids are URLs; the journal is the primary location's source, or in works recorded before
OpenAlex's 2023 locations (older snapshots) the `host_venue`, whose authorships carry one
`raw_affiliation_string`."""

from __future__ import annotations

from typing import Any

from tasks.decode.fields import issns, plain, sniffed, strings
from tasks.decode.paper import Reading


def read_openalex(payload: dict[str, Any], flags: list[str]) -> Reading:
    location = payload.get("primary_location") or {}
    source = location.get("source") or {} if isinstance(location, dict) else {}
    source = source or payload.get("host_venue") or {}
    biblio = payload.get("biblio") or {}
    pages = "-".join(
        dict.fromkeys(p for p in (biblio.get("first_page"), biblio.get("last_page")) if p)
    )
    best = payload.get("best_oa_location") or {}
    layer = {
        "doi": payload.get("doi") or (payload.get("ids") or {}).get("doi"),
        "authors": [
            {
                "name": author.get("display_name"),
                "orcid": author.get("orcid"),
                "affiliations": _affiliations(entry),
            }
            for entry in payload.get("authorships") or []
            if isinstance(entry, dict) and isinstance(author := entry.get("author"), dict)
        ],
        "journal": {
            "name": source.get("display_name"),
            "volume": biblio.get("volume"),
            "issue": biblio.get("issue"),
            "pages": pages or None,
            "issn": issns(source.get("issn")),
        },
        "publicationDate": payload.get("publication_date") or payload.get("publication_year"),
        "publicationTypes": payload.get("type"),
        "citationCount": payload.get("cited_by_count"),
        "isOpenAccess": (payload.get("open_access") or {}).get("is_oa"),
        "openAccessPdf": best.get("pdf_url") if isinstance(best, dict) else None,
        "url": location.get("landing_page_url") or payload.get("id"),
        "pmid": _last_segment((payload.get("ids") or {}).get("pmid")),
        "platform": "OpenAlex",
        "language": payload.get("language"),
    }
    titles = [sniffed(payload.get(key), title=True) for key in ("title", "display_name")]
    abstract = rebuilt_abstract(payload.get("abstract_inverted_index"))
    return Reading(titles, [plain(abstract)], (layer,))


def _affiliations(authorship: dict[str, Any]) -> list[str]:
    """The affiliations as the work wrote them, else its institutions' names."""
    raw = strings(authorship.get("raw_affiliation_strings")) or strings(
        authorship.get("raw_affiliation_string")
    )
    institutions = authorship.get("institutions") or []
    return raw or strings([i.get("display_name") for i in institutions if isinstance(i, dict)])


def _last_segment(url: Any) -> str | None:
    """`29456894` from `https://pubmed.ncbi.nlm.nih.gov/29456894`."""
    return url.rstrip("/").rsplit("/", 1)[-1] or None if isinstance(url, str) else None


def rebuilt_abstract(index: Any) -> str | None:
    """The abstract's words put back at their positions, separated by spaces."""
    if not isinstance(index, dict) or not index:
        return None
    placed: dict[int, str] = {}
    for word, positions in index.items():
        for position in positions if isinstance(positions, list) else []:
            if isinstance(position, int) and position >= 0:
                placed[position] = word
    return " ".join(placed[p] for p in sorted(placed)) or None
