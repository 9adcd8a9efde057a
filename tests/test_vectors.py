"""The embedding stage on the real engine (embedded OpenSearch with the k-NN plugin): the vector
field per engine, a vector for every paper, the cache that spares a second embedding, a changed
text, papers without text, and the counts every run must add up to."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from elasticsearch import BadRequestError
from elasticsearch.helpers import scan

from flows.embed import run_embed
from scholarflow.embedding.cache import CACHE_INDEX, VectorCache
from scholarflow.embedding.model import MODEL_ID, load_embedder
from scholarflow.embedding.status import vector_status
from scholarflow.embedding.vectors import vectors_for
from scholarflow.engine.client import connect
from scholarflow.paper.models import Paper
from scholarflow.settings import Settings, VectorMapping
from scholarflow.stores.indices import ensure_live_index, live_index
from scholarflow.stores.templates import install_templates
from scholarflow.stores.vector_mapping import (
    DIMENSIONS,
    INFO_FIELD,
    VECTOR_FIELD,
    VectorMappingError,
    cluster_mapping,
    index_mapping,
    resolve_mapping,
    vector_component,
)
from tasks.reenrich import _changed_fields
from tests.conftest import SEED_RECORDS, ingest_plain
from tests.seeding import seed_index

SEED_PAPERS = 32


def vectors(settings: Settings, alias: str = "papers") -> dict[str, list[float]]:
    client = connect(settings)
    return {
        hit["_id"]: hit["_source"][VECTOR_FIELD]
        for hit in scan(client, index=alias, _source_includes=[VECTOR_FIELD])
        if VECTOR_FIELD in hit["_source"]
    }


def test_the_embedded_engine_gets_the_k_nn_plugins_vector_field(settings: Settings) -> None:
    client = connect(settings)
    assert cluster_mapping(client) is VectorMapping.KNN
    index = ensure_live_index(client, settings.alias)
    field = client.indices.get_mapping(index=index)[index]["mappings"]["properties"][VECTOR_FIELD]
    assert field["type"] == "knn_vector" and field["dimension"] == DIMENSIONS
    assert field["method"]["engine"] == "lucene"  # faiss and nmslib need native libraries
    assert index_mapping(client, index) is VectorMapping.KNN


def test_each_vector_mapping_is_what_its_engine_accepts(settings: Settings) -> None:
    client = connect(settings)
    # No vector field (OpenSearch without the plugin, the in-memory fallback): a strict index
    # that still takes every paper field and `embedding_info`.
    install_templates(client, "plain", "stock", VectorMapping.NONE)
    client.indices.create(index="plain-000001")
    assert index_mapping(client, "plain-000001") is VectorMapping.NONE
    client.index(index="plain-000001", id="p", document={"id": "p", INFO_FIELD: {"empty": True}})
    with pytest.raises(BadRequestError, match="strict"):
        client.index(index="plain-000001", id="q", document={"id": "q", VECTOR_FIELD: [0.1]})
    # Elasticsearch's dense_vector: OpenSearch has no such type, so it is never chosen here.
    with pytest.raises(VectorMappingError, match="offers knn"):
        resolve_mapping(client, VectorMapping.DENSE_VECTOR)
    with pytest.raises(BadRequestError, match="dense_vector"):
        client.indices.create(index="dense", mappings=vector_component("dense_vector")["mappings"])
    dense = vector_component("dense_vector")["mappings"]["properties"][VECTOR_FIELD]
    assert (dense["dims"], dense["similarity"]) == (DIMENSIONS, "cosine")
    assert status_of(settings, "plain-000001")["vector_mapping"].startswith("none")


def cached(settings: Settings) -> int:
    """How many vectors the cache holds (its writes made visible first)."""
    client = connect(settings)
    client.indices.refresh(index=CACHE_INDEX)
    return int(client.count(index=CACHE_INDEX)["count"])


def status_of(settings: Settings, index: str | None) -> dict:
    return vector_status(connect(settings), index)


def test_every_seed_paper_has_a_vector_and_a_second_run_embeds_nothing(
    vector_settings: Settings,
) -> None:
    client = connect(vector_settings)
    status = status_of(vector_settings, live_index(client, "papers"))
    assert status["vectors"] == {"embedded": SEED_PAPERS, "no_text": 0, "waiting": 0}
    assert "knn_vector" in status["vector_mapping"] and MODEL_ID in status["vector_mapping"]
    assert len(vectors(vector_settings)) == SEED_PAPERS
    again = run_embed(vector_settings, everything=False, batch_size=10)
    assert again.selected == 0 and again.vectors["embedded"] == 0
    checked = run_embed(vector_settings, everything=True, batch_size=10)
    assert checked.selected == SEED_PAPERS and checked.outcomes["unchanged"] == SEED_PAPERS
    assert checked.vectors["embedded"] == 0


def test_the_same_text_is_never_embedded_twice(vector_settings: Settings) -> None:
    """The seeds indexed again behind another alias: every vector comes from the cache."""
    other = vector_settings.model_copy(update={"alias": "other"})
    seed_index(other)
    summary = run_embed(other, everything=False, batch_size=10)
    summary.check()
    assert summary.outcomes["updated"] == SEED_PAPERS
    assert (summary.vectors["cached"], summary.vectors["embedded"]) == (SEED_PAPERS, 0)
    assert vectors(other, "other") == vectors(vector_settings)


def test_a_paper_whose_text_changes_gets_a_new_vector(settings: Settings, tmp_path: Path) -> None:
    record = tmp_path / "paper.txt"
    shutil.copy(SEED_RECORDS / "001_d0f09c4d024839cf.txt", record)
    ingest_plain(settings, [record])
    first = run_embed(settings, everything=False, batch_size=10)
    assert (first.selected, first.vectors["embedded"]) == (1, 1)
    before = vectors(settings)
    text = record.read_text(encoding="utf-8")
    changed = text.replace("are reported,diagnosed,described and illustrated", "are redescribed")
    assert changed != text
    record.write_text(changed, encoding="utf-8")
    ingest_plain(settings, [record], run_id="later")  # changed at its source: rewritten
    second = run_embed(settings, everything=False, batch_size=10)
    assert (second.selected, second.vectors["embedded"], second.outcomes["updated"]) == (1, 1, 1)
    after = vectors(settings)
    assert after.keys() == before.keys() and after != before
    assert cached(settings) == 2  # both texts stay cached


def test_papers_without_text_are_counted_and_get_no_vector(settings: Settings) -> None:
    client = connect(settings)
    batch = vectors_for(
        {"blank": {"title_en": "  "}, "titled": {"title_en": "The Structure of Ordinary Water"}},
        load_embedder(settings.embed_max_tokens),
        VectorCache(client),
    )
    assert batch.vectors["empty"] == 1 and batch.vectors["embedded"] == 1
    assert batch.docs["blank"] == {INFO_FIELD: batch.docs["blank"][INFO_FIELD]}
    assert batch.docs["blank"][INFO_FIELD]["empty"] is True
    assert len(batch.docs["titled"][VECTOR_FIELD]) == DIMENSIONS
    assert cached(settings) == 1


def test_a_reenrichment_that_changes_the_text_leaves_the_paper_to_be_embedded_again() -> None:
    before = Paper(id="p", title_en="Title")
    filled = before.model_copy(update={"abstract_en": "The registry's abstract."})
    assert _changed_fields(before, filled)[INFO_FIELD] is None
    counted = before.model_copy(update={"cited_by_count": 3})
    assert INFO_FIELD not in _changed_fields(before, counted)


def test_the_in_memory_fallback_has_no_vector_field_and_says_so(tmp_path: Path) -> None:
    """osmem (the engine without Java) offers no vector type: lexical search only, stated."""
    from osmem_server import OsmemServer

    from scholarflow.search.service import search_papers

    with OsmemServer.start(japanese=False) as server:
        settings = Settings(_env_file=None, es_url=server.url, home=tmp_path)
        client = connect(settings)
        assert cluster_mapping(client) is VectorMapping.NONE
        index = ensure_live_index(client, settings.alias)
        assert status_of(settings, index) == {
            "vector_mapping": "none: this engine has no vector field type, search is lexical only",
            "vectors": {},
        }
        client.index(index=index, id="a", document={"id": "a", "title_en": "giant salamander"})
        client.indices.refresh(index=index)
        summary = run_embed(settings, everything=False, batch_size=10)
        assert (summary.vector_mapping, summary.selected) == ("none", 0)
        assert [hit["id"] for hit in search_papers(settings, "salamander")["hits"]] == ["a"]
