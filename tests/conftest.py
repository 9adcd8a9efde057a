"""Shared fixtures: a real embedded engine (one per session, a fresh clone per test), settings
pointing at it, and the seeds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
for name in list(os.environ):
    if name.startswith("SCHOLARFLOW_"):
        del os.environ[name]  # tests build their own settings

from elasticsearch import Elasticsearch  # noqa: E402
from osmem_server import OsmemServer  # noqa: E402

from scholarflow.models import Outcome, RunSummary  # noqa: E402
from scholarflow.search_client import connect  # noqa: E402
from scholarflow.settings import DoiLookup, Settings  # noqa: E402
from tests.fixture_server import FixtureServer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SEED_RECORDS = SEEDS / "records"
SEED_CACHE = SEEDS / "doi_cache.jsonl"


@pytest.fixture(scope="session")
def engine() -> Iterator[OsmemServer]:
    with OsmemServer.start(japanese=False) as server:
        yield server


@pytest.fixture
def settings(engine: OsmemServer, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a fresh, empty clone of the engine; DOI lookups off unless a test says so."""
    clone = engine.clone()
    try:
        yield Settings(
            _env_file=None,
            es_url=clone.url,
            es_plain_json=True,
            home=tmp_path / "home",
            doi_lookup=DoiLookup.OFF,
            crossref_url="http://127.0.0.1:9",  # discard port: nothing listens
        )
    finally:
        clone.close()


@pytest.fixture
def es(settings: Settings) -> Elasticsearch:
    return connect(settings)


@pytest.fixture
def registry() -> Iterator[FixtureServer]:
    with FixtureServer() as server:
        yield server


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A real, throw-away Prefect API server for the tests that run flows."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def assert_accounted(summary: RunSummary) -> None:
    """The run's accounting invariant, checked explicitly by every test that ingests."""
    outcomes = summary.outcomes
    assert summary.records_read == (
        outcomes[Outcome.INDEXED]
        + outcomes[Outcome.MERGED]
        + outcomes[Outcome.UNCHANGED]
        + outcomes[Outcome.REJECTED]
    ), summary.as_dict()
    assert summary.dead_lettered == outcomes[Outcome.REJECTED], summary.as_dict()
    summary.check()


def assert_accounted_json(data: dict) -> None:
    """The same invariant on the CLI's `--json` summary."""
    parts = data["indexed"] + data["duplicates_merged"] + data["unchanged"] + data["rejected"]
    assert data["records_read"] == parts, data
    assert data["dead_lettered"] == data["rejected"], data
    by_stage = sum(group["count"] for group in data["rejected_by_stage"].values())
    assert by_stage == data["rejected"], data


@pytest.fixture
def ingest(prefect_harness: None, settings: Settings):
    """Run an ingest against the test's engine, inside a real flow run (the flow's body with
    these settings), with the accounting invariant asserted on every run."""
    from prefect import flow

    from flows.ingest import run_ingest

    def run(*paths: str | Path, batch_size: int = 500, full: bool = False) -> RunSummary:
        @flow(name="ingest-test")
        def body() -> RunSummary:
            return run_ingest(settings, [str(p) for p in paths], batch_size, full=full)

        summary = body()
        assert_accounted(summary)
        return summary

    return run


@pytest.fixture
def prefect_api_url(prefect_harness: None) -> str:
    """The harness's API, for CLI subprocesses (so they need not start a server of their own)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url
    return url


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """Environment for a `scholarflow` subprocess using the test's engine."""
    return {
        "SCHOLARFLOW_ES_URL": str(settings.es_url),
        "SCHOLARFLOW_ES_PLAIN_JSON": "true",
        "SCHOLARFLOW_HOME": str(settings.home),
        "SCHOLARFLOW_DOI_LOOKUP": "off",
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
