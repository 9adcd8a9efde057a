"""Enrich: add what DOI registries know (publisher, ISSN, subjects, licence, counts, ORCID iDs).

Merge rules (docs/enrichment.md): registry data *fills* what the source lacks and never
overwrites what the source says; the fields only registries know (subjects, licence, counts,
publisher) take the newest registry answer; where source and registry both have a title or a
journal name and they differ, the source's value stays and both are kept as a `FieldConflict`.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from scholarflow.coerce import to_date
from scholarflow.doi import normalize_doi
from scholarflow.merge import fill_gaps, is_empty
from scholarflow.models import (
    Author,
    Enrichment,
    EnrichmentStatus,
    FieldConflict,
    LookupStats,
    Paper,
)
from scholarflow.registry import CircuitBreaker, DoiCache, Lookup, RegistryClient, Resolver
from scholarflow.search_client import connect
from scholarflow.settings import DoiLookup, Settings
from scholarflow.text import clean_text, is_chinese, to_simplified

_STATUS = {
    "found": EnrichmentStatus.ENRICHED,
    "not_found": EnrichmentStatus.NOT_FOUND,
    "failed": EnrichmentStatus.FAILED,
    "unreachable": EnrichmentStatus.DEFERRED,
    "cache_miss": EnrichmentStatus.CACHE_MISS,
}
# Fields the source format never has: the newest registry answer replaces an older one.
REGISTRY_OWNED = ("subjects", "license_url", "references_count", "cited_by_count")
# Where source and registry may disagree; both values are kept.
CONFLICT_FIELDS = ("title_en", "title_zh", "journal.name", "journal.name_zh")
RECENT_RUNS = 64

_breakers: OrderedDict[str, CircuitBreaker] = OrderedDict()
_breakers_lock = threading.Lock()


@dataclass
class EnrichResult:
    """A batch's papers with their enrichment, and what the lookups cost."""

    papers: list[Paper]
    stats: LookupStats = field(default_factory=LookupStats)


def run_breaker(run_id: str, threshold: int) -> CircuitBreaker:
    """One breaker per run and process, so a dead registry is detected once, not per batch."""
    with _breakers_lock:
        breaker = _breakers.pop(run_id, None) or CircuitBreaker(threshold)
        _breakers[run_id] = breaker
        while len(_breakers) > RECENT_RUNS:
            _breakers.popitem(last=False)
        return breaker


@contextmanager
def open_resolver(settings: Settings, run_id: str) -> Iterator[Resolver | None]:
    """The resolver the lookup mode allows (None: lookups off), closed afterwards."""
    if settings.doi_lookup is DoiLookup.OFF:
        yield None
        return
    client = None
    if settings.doi_lookup is DoiLookup.ON:
        client = RegistryClient(settings, run_breaker(run_id, settings.doi_breaker_threshold))
    try:
        yield Resolver(settings, DoiCache(connect(settings), settings), client)
    finally:
        if client:
            client.close()


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
def enrich_batch(settings: Settings, papers: list[Paper], run_id: str) -> EnrichResult:
    with open_resolver(settings, run_id) as resolver:
        enriched = enrich_papers(papers, resolver)
        return EnrichResult(enriched, resolver.stats if resolver else LookupStats())


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
    """A Crossref work (or a CSL-JSON item from doi.org) in Paper's field names.

    Titles, abstracts (JATS or HTML, cleaned to text) and journal names go to the English or
    the Chinese field by their script; Chinese text is folded to Simplified like the source's.
    """
    authors = [
        Author(name=_author_name(a), orcid=_orcid(a.get("ORCID")))
        for a in work.get("author") or []
        if _author_name(a)
    ]
    licence = next((lic.get("URL") for lic in work.get("license") or [] if lic.get("URL")), None)
    issn = work.get("ISSN") or []
    subjects = (clean_text(str(s)) for s in work.get("subject") or work.get("categories") or [])
    journal_name = clean_text(_first(work.get("container-title")))
    return {
        "doi": normalize_doi(work.get("DOI")),
        **_by_script("title_en", "title_zh", clean_text(_first(work.get("title")))),
        **_by_script("abstract_en", "abstract_zh", _abstract(work.get("abstract"))),
        "authors": authors,
        "journal": {
            **_by_script("name", "name_zh", journal_name),
            "volume": _first(work.get("volume")),
            "issue": _first(work.get("issue")),
            "pages": _first(work.get("page")),
            "issn": [issn] if isinstance(issn, str) else list(issn),
            "publisher": clean_text(work.get("publisher")),
        },
        "published": _date(work.get("published") or work.get("issued")),
        "subjects": list(dict.fromkeys(s for s in subjects if s)),
        "license_url": licence,
        "references_count": work.get("references-count", work.get("reference-count")),
        "cited_by_count": work.get("is-referenced-by-count"),
    }


def merge_registry(paper: Paper, registry: dict[str, Any]) -> Paper:
    """The paper with registry data merged in by the merge rules (see the module docstring)."""
    data = paper.model_dump()
    journal = dict(registry["journal"])
    registry_issn = journal.pop("issn")
    publisher = journal.pop("publisher")
    filled = {
        k: v
        for k, v in registry.items()
        if k not in ("doi", "authors", "journal", *REGISTRY_OWNED) and v is not None
    }
    merged = fill_gaps(data, filled)
    merged["journal"] = fill_gaps(data["journal"], {k: v for k, v in journal.items() if v})
    merged["journal"]["issn"] = list(dict.fromkeys([*paper.journal.issn, *registry_issn]))
    if publisher:
        merged["journal"]["publisher"] = publisher
    for name in REGISTRY_OWNED:
        if not is_empty(registry[name]):
            merged[name] = registry[name]
    merged["authors"] = [a.model_dump() for a in _with_orcids(paper.authors, registry["authors"])]
    merged["conflicts"] = [c.model_dump() for c in _conflicts(paper, data, registry)]
    merged["languages"] = [
        lang
        for lang in ("en", "zh")
        if lang in paper.languages or merged[f"title_{lang}"] or merged[f"abstract_{lang}"]
    ]
    return Paper.model_validate(merged)


def _conflicts(paper: Paper, data: dict[str, Any], registry: dict[str, Any]) -> list[FieldConflict]:
    """`data`: the paper's model_dump (the caller has it already)."""
    conflicts = list(paper.conflicts)
    for name in CONFLICT_FIELDS:
        mine, theirs = _path(data, name), _path(registry, name)
        if mine and theirs and _comparable(mine) != _comparable(theirs):
            conflict = FieldConflict(field=name, source_value=mine, registry_value=theirs)
            if conflict not in conflicts:
                conflicts.append(conflict)
    return conflicts


def _path(data: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _abstract(markup: str | None) -> str | None:
    """JATS or HTML abstract as text, without the `Abstract` heading JATS often starts with."""
    text = clean_text(markup)
    if text and text.split("\n", 1)[0].casefold() in ("abstract", "摘要"):
        text = text.split("\n", 1)[1] if "\n" in text else None
    return text


def _by_script(english: str, chinese: str, text: str | None) -> dict[str, str]:
    if not text:
        return {}
    return {chinese: to_simplified(text)} if is_chinese(text) else {english: text}


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
    for key in ("name", "literal"):
        if author.get(key):
            return str(author[key]).strip()
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
