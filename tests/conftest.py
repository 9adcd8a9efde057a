"""Shared fixtures: a real embedded engine (one per session, a fresh clone per test), settings
pointing at it, and the seeds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
for name in list(os.environ):
    if name.startswith("SCHOLARFLOW_"):
        del os.environ[name]  # tests build their own settings

from elasticsearch import Elasticsearch  # noqa: E402
from osmem_server import OsmemServer  # noqa: E402

from scholarflow.registry import reset_limiters  # noqa: E402
from scholarflow.registry.client import agencies  # noqa: E402
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
    """A fresh fixture server, and fresh process-wide registry state (limits, agencies)."""
    reset_limiters()
    agencies.clear()
    with FixtureServer() as server:
        yield server


def lookups_at(server: FixtureServer, **overrides: Any) -> dict[str, Any]:
    """Settings that send DOI lookups to `server`, with limits sized for quick tests."""
    return {
        "doi_lookup": DoiLookup.ON,
        "crossref_url": server.url,
        "doi_org_url": server.url,
        "crossref_mailto": "ops@example.org",
        "doi_rate": 1000,
        "doi_concurrency": 8,
        "doi_timeout": 2.0,
        **overrides,
    }


@pytest.fixture
def online(settings: Settings, registry: FixtureServer) -> Settings:
    """`settings` (a fresh engine clone) with DOI lookups on, answered by `registry`."""
    return settings.model_copy(update=lookups_at(registry))


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A real, throw-away Prefect API server for the tests that run flows."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
