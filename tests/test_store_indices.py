"""The bookkeeping stores' indices on the real embedded engine: each is created from its file in
`index_mappings/` and nothing else, with one shard and no replica, and creating one is safe when
several processes start at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from elasticsearch import BadRequestError, Elasticsearch

from scholarflow.alerts.hits import HITS_INDEX, HITS_MAPPINGS_FILE, WatchHits
from scholarflow.alerts.percolator import PERCOLATOR_MAPPINGS_FILE, SKIPPED_TYPES, ensure_percolator
from scholarflow.alerts.watches import WATCHES_INDEX, WATCHES_MAPPINGS_FILE, WatchStore
from scholarflow.embedding.cache import CACHE_INDEX as VECTORS_INDEX
from scholarflow.embedding.cache import MAPPINGS_FILE as VECTORS_MAPPINGS_FILE
from scholarflow.embedding.cache import VectorCache
from scholarflow.engine.client import connect
from scholarflow.engine.leases import LOCK_INDEX
from scholarflow.registry.cache import (
    CACHE_INDEX,
    CACHE_MAPPINGS_FILE,
    WORKS_INDEX,
    WORKS_MAPPINGS_FILE,
    DoiCache,
)
from scholarflow.registry.search_cache import SEARCH_INDEX, SEARCH_MAPPINGS_FILE, SearchCache
from scholarflow.search.anchor import ANCHOR_FILE
from scholarflow.settings import Settings
from scholarflow.stores.deadletters import (
    DEADLETTER_INDEX,
    DEADLETTER_MAPPINGS_FILE,
    DeadLetterStore,
)
from scholarflow.stores.harvest_sources import SOURCES_INDEX as HARVEST_INDEX
from scholarflow.stores.harvest_sources import SOURCES_MAPPINGS_FILE as HARVEST_MAPPINGS_FILE
from scholarflow.stores.harvest_sources import HarvestSources
from scholarflow.stores.indices import STORE_SETTINGS, ensure_index
from scholarflow.stores.ingest_origins import SOURCES_INDEX, SOURCES_MAPPINGS_FILE, SourceRegistry
from scholarflow.stores.lock import LOCK_MAPPINGS_FILE
from scholarflow.stores.read_files import MANIFEST_INDEX, MANIFEST_MAPPINGS_FILE, SourceManifest
from scholarflow.stores.templates import MAPPINGS_DIR, load_mapping_file
from tests.locking import make_lock

PAPERS_FILES = {"papers.mappings.json", "papers.index-template.json", "settings.json"}


def _take_and_release_lock(es: Elasticsearch, settings: Settings) -> None:
    lock = make_lock(es, "store-test")
    lock.acquire()
    lock.release()


STORES: dict[str, tuple[str, Callable[[Elasticsearch, Settings], Any]]] = {
    LOCK_INDEX: (LOCK_MAPPINGS_FILE, _take_and_release_lock),
    MANIFEST_INDEX: (
        MANIFEST_MAPPINGS_FILE,
        lambda es, s: SourceManifest(es, s.alias, "x").ensure(),
    ),
    SOURCES_INDEX: (SOURCES_MAPPINGS_FILE, lambda es, s: SourceRegistry(es).ensure()),
    DEADLETTER_INDEX: (DEADLETTER_MAPPINGS_FILE, lambda es, s: DeadLetterStore(es).ensure()),
    CACHE_INDEX: (CACHE_MAPPINGS_FILE, lambda es, s: DoiCache(es, s).ensure()),
    WORKS_INDEX: (WORKS_MAPPINGS_FILE, lambda es, s: DoiCache(es, s).ensure()),
    SEARCH_INDEX: (SEARCH_MAPPINGS_FILE, lambda es, s: SearchCache(es, s).ensure()),
    WATCHES_INDEX: (WATCHES_MAPPINGS_FILE, lambda es, s: WatchStore(es).ensure()),
    HITS_INDEX: (HITS_MAPPINGS_FILE, lambda es, s: WatchHits(es).ensure()),
    VECTORS_INDEX: (VECTORS_MAPPINGS_FILE, lambda es, s: VectorCache(es)),
    HARVEST_INDEX: (HARVEST_MAPPINGS_FILE, lambda es, s: HarvestSources(es).ensure()),
}


@pytest.mark.parametrize("index", STORES)
def test_each_store_is_created_with_exactly_its_files_mappings(
    es: Elasticsearch, settings: Settings, index: str
) -> None:
    mappings_file, create = STORES[index]
    assert not es.indices.exists(index=index)
    create(es, settings)
    created = es.indices.get(index=index)[index]
    assert created["mappings"] == load_mapping_file(mappings_file)
    found = {k: created["settings"]["index"][k] for k in STORE_SETTINGS}
    assert found == {k: str(v) for k, v in STORE_SETTINGS.items()}
    # One node: the auto-expanding replica is none, and the store is green.
    assert created["settings"]["index"]["number_of_replicas"] == "0"


def test_every_mappings_file_belongs_to_a_store_or_the_papers() -> None:
    analysis = {path.name for path in MAPPINGS_DIR.glob("analysis.*.json")}
    vectors = {path.name for path in MAPPINGS_DIR.glob("vectors.*.json")}
    assert len(vectors) == 3  # knn, dense_vector, none
    stores = {mappings_file for mappings_file, _ in STORES.values()} | {PERCOLATOR_MAPPINGS_FILE}
    files = {path.name for path in MAPPINGS_DIR.glob("*.json")}
    assert files == PAPERS_FILES | analysis | vectors | stores | {ANCHOR_FILE}


def test_a_percolator_store_holds_its_files_fields_and_its_paper_indexs(
    seeded_settings: Settings,
) -> None:
    """The one store whose mappings are not its file's alone: the paper index's fields and
    analysis are added, so stored queries are parsed as searches of that index are."""
    es = connect(seeded_settings)
    papers = "papers-000001"
    store = ensure_percolator(es, papers)
    created = es.indices.get(index=store)[store]
    declared = load_mapping_file(PERCOLATOR_MAPPINGS_FILE)["properties"]
    paper_fields = es.indices.get_mapping(index=papers)[papers]["mappings"]["properties"]
    searched = {k: v for k, v in paper_fields.items() if v.get("type") not in SKIPPED_TYPES}
    assert "embedding" in paper_fields and "embedding" not in searched  # vectors: no saved search
    assert created["mappings"]["properties"] == searched | declared
    assert created["mappings"]["dynamic"] == "strict"
    analysis = es.indices.get_settings(index=papers)[papers]["settings"]["index"]["analysis"]
    assert created["settings"]["index"]["analysis"] == analysis


@pytest.mark.parametrize("index", STORES)
def test_a_store_refuses_fields_its_file_does_not_declare(es: Elasticsearch, index: str) -> None:
    """Strict mappings: a field missing from the file is a bug, and the engine says so."""
    mappings = load_mapping_file(STORES[index][0])
    assert mappings["dynamic"] == "strict"
    assert all("type" in field for field in mappings["properties"].values())
    ensure_index(es, index, mappings)
    with pytest.raises(BadRequestError, match="strict_dynamic_mapping_exception"):
        es.index(index=index, document={"not_declared": 1})


def test_a_store_created_before_gets_the_fields_added_since(es: Elasticsearch) -> None:
    """A store index made from an older mappings file: its strict mapping would refuse the
    entries that carry a field added since, so the field is put into it first."""
    mappings = load_mapping_file(WORKS_MAPPINGS_FILE)
    older = {**mappings, "properties": dict(list(mappings["properties"].items())[:-2])}
    es.indices.create(index="scholarflow-older", mappings=older, settings=STORE_SETTINGS)
    ensure_index(es, "scholarflow-older", mappings)
    assert es.indices.get_mapping(index="scholarflow-older")["scholarflow-older"]["mappings"] == (
        mappings
    )
    es.index(index="scholarflow-older", document={"doi": "10.1000/x", "cut": 2}, refresh=True)


def test_concurrent_creates_of_a_fresh_index_all_succeed(es: Elasticsearch) -> None:
    name = "scholarflow-race"
    mappings = load_mapping_file(SOURCES_MAPPINGS_FILE)
    start = threading.Barrier(2)

    def create() -> None:
        start.wait()
        ensure_index(es, name, mappings)

    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(create) for _ in range(2)]:
            done.result()
    assert es.indices.get_mapping(index=name)[name]["mappings"] == mappings


def test_a_create_that_loses_the_race_is_a_success(
    es: Elasticsearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loser found the index missing, then another process created it first."""
    mappings = load_mapping_file(MANIFEST_MAPPINGS_FILE)
    ensure_index(es, "scholarflow-race", mappings)
    refused: list[str] = []
    create = es.indices.create

    def create_and_note(**kwargs: Any) -> Any:
        try:
            return create(**kwargs)
        except BadRequestError as exc:
            refused.append(str(exc.error))
            raise

    get_mapping = es.indices.get_mapping
    missing = lambda **_: get_mapping(index="scholarflow-never-created")  # noqa: E731
    monkeypatch.setattr(es.indices, "get_mapping", missing)  # it was missing when looked at
    monkeypatch.setattr(es.indices, "create", create_and_note)
    ensure_index(es, "scholarflow-race", mappings)
    assert refused == ["resource_already_exists_exception"]
