"""Enrich: add what DOI registries know (publisher, ISSN, subjects, licence, counts, ORCID iDs,
corrections and retractions).

Merge rules (docs/enrichment.md): registry data *fills* what the source lacks and never
overwrites what the source says; the fields only registries know (subjects, licence, counts,
publisher) take the newest registry answer; where source and registry both have a title or a
journal name and they differ, the source's value stays and both are kept as a `FieldConflict`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from scholarflow.engine.client import run_client
from scholarflow.paper.coerce import to_date, to_orcid
from scholarflow.paper.corrections import read_correction
from scholarflow.paper.merging import is_empty
from scholarflow.paper.models import (
    Author,
    Enrichment,
    EnrichmentStatus,
    FieldConflict,
    Journal,
    LookupStats,
    Paper,
    PublishedDate,
)
from scholarflow.paper.text import clean_text, is_chinese, may_have_han, to_simplified
from scholarflow.registry import CircuitBreaker, DoiCache, Lookup, RegistryClient, Resolver
from scholarflow.run_scoped import PerRun
from scholarflow.settings import DoiLookup, Settings
from tasks.decode.fields import date_parts
from tasks.doi_match import match_dois

_STATUS = {
    "found": EnrichmentStatus.ENRICHED,
    "not_found": EnrichmentStatus.NOT_FOUND,
    "failed": EnrichmentStatus.FAILED,
    "unreachable": EnrichmentStatus.DEFERRED,
    "cache_miss": EnrichmentStatus.CACHE_MISS,
}
# Where source and registry may disagree; both values are kept.
CONFLICT_FIELDS = ("title_en", "title_zh", "journal.name", "journal.name_zh")
RECENT_RUNS = 64

# One breaker per run and process, so a dead registry is detected once, not per batch.
_breakers: PerRun[CircuitBreaker] = PerRun(RECENT_RUNS)


@dataclass
class EnrichResult:
    """A batch's papers with their enrichment, and what the lookups cost."""

    papers: list[Paper]
    stats: LookupStats = field(default_factory=LookupStats)


def run_breaker(run_id: str, threshold: int) -> CircuitBreaker:
    return _breakers.get(run_id, lambda: CircuitBreaker(threshold))


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
        yield Resolver(settings, DoiCache(run_client(settings, run_id), settings), client)
    finally:
        if client:
            client.close()


def enrich_papers(
    papers: list[Paper], resolver: Resolver | None, searched_after: datetime | None = None
) -> list[Paper]:
    """Papers with their enrichment applied; without a resolver lookups are disabled (and no
    DOI is searched for the papers without one). DOI searches answered before
    `searched_after` are made again."""
    if resolver is not None:
        papers = match_dois(papers, resolver, searched_after)
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
    # Registry-owned, and read whole from each answer: the newest answer's notices replace the
    # older ones (a notice is never taken back, but an unreadable one may be mended).
    correction = read_correction(paper.doi, work, lookup.notices)
    # One validation of the paper's own (already valid) values with what the registry changes:
    # registry values are raw and must be checked, the paper's are taken as they are.
    return Paper.model_validate(
        {
            **paper.__dict__,
            **registry_changes(paper, work),
            "correction": correction,
            "enrichment": status,
        }
    )


def registry_changes(paper: Paper, work: dict[str, Any]) -> dict[str, Any]:
    """The Paper fields a Crossref work (or a CSL-JSON item from doi.org) changes, by the merge
    rules (see the module docstring). Titles, abstracts (JATS or HTML, cleaned to text) and
    journal names go to the English or the Chinese field by their script; Chinese text is folded
    to Simplified like the source's. Only what can change the paper is derived from the work."""
    titles = _by_script("title_en", "title_zh", clean_text(_first(work.get("title"))))
    names = _by_script("name", "name_zh", clean_text(_first(work.get("container-title"))))
    changes = {**_filled(paper, titles), **_abstract_changes(paper, work.get("abstract"))}
    if paper.published is None and (
        published := _date(work.get("published") or work.get("issued"))
    ):
        changes["published"] = published
    if journal := _journal_changes(paper.journal, work, names):
        changes["journal"] = {**paper.journal.__dict__, **journal}
    changes.update(_registry_owned(work))
    authors = _with_orcids(paper.authors, work.get("author") or [])
    if authors is not paper.authors:
        changes["authors"] = authors
    registry_texts = {**titles, **{f"journal.{k}": v for k, v in names.items()}}
    conflicts = _conflicts(paper, registry_texts)
    if len(conflicts) > len(paper.conflicts):
        changes["conflicts"] = conflicts
    changes["languages"] = _languages(paper, changes)
    return changes


