"""The layout rule for a new paper index (scholarflow/stores/layout.py): shards from the expected
corpus and the data nodes, replicas by the engine's auto-expand rule, overrides honoured, and
what a one-node engine gets (on the real embedded OpenSearch)."""

from __future__ import annotations

from elasticsearch import Elasticsearch

from scholarflow.settings import Settings
from scholarflow.stores.indices import ensure_live_index
from scholarflow.stores.layout import (
    AUTO_REPLICAS,
    PAPER_BYTES,
    TARGET_SHARD_BYTES,
    index_layout,
    layout_status,
    plan_layout,
)


def test_one_node_gets_one_shard_and_no_replica_until_the_corpus_outgrows_a_shard() -> None:
    small = plan_layout(1, expected_papers=1_000_000)
    assert small.shards == 1
    assert small.index_settings() == {"number_of_shards": 1, "auto_expand_replicas": "0-1"}
    assert "0 now" in small.why["replicas"]
    per_shard = TARGET_SHARD_BYTES // PAPER_BYTES
    assert plan_layout(1, expected_papers=per_shard + 1).shards == 2


def test_a_cluster_spreads_primaries_over_its_data_nodes_and_sizes_them_by_the_corpus() -> None:
    assert plan_layout(3, expected_papers=10_000).shards == 3
    assert "1 now" in plan_layout(3).why["replicas"]
    # 200 million papers (OpenAlex's size) at PAPER_BYTES in shards of at most 30 GB.
    big = plan_layout(10, expected_papers=200_000_000)
    assert big.shards == -(-200_000_000 * PAPER_BYTES // TARGET_SHARD_BYTES)
    assert big.shards > 10 and "200,000,000 expected papers" in big.why["shards"]


def test_settings_override_the_rule_and_say_so() -> None:
    fixed = plan_layout(3, shards="5", replicas="2")
    assert fixed.index_settings() == {
        "number_of_shards": 5,
        "auto_expand_replicas": False,
        "number_of_replicas": 2,
    }
    assert fixed.why["shards"] == "5: SCHOLARFLOW_SHARDS"
    assert "stays yellow" in plan_layout(1, replicas="1").why["replicas"]


def test_the_live_index_and_stores_get_the_layout_on_the_embedded_engine(
    settings: Settings, es: Elasticsearch
) -> None:
    layout = index_layout(es, settings.model_copy(update={"shards": "2"}))
    index = ensure_live_index(es, settings.alias, layout=layout)
    found = es.indices.get_settings(index=index)[index]["settings"]["index"]
    assert (found["number_of_shards"], found["auto_expand_replicas"]) == ("2", AUTO_REPLICAS)
    assert found["number_of_replicas"] == "0"  # one data node: nothing to put a replica on
    assert es.cluster.health(index=index)["status"] == "green"
    said = layout_status(es, settings, index, {"index": found})
    assert said["shards"].startswith(f"{index}: 2; a new index: 1:")
    assert said["replicas"].startswith(f"{index}: 0 (auto_expand_replicas {AUTO_REPLICAS})")
    assert said["cluster"].startswith("green, 1 node(s), 1 data")
