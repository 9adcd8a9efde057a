"""The DOI cache below the flow: answers kept in the engine and served again (fresh, expired,
negative), what a lookup reads of them, cache-only and unreachable registries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from elasticsearch import Elasticsearch

from scholarflow.paper.models import EnrichmentStatus
from scholarflow.registry import CACHE_INDEX, DoiCache, Lookup
from scholarflow.registry.cache import (
    CUT,
    LEGACY_LOOKUP_FIELDS,
    WORK_FIELDS,
    WORKS_INDEX,
    cache_entry,
    cut_work,
)
from scholarflow.settings import DoiLookup, Settings
from tasks.enrich import apply_lookup, enrich_batch
from tests.fixture_server import CROSSREF_WORKS, FIXTURES, FixtureServer, Reply
from tests.test_enrich_registry import paper, resolver_for


def test_second_run_makes_no_requests(online: Settings, registry: FixtureServer) -> None:
    dois = sorted(CROSSREF_WORKS)
    for doi in dois:
        registry.serve_work(doi, CROSSREF_WORKS[doi])
    unknown = "10.1371/notarealdoi"
    registry.route(
        f"/ra/{unknown.split('/')[0]}", Reply.json([{"DOI": "10.1371", "RA": "Crossref"}])
    )
    papers = [paper(doi) for doi in [*dois, unknown]]

    first = enrich_batch.fn(online, papers, "run-1")
    requests_after_first = len(registry.requests)
    second = enrich_batch.fn(online, papers, "run-2")

    assert requests_after_first == len(dois) + 2  # one per work; the unknown DOI and its agency
    assert len(registry.requests) == requests_after_first  # the second run asked nothing
    assert second.stats.cache_hits == len(papers) and second.stats.requests == 0
    assert first.stats.requests == requests_after_first and first.stats.cache_hits == 0
    assert [p.enrichment.from_cache for p in second.papers] == [True] * len(papers)
    assert [p.enrichment.status for p in second.papers] == [
        p.enrichment.status for p in first.papers
    ]
    assert second.papers[-1].enrichment.status is EnrichmentStatus.NOT_FOUND


def test_expired_entry_is_refreshed(
    online: Settings, registry: FixtureServer, es: Elasticsearch
) -> None:
    doi = "10.3892/ijo_00000353"
    registry.serve_work(doi, CROSSREF_WORKS[doi])
    cache = DoiCache(es, online)
    long_ago = datetime.now(UTC) - timedelta(days=200)
    cache.put_many([Lookup(doi, "found", "crossref", body={"message": {}}, fetched_at=long_ago)])
    expire(es, doi)

    [lookup] = resolver_for(online).resolve([doi]).values()

    assert (lookup.status, lookup.from_cache) == ("found", False)
    assert registry.calls[f"/works/{doi}"] == 1
    entry = es.get(index=CACHE_INDEX, id=doi)["_source"]
    assert datetime.fromisoformat(entry["fetched_at"]) > long_ago + timedelta(days=199)
    assert datetime.fromisoformat(entry["expires_at"]) > datetime.now(UTC) + timedelta(days=89)
    assert entry["body"]["message"]["DOI"] == "10.3892/ijo_00000353"


def expire(es: Elasticsearch, doi: str) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    for index in (CACHE_INDEX, WORKS_INDEX):
        es.update(index=index, id=doi, doc={"expires_at": yesterday}, refresh=True)


def test_expired_entry_answers_while_the_registry_is_unreachable(
    settings: Settings, es: Elasticsearch
) -> None:
    """The default test settings point Crossref at a port nobody listens on."""
    doi = "10.3892/ijo_00000353"
    work = json.loads((FIXTURES / "doi" / CROSSREF_WORKS[doi]).read_text())
    DoiCache(es, settings).put_many([Lookup(doi, "found", "crossref", body=work)])
    expire(es, doi)
    offline = settings.model_copy(update={"doi_lookup": DoiLookup.ON})

    result = enrich_batch.fn(offline, [paper(doi), paper("10.1000/never-cached")], "outage")

    stale, missing = result.papers
    assert stale.enrichment.status is EnrichmentStatus.ENRICHED
    assert stale.journal.publisher == "Spandidos Publications"
    assert stale.enrichment.detail == ("registry unreachable: cached answer past its time to live")
    assert missing.enrichment.status is EnrichmentStatus.DEFERRED
    assert result.stats.requests > 0 and result.stats.cache_hits == 1


def test_negative_entries_get_the_shorter_ttl(online: Settings, es: Elasticsearch) -> None:
    cache = DoiCache(es, online)
    now = datetime.now(UTC)
    cache.put_many(
        [
            Lookup("10.1000/known", "found", "crossref", body={"message": {}}, fetched_at=now),
            Lookup("10.1000/unknown", "not_found", "crossref", fetched_at=now),
            Lookup("10.1000/down", "unreachable"),
            Lookup("10.1000/bad", "failed", "crossref", fetched_at=now),
        ]
    )
    entries = {
        d["_id"]: d["_source"]
        for d in es.mget(index=CACHE_INDEX, ids=["10.1000/known", "10.1000/unknown"])["docs"]
    }
    ttl_days = {
        doi: round(
            (datetime.fromisoformat(e["expires_at"]) - datetime.fromisoformat(e["fetched_at"]))
            / timedelta(days=1),
            3,
        )
        for doi, e in entries.items()
    }
    assert ttl_days == {
        "10.1000/known": online.doi_cache_ttl_days,
        "10.1000/unknown": online.doi_negative_ttl_days,
    }
    assert online.doi_negative_ttl_days < online.doi_cache_ttl_days
    assert es.count(index=CACHE_INDEX)["count"] == 2  # no answer, nothing cached


def test_cache_only_mode_never_calls(online: Settings, registry: FixtureServer) -> None:
    settings = online.model_copy(update={"doi_lookup": DoiLookup.CACHE_ONLY})
    result = enrich_batch.fn(settings, [paper("10.3892/ijo_00000353")], "run")
    assert result.papers[0].enrichment.status is EnrichmentStatus.CACHE_MISS
    assert registry.requests == []


@pytest.mark.timeout(60)  # a hang guard: an unreachable registry must not block the run
def test_unreachable_registry_defers_quickly_and_clearly(settings: Settings) -> None:
    """The default test settings point Crossref at a port nobody listens on (offline)."""
    online = settings.model_copy(update={"doi_lookup": DoiLookup.ON, "doi_breaker_threshold": 3})
    papers = [paper(f"10.1000/offline.{n}") for n in range(40)]

    result = enrich_batch.fn(online, papers, "offline-run")

    assert {p.enrichment.status for p in result.papers} == {EnrichmentStatus.DEFERRED}
    assert result.stats.breaker_open
    workers = online.doi_workers
    assert 3 <= result.stats.requests < 3 + workers  # then nobody was called any more
    details = {p.enrichment.detail for p in result.papers}
    assert "registry unreachable: lookups stopped after 3 consecutive network failures" in details


def test_cached_answers_come_back_with_only_what_enrichment_reads(
    settings: Settings, es: Elasticsearch
) -> None:
    """Reference lists, affiliations and funders are most of an answer's bytes and enrichment
    never reads them: the whole answer stays in the cache index, a lookup reads the work cut."""
    doi = "10.1136/esmoopen-2020-000776"
    work = json.loads((FIXTURES / "doi" / CROSSREF_WORKS[doi]).read_text())
    assert work["message"].get("reference") and "affiliation" in work["message"]["author"][0]
    DoiCache(es, settings).put_many([Lookup(doi, "found", "crossref", body=work)])

    answer = DoiCache(es, settings).get_many([doi])[doi]

    assert answer.body is not None
    read = {path.split(".")[0] for path in WORK_FIELDS}
    assert set(answer.body) == read & set(work["message"])
    assert answer.body["author"][0] == {
        k: v for k, v in work["message"]["author"][0].items() if k in ("given", "family", "ORCID")
    }
    assert answer.body["title"] == work["message"]["title"]
    assert es.get(index=CACHE_INDEX, id=doi)["_source"]["body"] == work  # kept whole


WORK_FIXTURES = sorted(  # every recorded answer that is one work (Crossref's, or CSL-JSON)
    path.name
    for path in (FIXTURES / "doi").glob("*.json")
    if path.name.startswith(("crossref_work_", "crossref_transform_csljson", "doiorg_csljson"))
    and isinstance(json.loads(path.read_text()), dict)
)


@pytest.mark.parametrize("fixture", WORK_FIXTURES)
def test_a_work_is_cut_as_the_engine_filters_it(
    settings: Settings, es: Elasticsearch, fixture: str
) -> None:
    """The cut made when an answer is stored is what the engine's source filtering returned
    when lookups asked it to cut at read time (the cache before the works index)."""
    body = json.loads((FIXTURES / "doi" / fixture).read_text())
    doi = "10.1000/" + fixture
    DoiCache(es, settings).ensure()
    es.index(index=CACHE_INDEX, id=doi, document={"body": body}, refresh=True)

    paths = [p for p in LEGACY_LOOKUP_FIELDS if p.startswith("body.")]
    filtered = es.get(index=CACHE_INDEX, id=doi, source_includes=paths)["_source"]["body"]

    assert cut_work(body) == filtered.get("message", filtered)
    assert len(orjson.dumps(cut_work(body))) < len(orjson.dumps(body))


@pytest.mark.parametrize("fixture", WORK_FIXTURES)
def test_enrichment_reads_the_same_from_the_cut_work_as_from_the_whole_answer(
    fixture: str,
) -> None:
    body = json.loads((FIXTURES / "doi" / fixture).read_text())
    doi = str(body.get("message", body).get("DOI") or "10.1000/x")
    whole = apply_lookup(paper(doi), Lookup(doi, "found", "crossref", body=body))
    cut = apply_lookup(paper(doi), Lookup(doi, "found", "crossref", body=cut_work(body)))
    assert cut == whole
    assert whole != paper(doi)  # the answer changed something


def test_an_answer_cached_before_the_works_index_is_carried_forward(
    settings: Settings, es: Elasticsearch
) -> None:
    """A home whose cache holds whole answers only (as every cache did before the works index)
    is read as it is, and each answer it reads is stored cut from then on: no migration step."""
    doi = "10.3892/ijo_00000353"
    work = json.loads((FIXTURES / "doi" / CROSSREF_WORKS[doi]).read_text())
    entry = cache_entry(Lookup(doi, "found", "crossref", body=work), timedelta(days=90))
    DoiCache(es, settings).ensure()
    es.index(index=CACHE_INDEX, id=doi, document=entry, refresh=True)
    unknown = cache_entry(Lookup("10.1000/gone", "not_found", "crossref"), timedelta(days=7))
    es.index(index=CACHE_INDEX, id="10.1000/gone", document=unknown, refresh=True)
    cache = DoiCache(es, settings)

    first = cache.get_many([doi, "10.1000/gone", "10.1000/never"])

    assert set(first) == {doi, "10.1000/gone"}
    assert first[doi].body == cut_work(work) and first["10.1000/gone"].status == "not_found"
    stored = es.get(index=WORKS_INDEX, id=doi)["_source"]
    kept = {k: v for k, v in entry.items() if k != "body"}
    assert stored == {**kept, "work": cut_work(work), "cut": CUT, "updates": []}
    es.delete(index=CACHE_INDEX, id=doi, refresh=True)  # now read from the works index alone
    assert cache.get_many([doi])[doi].body == cut_work(work)


def test_cache_index_created_by_another_batch_meanwhile_is_fine(
    settings: Settings, es: Elasticsearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two batches prepared at once may both find the cache index missing."""
    DoiCache(es, settings).ensure()
    late = DoiCache(es, settings)
    get_mapping = es.indices.get_mapping
    missing = lambda **_: get_mapping(index="scholarflow-never-created")  # noqa: E731
    monkeypatch.setattr(late.client.indices, "get_mapping", missing)  # checked before
    late.ensure()  # the other batch created it in between: no error
    monkeypatch.undo()
    assert es.indices.exists(index=CACHE_INDEX)
