"""Re-enrichment refreshes corrections: a paper retracted since its answer was cached is marked
by the next `reenrich --older-than`, through the real flow, the CLI and the writer run. The
registry is a local server; the retraction is built from Crossref's documented schema on the
recorded answer (tests/crossmark.py)."""

from __future__ import annotations

import json

from elasticsearch import Elasticsearch

from scholarflow.registry import DoiCache
from scholarflow.search.service import search_papers
from scholarflow.settings import DoiLookup, Settings
from tests.conftest import SEED_CACHE, SEED_RECORDS
from tests.crossmark import update, with_fields
from tests.fixture_server import FixtureServer, Reply
from tests.test_doi_flows import (
    Use,
    docs,
    ingest,
    reenrich_artifacts,
    reenrich_cli,
    serve_seed_world,
    use,  # noqa: F401 (the fixture)
)

SREP = "10.1038/srep16696"
NOTICE = "10.1038/srep99999"


def test_reenrich_marks_a_paper_retracted_since_it_was_cached(
    prefect_harness: None,
    online: Settings,
    registry: FixtureServer,
    es: Elasticsearch,
    use: Use,  # noqa: F811
) -> None:
    entries = [json.loads(line) for line in SEED_CACHE.read_text().splitlines() if line]
    DoiCache(es, online).import_entries(entries)  # recorded in 2026-06: older than 30 days
    use(online.model_copy(update={"doi_lookup": DoiLookup.CACHE_ONLY}))
    ingest([str(SEED_RECORDS)])
    assert docs(es)[SREP].get("correction") is None

    serve_seed_world(registry)
    retracted = with_fields(
        SREP, updated_by=[update(NOTICE, "retraction", (2026, 7, 1), "retraction-watch", "61234")]
    )
    registry.route(f"/works/{SREP}", Reply.json(retracted))
    use(online)
    summary = reenrich_cli("--older-than", "30d")

    assert summary["corrections"] == {"retracted": 1}
    correction = docs(es)[SREP]["correction"]
    assert (correction["status"], correction["notice_doi"]) == ("retracted", NOTICE)
    assert correction["notices"][0]["source"] == "retraction-watch"
    hits = search_papers(online, "alpha-synuclein Parkinson")["hits"]
    assert hits[0]["id"] == SREP and hits[0]["correction"]["notice_date"] == "2026-07-01"
    [artifact] = reenrich_artifacts(summary["run_id"])
    assert {"outcome": "corrections now retracted", "documents": 1} in json.loads(artifact.data)
