"""DOI enrichment through the real flows (a real Prefect test server) and the CLI: an unreachable
registry, a second run served by the cache, re-enrichment in place."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from cli import app
from scholarflow.settings import DoiLookup, Settings, get_settings
from scholarflow.stores.indices import live_index, restore_serving_settings
from scholarflow.stores.lock import read_lease
from tasks.reindex import copy_documents, create_target, plan_reindex, switch, verify
from tests.conftest import SEED_CACHE, SEED_RECORDS, lookups_at
from tests.fixture_server import CROSSREF_WORKS, FIXTURES, FixtureServer, Reply
from tests.locking import in_thread, make_lock, wait_for_event

SEED_DOIS = sorted(
    {entry["doi"] for entry in json.loads((SEED_RECORDS.parent / "MANIFEST.json").read_text())}
    - {None}
)
DATACITE = {"10.6084", "10.5281"}
FIGSHARE = "10.6084/m9.figshare.4724797"


def serve_seed_world(server: FixtureServer) -> None:
    """Answers for every seed DOI: the recorded Crossref works; for the others Crossref's 404,
    the agency of their prefix (the recorded answer's shape), and for DataCite DOIs doi.org
    content negotiation (the recorded figshare CSL-JSON; doi.org's recorded 404 otherwise)."""
    for doi, fixture in CROSSREF_WORKS.items():
        server.serve_work(doi, fixture)
    for prefix in {doi.split("/")[0] for doi in SEED_DOIS}:
        agency = "DataCite" if prefix in DATACITE else "Crossref"
        server.route(f"/ra/{prefix}", Reply.json([{"DOI": prefix, "RA": agency}]))
    item = json.loads(
        (
            FIXTURES / "doi" / "doiorg_csljson_datacite_10.6084_m9.figshare.4724797_manubot.json"
        ).read_text()
    )[0]
    server.route(f"/{FIGSHARE}", Reply.json(item))


Use = Callable[[Settings], None]


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Iterator[Use]:
    """Make the flows and the CLI read these settings, the way operators set them: env vars."""
    from prefect.settings import get_current_settings

    def apply(settings: Settings) -> None:
        for name, value in settings.model_dump(exclude_none=True).items():
            monkeypatch.setenv(f"SCHOLARFLOW_{name.upper()}", str(value))
        get_settings.cache_clear()

    # The CLI sets these when unset; set them to what is in effect so nothing changes for good.
    monkeypatch.setenv("PREFECT_HOME", str(get_current_settings().home))
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "WARNING")
    yield apply
    get_settings.cache_clear()


def ingest(paths: list[str], full: bool = False) -> dict:
    from flows.ingest import ingest as ingest_flow

    return ingest_flow(paths=paths, batch_size=10, full=full)


def docs(es: Elasticsearch, index: str = "papers") -> dict[str, dict]:
    es.indices.refresh(index=index)
    hits = es.search(index=index, size=100, query={"match_all": {}})["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def statuses(documents: dict[str, dict]) -> set[str]:
    return {d["enrichment"]["status"] for d in documents.values() if d["doi"]}


def reenrich_cli(*args: str) -> dict:
    result = CliRunner().invoke(app, ["reenrich", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_unreachable_registry_then_reenrich_in_place(
    prefect_harness: None,
    settings: Settings,
    registry: FixtureServer,
    es: Elasticsearch,
    use: Use,
) -> None:
    offline = settings.model_copy(update={"doi_lookup": DoiLookup.ON, "doi_breaker_threshold": 3})
    use(offline)
    first = ingest([str(SEED_RECORDS)])

    with_doi = len(SEED_DOIS)  # one document per distinct DOI
    assert first["records_read"] == 33
    assert first["enrichment"] == {"deferred": 30, "no_doi": 3}  # indexed anyway …
    assert first["doi_lookup"]["breaker_open"] is True  # … and the summary says why
    # Each batch in flight has up to doi_workers requests out when the breaker opens.
    in_flight = offline.doi_workers * offline.stage_workers
    assert 3 <= first["doi_lookup"]["requests"] < 3 + in_flight
    before = docs(es)
    assert len(before) == with_doi + 3
    assert statuses(before) == {"deferred"}

    serve_seed_world(registry)
    use(offline.model_copy(update=lookups_at(registry)))
    summary = reenrich_cli()

    # The three papers without a DOI are searched for one too (their search was deferred);
    # Crossref's search has nothing for them here.
    assert summary["selected"] == with_doi + 3
    assert summary["updated"] == with_doi + 3
    assert summary["doi_matching"] == {"no_answer": 3}
    assert summary["doi_lookup"]["breaker_open"] is False
    assert summary["enrichment"] == {"not_found": with_doi - 6, "enriched": 6, "no_doi": 3}
    after = docs(es)
    jclinpath = after["10.1136/jclinpath-2020-206745"]
    assert jclinpath["enrichment"]["status"] == "enriched"
    assert jclinpath["journal"]["publisher"] == "BMJ"
    assert jclinpath["cited_by_count"] == 10
    assert after[FIGSHARE]["journal"]["publisher"] == "Figshare"
    for doc_id, doc in after.items():  # partial updates: the ingest's bookkeeping is untouched
        assert doc["record_hashes"] == before[doc_id]["record_hashes"]
        assert doc["run_id"] == before[doc_id]["run_id"]

    assert reenrich_cli()["selected"] == 0  # nothing deferred is left

    use(offline)  # the registry is unreachable again, but the DOI cache has the answers:
    skipped = ingest([str(SEED_RECORDS)])  # unchanged files are not even read …
    files = len(list(SEED_RECORDS.iterdir()))
    assert (skipped["records_read"], skipped["sources_skipped"]) == (0, files)
    again = ingest([str(SEED_RECORDS)], full=True)  # … read in full, they are rebuilt once …
    # Every DOI, and the search for the three records without one, is answered by the cache.
    assert again["doi_matching"] == {"no_answer": 3}
    assert again["doi_lookup"]["requests"] < 3 * offline.doi_attempts
    assert again["doi_lookup"]["cache_hits"] >= len(SEED_DOIS)
    assert again["enrichment"] == {"not_found": 24, "enriched": 6, "no_doi": 3}
    assert docs(es)["10.1136/jclinpath-2020-206745"]["journal"]["publisher"] == "BMJ"
    last = ingest([str(SEED_RECORDS)], full=True)  # … and from then on they are unchanged
    assert (last["indexed"], last["unchanged"]) == (0, 33)


def test_reenrich_writes_under_the_lock_and_never_into_a_replaced_index(
    prefect_harness: None,
    settings: Settings,
    registry: FixtureServer,
    es: Elasticsearch,
    use: Use,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A re-index holds the writer lock while a re-enrichment looks its DOIs up: the run waits
    to write, and once the alias has moved it writes nothing into the replaced index (the copy
    was taken before), counts those documents as moved, and the next run updates them."""
    from flows.reenrich import reenrich

    offline = settings.model_copy(update={"doi_lookup": DoiLookup.ON, "doi_breaker_threshold": 3})
    use(offline)
    old = ingest([str(SEED_RECORDS)])["index"]
    serve_seed_world(registry)
    use(offline.model_copy(update=lookups_at(registry)))

    reindexing = make_lock(es, "reindex-run", flow="reindex")
    reindexing.acquire()
    plan = plan_reindex(es, settings, "copy", keep=2)
    with caplog.at_level(logging.DEBUG, logger="prefect.flow_runs"):
        thread, outcome = in_thread(reenrich)
        wait_for_event(caplog, "lock waiting", thread)
        assert registry.requests  # the lookups went out before the lock was asked for
        create_target(es, plan)  # the re-index's own steps, while the re-enrichment waits
        loaded = copy_documents(es, plan)
        restore_serving_settings(es, plan.target)  # as the flow does before it verifies
        verify(es, plan, loaded, allow_removals=False)
        switch(es, plan)
        reindexing.release()
        thread.join(timeout=300)

    [moved] = outcome
    assert isinstance(moved, dict), moved
    assert moved["selected"] == moved["moved"] == len(SEED_DOIS) + 3  # 3 without a DOI
    assert moved["updated"] == moved["conflicts"] == 0
    assert statuses(docs(es, old)) == statuses(docs(es, plan.target)) == {"deferred"}
    taken = [r for r in caplog.records if getattr(r, "event", None) == "lock taken"]
    assert [r.levelno for r in taken if r.fields["flow"] == "reenrich"] == [logging.DEBUG]
    assert read_lease(es, "papers") is None

    again = reenrich_cli()
    assert live_index(es, "papers") == plan.target
    assert again["selected"] == again["updated"] == len(SEED_DOIS) + 3 and again["moved"] == 0
    assert statuses(docs(es)) == {"enriched", "not_found"}


def test_second_run_is_served_by_the_cache(
    prefect_harness: None,
    online: Settings,
    registry: FixtureServer,
    es: Elasticsearch,
    use: Use,
) -> None:
    serve_seed_world(registry)
    use(online)
    first = ingest([str(SEED_RECORDS)])
    asked = len(registry.requests)
    second = ingest([str(SEED_RECORDS)], full=True)  # past the manifest, into the cache

    assert first["doi_lookup"]["requests"] == asked > 0
    assert len(registry.requests) == asked  # not one request on the second run
    assert second["doi_lookup"]["requests"] == 0
    lookups = second["doi_lookup"]["lookups"]
    assert second["doi_lookup"]["cache_hits"] == lookups >= len(SEED_DOIS)
    assert (second["indexed"], second["unchanged"]) == (0, 33)
    assert second["enrichment"] == first["enrichment"]


def test_reenrich_refreshes_answers_older_than_an_age(
    prefect_harness: None,
    online: Settings,
    registry: FixtureServer,
    es: Elasticsearch,
    use: Use,
) -> None:
    """The recorded cache answers were fetched in June 2026 (and 2018): older than 30 days."""
    from scholarflow.registry import DoiCache

    entries = [json.loads(line) for line in SEED_CACHE.read_text().splitlines() if line]
    DoiCache(es, online).import_entries(entries)
    use(online.model_copy(update={"doi_lookup": DoiLookup.CACHE_ONLY}))
    ingest([str(SEED_RECORDS)])
    old = docs(es)["10.1136/jclinpath-2020-206745"]["enrichment"]
    assert old["from_cache"] is True

    serve_seed_world(registry)
    use(online)
    summary = reenrich_cli("--older-than", "30d")

    answered = {e["doi"] for e in entries}
    assert summary["statuses"] == []  # only the age selects
    assert summary["selected"] == len(answered)
    fresh = docs(es)["10.1136/jclinpath-2020-206745"]["enrichment"]
    assert fresh["from_cache"] is False
    assert datetime.fromisoformat(fresh["fetched_at"]) > datetime.now(UTC) - timedelta(minutes=5)
    assert registry.calls["/works/10.1136/jclinpath-2020-206745"] == 1
    assert registry.calls["/works/10.1080/25785826.2025.2563427"] == 0  # cache_miss: not old
    # The writer run published what the summary says, once, as the flow run's table.
    [artifact] = reenrich_artifacts(summary["run_id"])
    assert {"outcome": "selected", "documents": len(answered)} in json.loads(artifact.data)


def reenrich_artifacts(flow_run_id: str) -> list:
    """The re-enrichment summaries published on this flow run (the Prefect server may be
    shared by other tests' runs)."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read() -> list:
        async with get_client() as client:
            key = ArtifactFilterKey(any_=["reenrich-summary"])
            return await client.read_artifacts(artifact_filter=ArtifactFilter(key=key))

    return [a for a in asyncio.run(read()) if str(a.flow_run_id) == flow_run_id]


def test_reenrich_cli_refuses_when_lookups_are_off(settings: Settings, use: Use) -> None:
    use(settings)
    result = CliRunner().invoke(app, ["reenrich"])
    assert result.exit_code == 1
    assert "DOI lookups are off" in result.output


def test_a_reenrichment_that_loses_track_of_a_document_fails() -> None:
    from collections import Counter

    from flows.reenrich import ReenrichSummary
    from scholarflow.paper.models import AccountingError

    summary = ReenrichSummary(run_id="r", alias="papers", selected=3)
    summary.outcomes = Counter(updated=1, moved=1)
    with pytest.raises(AccountingError, match="selected 3 documents but accounted for 2"):
        summary.check()
    summary.outcomes["conflicts"] += 1
    summary.check()