def _languages(paper: Paper, changes: dict[str, Any]) -> list[str]:
    """The paper's languages and those of the titles and abstracts the registry filled in."""
    return [
        lang
        for lang in ("en", "zh")
        if lang in paper.languages
        or any(
            changes.get(f"{kind}_{lang}") or getattr(paper, f"{kind}_{lang}")
            for kind in ("title", "abstract")
        )
    ]


def _filled(target: Journal | Paper, values: dict[str, Any]) -> dict[str, Any]:
    """The `values` that fill an empty field of `target`: the registry never overwrites."""
    return {k: v for k, v in values.items() if v and is_empty(getattr(target, k))}


def _abstract_changes(paper: Paper, markup: str | None) -> dict[str, str]:
    """The registry's abstract where the paper has none in its language. Cleaning JATS is the
    costliest step of a merge: skipped where its result could only be discarded (the paper has
    an English abstract and the registry's cannot be Chinese)."""
    if paper.abstract_en and (paper.abstract_zh or not (markup and may_have_han(markup))):
        return {}
    return _filled(paper, _by_script("abstract_en", "abstract_zh", _abstract(markup)))


def _journal_changes(
    journal: Journal, work: dict[str, Any], names: dict[str, str]
) -> dict[str, Any]:
    """Names, volume, issue and pages fill gaps, ISSNs are united, the publisher is the
    registry's."""
    numbers = {"volume": work.get("volume"), "issue": work.get("issue"), "pages": work.get("page")}
    changes = _filled(journal, {**names, **{k: _first(v) for k, v in numbers.items()}})
    issn = work.get("ISSN") or []
    united = list(dict.fromkeys([*journal.issn, *([issn] if isinstance(issn, str) else issn)]))
    if united != journal.issn:
        changes["issn"] = united
    if (publisher := clean_text(work.get("publisher"))) and publisher != journal.publisher:
        changes["publisher"] = publisher
    return changes


def _registry_owned(work: dict[str, Any]) -> dict[str, Any]:
    """The fields only registries know, where the answer has them: the newest answer wins."""
    licence = next((lic.get("URL") for lic in work.get("license") or [] if lic.get("URL")), None)
    subjects = (clean_text(str(s)) for s in work.get("subject") or work.get("categories") or [])
    owned = {
        "subjects": list(dict.fromkeys(s for s in subjects if s)),
        "license_url": licence,
        "references_count": work.get("references-count", work.get("reference-count")),
        "cited_by_count": work.get("is-referenced-by-count"),
    }
    return {k: v for k, v in owned.items() if not is_empty(v)}


def _conflicts(paper: Paper, registry_texts: dict[str, str]) -> list[FieldConflict]:
    """The paper's conflicts and any new ones: where source and registry name differently."""
    conflicts = list(paper.conflicts)
    for name in CONFLICT_FIELDS:
        mine, theirs = attrgetter(name)(paper), registry_texts.get(name)
        if mine and theirs and mine != theirs and _comparable(mine) != _comparable(theirs):
            conflict = FieldConflict(field=name, source_value=mine, registry_value=theirs)
            if conflict not in conflicts:
                conflicts.append(conflict)
    return conflicts


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


def _with_orcids(
    authors: list[Author], registry: list[dict[str, Any]]
) -> list[Author] | list[dict[str, Any]]:
    """The paper's authors with the ORCID iDs the registry has for their family names, or the
    registry's authors when the paper names none. Registry lists can be long: only authors with
    an ORCID are looked at unless the paper needs them all."""
    if not authors:
        return [
            {"name": name, "orcid": to_orcid(a.get("ORCID"))}
            for a in registry
            if (name := _author_name(a))
        ]
    if all(a.orcid for a in authors):
        return authors
    by_family = {
        _family(name): orcid
        for a in registry
        if a.get("ORCID") and (orcid := to_orcid(a["ORCID"])) and (name := _author_name(a))
    }
    if not by_family:
        return authors
    return [
        a
        if a.orcid or not (orcid := by_family.get(_family(a.name)))
        else a.model_copy(update={"orcid": orcid})
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


def _date(value: Any) -> PublishedDate | None:
    return to_date(date_parts(value))
