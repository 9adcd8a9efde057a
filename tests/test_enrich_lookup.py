"""DOI enrichment through a real local HTTP server replaying recorded Crossref responses."""

from __future__ import annotations

import time

from elasticsearch import Elasticsearch

from scholarflow.models import EnrichmentStatus, Paper
from scholarflow.registry import CrossrefClient, DoiCache, Resolver
from scholarflow.settings import DoiLookup, Settings
from tasks.enrich import enrich_papers
from tests.fixture_server import CROSSREF_WORKS, FixtureServer

JCLINPATH = "10.1136/jclinpath-2020-206745"


def lookup_settings(settings: Settings, url: str, **overrides) -> Settings:
    return settings.model_copy(
        update={"crossref_url": url, "doi_lookup": DoiLookup.ON, "doi_timeout": 2.0, **overrides}
    )


def resolver(settings: Settings, es: Elasticsearch) -> Resolver:
    return Resolver(settings, DoiCache(es, settings), CrossrefClient(settings))


def paper(doi: str, **fields) -> Paper:
    return Paper(id=doi, doi=doi, **{"title_en": "Source title", **fields})


def test_crossref_fields_fill_the_paper(
    settings: Settings, es: Elasticsearch, registry: FixtureServer
) -> None:
    registry.serve_work(JCLINPATH, CROSSREF_WORKS[JCLINPATH])
    config = lookup_settings(settings, registry.url, crossref_mailto="ops@example.org")
    (enriched,) = enrich_papers(
        [paper(JCLINPATH, authors=[{"name": "Someone Else"}])], resolver(config, es)
    )
    assert enriched.enrichment.status is EnrichmentStatus.ENRICHED
    assert enriched.journal.publisher == "BMJ"
    assert enriched.journal.issn and enriched.journal.name == "Journal of Clinical Pathology"
    assert enriched.abstract_en and "<jats" not in enriched.abstract_en
    assert enriched.cited_by_count is not None and enriched.references_count is not None
    assert enriched.license_url.startswith("http")
    # the source's title is kept; Crossref's differing one is recorded as a conflict
    assert enriched.title_en == "Source title"
    assert enriched.conflicts[0].field == "title_en"
    (request,) = registry.requests
    assert "mailto=ops%40example.org" in request.query
    assert request.headers["User-Agent"].startswith("Scholarflow/")


def test_orcids_attach_to_matching_authors(
    settings: Settings, es: Elasticsearch, registry: FixtureServer
) -> None:
    doi = "10.1136/esmoopen-2020-000776"
    registry.serve_work(doi, CROSSREF_WORKS[doi])
    (enriched,) = enrich_papers([paper(doi)], resolver(lookup_settings(settings, registry.url), es))
    assert any(a.orcid for a in enriched.authors), enriched.authors


def test_unknown_doi_is_not_found_and_not_retried(
    settings: Settings, es: Elasticsearch, registry: FixtureServer
) -> None:
    config = lookup_settings(settings, registry.url)
    (result,) = enrich_papers([paper("10.1371/notarealdoi")], resolver(config, es))
    assert result.enrichment.status is EnrichmentStatus.NOT_FOUND
    assert len(registry.requests) == 1


def test_second_run_is_served_from_the_cache(
    settings: Settings, es: Elasticsearch, registry: FixtureServer
) -> None:
    for doi, fixture in CROSSREF_WORKS.items():
        registry.serve_work(doi, fixture)
    config = lookup_settings(settings, registry.url)
    papers = [paper(doi) for doi in CROSSREF_WORKS]
    first = enrich_papers(papers, resolver(config, es))
    assert {p.enrichment.status for p in first} == {EnrichmentStatus.ENRICHED}
    requests_after_first = len(registry.requests)
    second = enrich_papers(papers, resolver(config, es))
    assert len(registry.requests) == requests_after_first == len(CROSSREF_WORKS)
    assert all(p.enrichment.from_cache for p in second)
    assert [p.journal.publisher for p in second] == [p.journal.publisher for p in first]


def test_offline_fails_fast_and_defers(settings: Settings, es: Elasticsearch) -> None:
    config = lookup_settings(settings, "http://127.0.0.1:9", doi_breaker_threshold=3)
    papers = [paper(f"10.1000/offline.{i}") for i in range(20)]
    started = time.monotonic()
    results = enrich_papers(papers, resolver(config, es))
    assert time.monotonic() - started < 30
    assert {p.enrichment.status for p in results} == {EnrichmentStatus.DEFERRED}
    assert all(p.enrichment.detail for p in results)


def test_cache_only_mode_never_calls_the_network(
    settings: Settings, es: Elasticsearch, registry: FixtureServer
) -> None:
    config = lookup_settings(settings, registry.url, doi_lookup=DoiLookup.CACHE_ONLY)
    cache = DoiCache(es, config)
    (result,) = enrich_papers([paper(JCLINPATH)], Resolver(config, cache, None))
    assert result.enrichment.status is EnrichmentStatus.CACHE_MISS
    assert registry.requests == []


def test_no_doi_and_disabled_statuses() -> None:
    no_doi = Paper(id="sf-1", title_en="T")
    results = enrich_papers([no_doi, paper("10.1000/x")], None)
    assert [p.enrichment.status for p in results] == [
        EnrichmentStatus.NO_DOI,
        EnrichmentStatus.DISABLED,
    ]
