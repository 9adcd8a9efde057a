"""The index templates and the two analysis profiles."""

from __future__ import annotations

import json

import pytest
from elasticsearch import Elasticsearch

from scholarflow.indices import (
    COMPONENTS,
    MAPPINGS_DIR,
    IndexStateError,
    cluster_has_icu,
    component_file,
    ensure_live_index,
    profile_of,
    resolve_profile,
)
from scholarflow.settings import AnalysisProfile, Settings

BUILT_IN_FILTERS = {"lowercase", "asciifolding", "cjk_width", "icu_folding", "icu_normalizer"}
BUILT_IN_TOKENIZERS = {"standard", "icu_tokenizer"}
PLUGIN_TYPES = {"icu_transform", "icu_folding", "icu_normalizer", "icu_collation"}


def analysis(profile: str) -> dict:
    path = MAPPINGS_DIR / component_file("scholarflow-analysis", profile)
    return json.loads(path.read_text(encoding="utf-8"))["template"]["settings"]["analysis"]


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
    mappings = json.loads((MAPPINGS_DIR / COMPONENTS["scholarflow-papers"]).read_text())
    used = referenced_analyzers(mappings) - {"standard", "simple"}
    assert {"english_text", "chinese_text", "folded_text", "lowercase_folded"} <= used
    for profile in ("stock", "icu"):
        defined = analysis(profile)
        assert used <= set(defined["analyzer"]) | set(defined["normalizer"]), profile


@pytest.mark.parametrize("profile", ["stock", "icu"])
def test_profile_analyzers_reference_only_named_or_built_in_parts(profile: str) -> None:
    # The embedded engine needs named filters (no inline objects); Elasticsearch accepts both.
    defined = analysis(profile)
    for name, analyzer in {**defined["analyzer"], **defined["normalizer"]}.items():
        assert analyzer["type"] == "custom", name
        assert analyzer.get("tokenizer", "standard") in BUILT_IN_TOKENIZERS, name
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


def test_auto_picks_stock_on_the_embedded_engine(es: Elasticsearch, settings: Settings) -> None:
    assert not cluster_has_icu(es)
    assert resolve_profile(es, AnalysisProfile.AUTO) == "stock"
    index = ensure_live_index(es, settings.alias, settings.analysis_profile)
    created = es.indices.get_settings(index=index)[index]["settings"]
    assert profile_of(created) == "stock"


def test_asking_for_icu_without_the_plugin_is_a_clear_error(es: Elasticsearch) -> None:
    with pytest.raises(IndexStateError, match="analysis-icu"):
        resolve_profile(es, "icu")


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


def test_chinese_analysis_folds_width_and_keeps_single_characters(
    es: Elasticsearch, settings: Settings
) -> None:
    index = ensure_live_index(es, settings.alias)
    tokens = es.indices.analyze(index=index, analyzer="chinese_text", text="ＳＬＥ白细胞")["tokens"]
    assert [t["token"] for t in tokens] == ["sle", "白", "白细", "细", "细胞", "胞"]
    english = es.indices.analyze(index=index, analyzer="english_text", text="Mutations treated")
    assert [t["token"] for t in english["tokens"]] == ["mutat", "treat"]
