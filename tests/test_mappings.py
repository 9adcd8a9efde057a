"""The index templates and the two analysis profiles."""

from __future__ import annotations

import json

import pytest
from elasticsearch import Elasticsearch

from scholarflow.settings import AnalysisProfile, Settings
from scholarflow.stores.indices import ensure_live_index
from scholarflow.stores.templates import (
    MAPPINGS_DIR,
    MAPPINGS_FILE,
    ProfileUnavailable,
    analysis_settings,
    cluster_has_icu,
    profile_of,
    resolve_profile,
)

BUILT_IN_FILTERS = {"lowercase", "asciifolding", "cjk_width", "icu_folding", "icu_normalizer"}
BUILT_IN_TOKENIZERS = {"standard", "icu_tokenizer"}
PLUGIN_TYPES = {"icu_transform", "icu_folding", "icu_normalizer", "icu_collation"}


def analysis(profile: str) -> dict:
    return analysis_settings(profile)["analysis"]


def referenced_analyzers(mapping: dict) -> set[str]:
    """Every analyzer and normalizer name the paper mappings use, at any depth."""
    found: set[str] = set()
    for key, value in mapping.items():
        if key in ("analyzer", "search_analyzer", "normalizer") and isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            found |= referenced_analyzers(value)
    return found


def test_each_profile_defines_what_the_mappings_use() -> None:
    mappings = json.loads((MAPPINGS_DIR / MAPPINGS_FILE).read_text())
    used = referenced_analyzers(mappings) - {"standard", "simple"}
    assert {"english_text", "chinese_text", "chinese_query", "folded_text"} <= used
    assert "lowercase_folded" in used
    for profile in ("stock", "icu", "smartcn"):
        defined = analysis(profile)
        assert used <= set(defined["analyzer"]) | set(defined["normalizer"]), profile


@pytest.mark.parametrize("profile", ["stock", "icu", "smartcn"])
def test_profile_analyzers_reference_only_named_or_built_in_parts(profile: str) -> None:
    # The embedded engine needs named filters (no inline objects); Elasticsearch accepts both.
    defined = analysis(profile)
    tokenizers = BUILT_IN_TOKENIZERS | set(defined.get("tokenizer", {}))
    for name, analyzer in {**defined["analyzer"], **defined["normalizer"]}.items():
        assert analyzer["type"] == "custom", name
        assert analyzer.get("tokenizer", "standard") in tokenizers, name
        for used in analyzer["filter"]:
            assert isinstance(used, str), f"{name}: inline filter"
            assert used in defined.get("filter", {}) or used in BUILT_IN_FILTERS, (name, used)


def test_icu_profile_uses_the_plugin_and_stock_does_not() -> None:
    icu, stock = analysis("icu"), analysis("stock")
    assert icu["filter"]["traditional_to_simplified"] == {
        "type": "icu_transform",
        "id": "Traditional-Simplified",
    }
    assert icu["analyzer"]["chinese_text"]["tokenizer"] == "icu_tokenizer"
    assert "icu_folding" in icu["analyzer"]["chinese_text"]["filter"]
    assert "traditional_to_simplified" in icu["analyzer"]["folded_text"]["filter"]
    stock_parts = json.dumps(stock)
    assert not any(kind in stock_parts for kind in (*PLUGIN_TYPES, "icu_tokenizer"))
    assert profile_of({"index": {"analysis": icu}}) == "icu"
    assert profile_of({"index": {"analysis": stock}}) == "stock"


def test_the_chinese_fields_are_searched_with_bigrams_only() -> None:
    fields = json.loads((MAPPINGS_DIR / MAPPINGS_FILE).read_text())["template"]["mappings"]
    properties = fields["properties"]
    chinese = [
        properties["title_zh"],
        properties["abstract_zh"],
        properties["journal"]["properties"]["name_zh"],
        properties["title"]["fields"]["chinese"],
    ]
    assert all(f["analyzer"] == "chinese_text" for f in chinese)
    assert all(f["search_analyzer"] == "chinese_query" for f in chinese)
    # unigrams are indexed: no per-character sub-field is needed for one-character queries
    assert "chars" not in json.dumps(fields)


