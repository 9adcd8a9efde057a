"""Enrich: add what DOI registries know (publisher, ISSN, subjects, licence, counts, ORCID iDs).

Merge rules (also in the README): registry data only *fills* what the source lacks, and adds
fields the source cannot have; it never overwrites the source. Where both have a title or a
journal name and they differ, both values are kept as a `FieldConflict`.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from scholarflow.coerce import to_date
from scholarflow.doi import normalize_doi
from scholarflow.merge import fill_gaps
from scholarflow.models import (
    Author,
    Enrichment,
    EnrichmentStatus,
    FieldConflict,
    Paper,
)
from scholarflow.registry import CircuitBreaker, CrossrefClient, DoiCache, Lookup, Resolver
from scholarflow.search_client import connect
from scholarflow.settings import DoiLookup, Settings
from scholarflow.text import clean_text

_STATUS = {
    "found": EnrichmentStatus.ENRICHED,
    "not_found": EnrichmentStatus.NOT_FOUND,
    "failed": EnrichmentStatus.FAILED,
    "unreachable": EnrichmentStatus.DEFERRED,
    "cache_miss": EnrichmentStatus.CACHE_MISS,
}
_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def run_breaker(run_id: str, threshold: int) -> CircuitBreaker:
    """One breaker per run and process, so a dead registry is detected once, not per batch."""
    with _breakers_lock:
        return _breakers.setdefault(run_id, CircuitBreaker(threshold))


def enrich_papers(papers: list[Paper], resolver: Resolver | None) -> list[Paper]:
    """Papers with their enrichment applied; without a resolver lookups are disabled."""
    dois = [p.doi for p in papers if p.doi]
    answers = resolver.resolve(dois) if resolver and dois else {}
    enriched = []
    for paper in papers:
        if not paper.doi:
            status = Enrichment(status=EnrichmentStatus.NO_DOI)
            enriched.append(paper.model_copy(update={"enrichment": status}))
        elif resolver is None:
            status = Enrichment(status=EnrichmentStatus.DISABLED)
            enriched.append(paper.model_copy(update={"enrichment": status}))
        else:
            enriched.append(apply_lookup(paper, answers[paper.doi]))
    return enriched


def enrichment_counts(papers: list[Paper]) -> Counter[str]:
    return Counter(p.enrichment.status.value for p in papers)


@task(name="enrich", cache_policy=NO_CACHE)
def enrich_batch(settings: Settings, papers: list[Paper], run_id: str) -> list[Paper]:
    if settings.doi_lookup is DoiLookup.OFF:
        return enrich_papers(papers, None)
    cache = DoiCache(connect(settings), settings)
    client = None
    if settings.doi_lookup is DoiLookup.ON:
        client = CrossrefClient(settings, run_breaker(run_id, settings.doi_breaker_threshold))
    try:
        return enrich_papers(papers, Resolver(settings, cache, client))
    finally:
        if client:
            client.close()


def apply_lookup(paper: Paper, lookup: Lookup) -> Paper:
    status = Enrichment(
        status=_STATUS[lookup.status],
        source=lookup.source,
        fetched_at=lookup.fetched_at,
        from_cache=lookup.from_cache,
        detail=lookup.detail,
    )
    if lookup.status != "found" or lookup.body is None:
        return paper.model_copy(update={"enrichment": status})
    work = lookup.body.get("message", lookup.body)
    merged = merge_registry(paper, registry_fields(work))
    return merged.model_copy(update={"enrichment": status})


def registry_fields(work: dict[str, Any]) -> dict[str, Any]:
    """A Crossref work (or a CSL-JSON item from doi.org) in Paper's field names."""
    authors = [
        Author(name=_author_name(a), orcid=_orcid(a.get("ORCID")))
        for a in work.get("author") or []
        if _author_name(a)
    ]
    licence = next((lic.get("URL") for lic in work.get("license") or [] if lic.get("URL")), None)
    issn = work.get("ISSN") or []
    return {
        "doi": normalize_doi(work.get("DOI")),
        "title_en": clean_text(_first(work.get("title"))),
        "abstract_en": clean_text(work.get("abstract")),
        "authors": authors,
        "journal": {
            "name": clean_text(_first(work.get("container-title"))),
            "volume": _first(work.get("volume")),
            "issue": _first(work.get("issue")),
            "pages": _first(work.get("page")),
            "issn": [issn] if isinstance(issn, str) else list(issn),
            "publisher": work.get("publisher"),
        },
        "published": _date(work.get("published") or work.get("issued")),
        "subjects": list(work.get("subject") or []),
        "license_url": licence,
        "references_count": work.get("references-count", work.get("reference-count")),
        "cited_by_count": work.get("is-referenced-by-count"),
    }


def merge_registry(paper: Paper, registry: dict[str, Any]) -> Paper:
    """Fill the paper's gaps from the registry; record conflicts; attach ORCID iDs."""
    conflicts = list(paper.conflicts)
    for name, mine, theirs in (
        ("title_en", paper.title_en, registry["title_en"]),
        ("journal.name", paper.journal.name, registry["journal"]["name"]),
    ):
        if mine and theirs and _comparable(mine) != _comparable(theirs):
            conflict = FieldConflict(field=name, source_value=mine, registry_value=theirs)
            if conflict not in conflicts:
                conflicts.append(conflict)
    data = paper.model_dump()
    registry_authors = registry.pop("authors")
    registry.pop("doi")
    merged = fill_gaps(data, {k: v for k, v in registry.items() if v is not None})
    merged["authors"] = [a.model_dump() for a in _with_orcids(paper.authors, registry_authors)]
    merged["conflicts"] = [c.model_dump() for c in conflicts]
    if registry["abstract_en"] and not paper.abstract_en:
        merged["languages"] = sorted({*paper.languages, "en"})
    return Paper.model_validate(merged)


def _with_orcids(authors: list[Author], registry: list[Author]) -> list[Author]:
    if not authors:
        return registry
    by_family = {_family(a.name): a.orcid for a in registry if a.orcid}
    return [
        a if a.orcid else a.model_copy(update={"orcid": by_family.get(_family(a.name))})
        for a in authors
    ]


def _family(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z]+", folded)
    return words[-1] if words else name


def _comparable(text: str) -> str:
    return re.sub(r"\W+", "", text.casefold())


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value not in (None, "") else None


def _author_name(author: dict[str, Any]) -> str:
    if author.get("name"):
        return str(author["name"]).strip()
    return " ".join(str(author[k]) for k in ("given", "family") if author.get(k)).strip()


def _orcid(value: Any) -> str | None:
    match = re.search(r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]", str(value or ""))
    return match.group(0) if match else None


def _date(value: Any) -> dict[str, Any] | None:
    parts = (value or {}).get("date-parts") or [[]]
    numbers = [int(p) for p in parts[0] if p is not None] if parts and parts[0] else []
    if not numbers:
        return None
    published = to_date("-".join(f"{n:02d}" if i else str(n) for i, n in enumerate(numbers)))
    return published.model_dump() if published else None
