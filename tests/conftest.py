"""Shared fixtures: the real embedded engine (one OpenSearch node per session, emptied or restored
to the seeds before each test), settings pointing at it, and the seeds."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
for name in list(os.environ):
    if name.startswith("SCHOLARFLOW_"):
        del os.environ[name]  # tests build their own settings

from elasticsearch import Elasticsearch  # noqa: E402

from scholarflow.engine import EmbeddedEngine  # noqa: E402
from scholarflow.engine.client import connect  # noqa: E402
from scholarflow.paper.models import Outcome, RunSummary  # noqa: E402
from scholarflow.registry import reset_limiters  # noqa: E402
from scholarflow.registry.client import agencies  # noqa: E402
from scholarflow.settings import (  # noqa: E402
    AnalysisProfile,
    DoiLookup,
    EngineKind,
    Settings,
    get_settings,
)
from scholarflow.stores.indices import live_index  # noqa: E402
from scholarflow.stores.templates import profile_of  # noqa: E402
from tests.fixture_server import FixtureServer  # noqa: E402
from tests.shared_engine import (  # noqa: E402
    SEEDED,
    STOCK_SEEDED,
    VECTORS_SEEDED,
    SharedEngine,
)

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SEED_RECORDS = SEEDS / "records"
SEED_CACHE = SEEDS / "doi_cache.jsonl"


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedEngine]:
    """The real embedded engine (OpenSearch), started once for the whole session."""
    embedded = EmbeddedEngine(tmp_path_factory.mktemp("engine-home"), kind=EngineKind.OPENSEARCH)
    shared = SharedEngine(embedded.ensure())
    try:
        yield shared
    finally:
        embedded.stop()


def settings_for(url: str, home: Path) -> Settings:
    return Settings(
        _env_file=None,
        es_url=url,
        home=home,
        doi_lookup=DoiLookup.OFF,
        crossref_url="http://127.0.0.1:9",  # discard port: nothing listens
    )


@pytest.fixture
def settings(engine: SharedEngine, tmp_path: Path) -> Settings:
    """Settings for the engine, emptied for this test; DOI lookups off unless a test says so."""
    engine.wipe()
    return settings_for(engine.url, tmp_path / "home")


@pytest.fixture(scope="session")
def seeded_engine(engine: SharedEngine, tmp_path_factory: pytest.TempPathFactory) -> SharedEngine:
    """The engine's snapshot `seeded`: the seed records as `make demo` indexes them."""
    from tests.seeding import seed_index

    engine.wipe()
    seed_index(settings_for(engine.url, tmp_path_factory.mktemp("seeded-home")))
    engine.take_snapshot(SEEDED)
    return engine


@pytest.fixture
def seeded_settings(seeded_engine: SharedEngine, tmp_path: Path) -> Settings:
    """Settings for the engine holding just the seeds (`papers-000001`), restored for this test."""
    return restored(seeded_engine, SEEDED, tmp_path)


def restored(engine: SharedEngine, snapshot: str, tmp_path: Path) -> Settings:
    """Settings for `engine` emptied and brought back to `snapshot`."""
    engine.wipe()
    engine.restore(snapshot)
    return settings_for(engine.url, tmp_path / "home")


@pytest.fixture(scope="session")
def vectors_seeded_engine(
    seeded_engine: SharedEngine, tmp_path_factory: pytest.TempPathFactory
) -> SharedEngine:
    """The engine's snapshot `seeded-vectors`: the seeds with their vectors, as `make demo`
    leaves them after `scholarflow embed`, and a vector cache that also holds the vectors of
    the cross-lingual evaluation's one-language copies (made once, not in every test)."""
    from flows.embed import run_embed
    from scholarflow.embedding.model import embedder_for
    from scholarflow.search.crosslingual_eval import KEPT_LANGUAGE, one_language_copy

    settings = restored(seeded_engine, SEEDED, tmp_path_factory.mktemp("vectors-home"))
    run_embed(settings, everything=False, batch_size=settings.embed_batch_size)
    for keep in KEPT_LANGUAGE.values():
        with one_language_copy(connect(settings), settings.alias, keep, embedder_for(settings)):
            pass
    seeded_engine.take_snapshot(VECTORS_SEEDED)
    return seeded_engine


@pytest.fixture
def vector_settings(vectors_seeded_engine: SharedEngine, tmp_path: Path) -> Settings:
    """Settings for the engine holding the seeds with their vectors, restored for this test."""
    return restored(vectors_seeded_engine, VECTORS_SEEDED, tmp_path)


@pytest.fixture(scope="session")
def stock_seeded_engine(
    seeded_engine: SharedEngine, tmp_path_factory: pytest.TempPathFactory
) -> SharedEngine:
    """The engine's snapshot `seeded-stock`: the same seeds, but built with the stock profile
    (auto picks icu on the embedded engine, which has the plugin)."""
    from tests.seeding import seed_index

    seeded_engine.wipe()
    home = tmp_path_factory.mktemp("seeded-stock-home")
    stock = {"analysis_profile": AnalysisProfile.STOCK}
    seed_index(settings_for(seeded_engine.url, home).model_copy(update=stock))
    seeded_engine.take_snapshot(STOCK_SEEDED)
    return seeded_engine


@pytest.fixture(params=[AnalysisProfile.STOCK, AnalysisProfile.ICU], ids=str)
def profile_settings(request: pytest.FixtureRequest) -> Settings:
    """The seeds, indexed with each analysis profile in turn."""
    if request.param is AnalysisProfile.ICU:
        settings: Settings = request.getfixturevalue("seeded_settings")
    else:
        engine: SharedEngine = request.getfixturevalue("stock_seeded_engine")
        engine.wipe()
        engine.restore(STOCK_SEEDED)
        settings = settings_for(engine.url, request.getfixturevalue("tmp_path") / "home")
    client = connect(settings)
    index = live_index(client, settings.alias)
    assert index and profile_of(client.indices.get_settings(index=index)[index]["settings"]) == (
        request.param
    )
    return settings.model_copy(update={"analysis_profile": request.param})


@pytest.fixture
def flow_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Put the test's settings (plus overrides) into SCHOLARFLOW_* variables, where a flow run
    finds them, as a served or worker-run flow does: `flow_env(batch_size=4)`."""

    def export(**overrides: Any) -> None:
        values = settings.model_dump(exclude_defaults=True) | overrides
        for name, value in values.items():
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            text = orjson.dumps(value).decode() if isinstance(value, list) else str(value)
            monkeypatch.setenv(f"SCHOLARFLOW_{name.upper()}", text)
        get_settings.cache_clear()

    yield export
    get_settings.cache_clear()


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


def ingest_plain(settings: Settings, paths: list[Path], run_id: str = "test-run") -> dict:
    """The ingest pipeline through the plain stage functions (no Prefect), for engine tests."""
    from scholarflow.stores.indices import ensure_live_index
    from tasks.decode import decode_records
    from tasks.enrich import enrich_papers
    from tasks.fetch import read_records
    from tasks.index import index_papers

    client = connect(settings)
    index = ensure_live_index(client, settings.alias)
    records = list(read_records(paths))
    papers, rejected = decode_records(records)
    result = index_papers(client, index, enrich_papers(papers, None), run_id)
    client.indices.refresh(index=index)
    return {
        "index": index,
        "read": len(records),
        "decode_rejected": len(rejected),
        "result": result,
    }


def load_cache_entries(path: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


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
        "SCHOLARFLOW_HOME": str(settings.home),
        "SCHOLARFLOW_DOI_LOOKUP": "off",
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