def test_auto_picks_icu_on_the_embedded_engine(es: Elasticsearch, settings: Settings) -> None:
    assert cluster_has_icu(es)  # the plugin is on the node's classpath
    assert resolve_profile(es, AnalysisProfile.AUTO) == "icu"
    index = ensure_live_index(es, settings.alias, settings.analysis_profile)
    created = es.indices.get_settings(index=index)[index]["settings"]
    assert profile_of(created) == "icu"


class _NodesWithoutPlugins:
    def info(self, metric: str) -> dict:
        assert metric == "plugins"
        return {"nodes": {"node-1": {"plugins": [{"name": "analysis-common"}]}}}


class _ClusterWithoutIcu:
    """What `_nodes/plugins` says on a cluster whose nodes lack analysis-icu."""

    nodes = _NodesWithoutPlugins()


def test_asking_for_icu_without_the_plugin_is_a_clear_error() -> None:
    cluster = _ClusterWithoutIcu()
    assert resolve_profile(cluster, AnalysisProfile.AUTO) == "stock"  # type: ignore[arg-type]
    with pytest.raises(ProfileUnavailable, match="analysis-icu"):
        resolve_profile(cluster, "icu")  # type: ignore[arg-type]


def test_index_gets_bilingual_title_fields_and_suggesters(
    es: Elasticsearch, settings: Settings
) -> None:
    index = ensure_live_index(es, settings.alias)
    fields = es.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    title = fields["title"]["fields"]
    assert title["english"]["analyzer"] == "english_text"
    assert title["chinese"]["analyzer"] == "chinese_text"
    assert title["keyword"]["type"] == "keyword"
    assert title["suggest"]["type"] == "search_as_you_type"
    assert fields["suggest"]["type"] == "completion"
    assert fields["doi"]["normalizer"] == "lowercase_folded"
    for highlighted in ("title_en", "title_zh", "abstract_en", "abstract_zh"):
        assert fields[highlighted]["index_options"] == "offsets"
    assert fields["authors"]["properties"]["name"]["fields"]["raw"]["type"] == "keyword"


# What each analyzer makes of English, Simplified, Traditional, full-width Latin, mixed Chinese and
# Latin, and one character, on the real engine. Traditional is folded inside the engine by the
# icu profile only: Scholarflow folds it before indexing and before querying for both.
ANALYZED = [
    pytest.param(
        "english_text",
        "Parkinson’s mutants",
        "parkinson parkinson’ mutant",
        "parkinson mutant",
        id="english-possessive",
    ),
    pytest.param(
        "english_text",
        "Ｍｕｔａｔｉｏｎｓ treated",
        "mutat ｍｕｔａｔｉｏｎｓ treat",
        "mutat treat",
        id="english-full-width",
    ),
    pytest.param(
        "chinese_text",
        "ＳＬＥ白细胞",
        "sle 白 白细 细 细胞 胞",
        "sle 白 白细 细 细胞 胞",
        id="index-mixed",
    ),
    pytest.param(
        "chinese_text", "白細胞", "白 白細 細 細胞 胞", "白 白细 细 细胞 胞", id="index-traditional"
    ),
    pytest.param(
        "chinese_query",
        "白细胞减少",
        "白细 细胞 胞减 减少",
        "白细 细胞 胞减 减少",
        id="query-simplified",
    ),
    pytest.param("chinese_query", "白細胞", "白細 細胞", "白细 细胞", id="query-traditional"),
    pytest.param("chinese_query", "CD20抗体", "cd20 抗体", "cd20 抗体", id="query-mixed"),
    pytest.param("chinese_query", "蛛", "蛛", "蛛", id="query-one-character"),
    pytest.param("chinese_query", "SLE 狼", "sle 狼", "sle 狼", id="query-latin-and-one-character"),
    pytest.param(
        "folded_text",
        "張安明 Schiødte",
        "張 安 明 schiodte schiødte",
        "张 安 明 schiodte",
        id="names",
    ),
]


@pytest.mark.parametrize("profile", ["stock", "icu"])
@pytest.mark.parametrize(("analyzer", "text", "stock", "icu"), ANALYZED)
def test_analyzers_on_the_real_engine(
    es: Elasticsearch,
    settings: Settings,
    profile: str,
    analyzer: str,
    text: str,
    stock: str,
    icu: str,
) -> None:
    index = ensure_live_index(es, settings.alias, profile)
    tokens = es.indices.analyze(index=index, analyzer=analyzer, text=text)["tokens"]
    assert " ".join(t["token"] for t in tokens) == (stock if profile == "stock" else icu)
