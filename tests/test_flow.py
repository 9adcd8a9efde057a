"""The ingest flow under a real (throw-away) Prefect server."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from scholarflow.settings import Settings, get_settings
from tests.conftest import SEED_CACHE, SEED_RECORDS


@pytest.fixture
def env_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Expose the per-test settings through the environment, as a deployment would see them."""
    monkeypatch.setenv("SCHOLARFLOW_ES_URL", settings.es_url)
    monkeypatch.setenv("SCHOLARFLOW_HOME", str(settings.home))
    monkeypatch.setenv("SCHOLARFLOW_DOI_LOOKUP", "cache-only")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def read_summary_artifact(flow_run_id: str) -> list[dict]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read() -> list:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["ingest-summary"]))
            )

    artifacts = [a for a in asyncio.run(read()) if str(a.flow_run_id) == flow_run_id]
    return artifacts


@pytest.mark.usefixtures("prefect_harness")
def test_ingest_flow_indexes_seeds_and_accounts_for_every_record(
    env_settings: Settings, es: Elasticsearch
) -> None:
    from flows.ingest import ingest
    from scholarflow.registry import DoiCache
    from tests.conftest import load_cache_entries

    DoiCache(es, env_settings).import_entries(load_cache_entries(SEED_CACHE))
    state = ingest(paths=[str(SEED_RECORDS)], batch_size=7, return_state=True)
    summary = state.result()
    read = summary["records_read"]
    assert read == 33
    assert (
        summary["indexed"]
        + summary["duplicates_merged"]
        + summary["unchanged"]
        + summary["rejected"]
        == read
    )
    assert (summary["indexed"], summary["duplicates_merged"], summary["rejected"]) == (32, 1, 0)
    assert summary["enrichment"]["enriched"] >= 8  # the DOIs with recorded responses
    assert es.count(index="papers")["count"] == 32

    artifacts = read_summary_artifact(str(state.state_details.flow_run_id))
    assert len(artifacts) == 1
    table = artifacts[0].data
    table = json.loads(table) if isinstance(table, str) else table
    rows = {row["measure"]: row["value"] for row in table}
    assert rows["records_read"] == 33 and rows["indexed"] == 32

    skipped = ingest(paths=[str(SEED_RECORDS)], batch_size=7)
    assert skipped["records_read"] == 0 and skipped["sources_skipped"] > 0  # the manifest
    again = ingest(paths=[str(SEED_RECORDS)], batch_size=7, full=True)
    assert again["indexed"] == 0 and again["unchanged"] + again["duplicates_merged"] == read
    assert es.count(index="papers")["count"] == 32


def test_a_flow_run_keeps_only_the_batches_in_flight_alive(
    ingest, settings: Settings, es: Elasticsearch
) -> None:
    """Memory stays bounded however long the run: after each batch is indexed, only the
    batches still being prepared hold papers (each paper, and its enriched copy while
    enrichment runs). (Garbage collection is off, so a batch kept
    alive only by a reference cycle would count as alive, as it does until a full collection.)"""
    from flows.ingest import progress_listener
    from scholarflow.paper.models import Paper, RunSummary

    batch_size = 3
    alive: list[int] = []

    def count_papers(_summary: RunSummary) -> None:
        alive.append(sum(isinstance(o, Paper) for o in gc.get_objects()))

    gc.collect()
    gc.disable()
    try:
        with progress_listener(count_papers):
            summary = ingest(SEED_RECORDS, batch_size=batch_size)
    finally:
        gc.enable()
    assert summary.records_read == 33 and len(alive) == 11
    assert max(alive) <= 2 * settings.stage_workers * batch_size, alive
