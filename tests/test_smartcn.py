"""The smartcn analysis profile on the real embedded engine: the Smart Chinese segmenter loads
from the engine module's classpath plugin, the profile is built when asked for and reported, and
Chinese text is found by its words and its bigrams, in either script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from scholarflow.search.query import SearchRequest
from scholarflow.search.service import search_index
from scholarflow.settings import AnalysisProfile, Settings
from scholarflow.status import index_status
from scholarflow.stores import templates
from scholarflow.stores.indices import ensure_live_index
from scholarflow.stores.templates import (
    ProfileUnavailable,
    cluster_has_smartcn,
    profile_of,
    resolve_profile,
)
from tasks.decode import decode_records
from tasks.fetch import read_records
from tasks.index import index_papers

SENTENCE = "利妥昔单抗成功治疗系统性红斑狼疮患者的白细胞减少"


def tokens(es: Elasticsearch, **request: Any) -> list[str]:
    return [t["token"] for t in es.indices.analyze(text=SENTENCE, **request)["tokens"]]


def test_the_smartcn_analyzer_segments_a_sentence_into_words(es: Elasticsearch) -> None:
    words = tokens(es, analyzer="smartcn")
    assert {"治疗", "系统性", "红斑狼疮", "患者", "白细胞", "减少"} <= set(words)
    assert all(len(word) < len(SENTENCE) for word in words)
    assert tokens(es, tokenizer="smartcn_tokenizer")[-2:] == ["白细胞", "减少"]


def test_words_plus_bigrams_keeps_every_bigram_and_adds_the_long_words(es: Elasticsearch) -> None:
    found = tokens(es, tokenizer={"type": "smartcn_bigram", "unigrams": False})
    bigrams = [SENTENCE[i : i + 2] for i in range(len(SENTENCE) - 1)]
    assert [t for t in found if len(t) == 2] == bigrams
    assert [t for t in found if len(t) > 2] == ["系统性", "红斑狼疮", "白细胞"]
    with_chars = tokens(es, tokenizer={"type": "smartcn_bigram", "unigrams": True})
    assert [t for t in with_chars if len(t) == 1] == list(SENTENCE)


def test_the_profile_is_built_when_asked_for_and_reported(
    es: Elasticsearch, settings: Settings
) -> None:
    assert cluster_has_smartcn(es)
    # measured no better than bigrams on the CSL development set: never chosen automatically
    assert resolve_profile(es, AnalysisProfile.AUTO) == "icu"
    assert resolve_profile(es, AnalysisProfile.SMARTCN) == "smartcn"
    chosen = settings.model_copy(update={"analysis_profile": AnalysisProfile.SMARTCN})
    index = ensure_live_index(es, chosen.alias, chosen.analysis_profile)
    assert profile_of(es.indices.get_settings(index=index)[index]["settings"]) == "smartcn"
    assert index_status(chosen)["analysis_profile"] == "smartcn"


def test_an_engine_without_the_tokenizer_keeps_the_other_profiles(
    es: Elasticsearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real engine, asked for a tokenizer it does not have: what a cluster without the
    # engine module's plugin answers.
    monkeypatch.setattr(templates, "SMARTCN_TOKENIZER", "no_such_tokenizer")
    assert not cluster_has_smartcn(es)
    assert resolve_profile(es, AnalysisProfile.AUTO) == "icu"
    with pytest.raises(ProfileUnavailable, match="smartcn"):
        resolve_profile(es, AnalysisProfile.SMARTCN)


def test_a_traditional_query_finds_the_simplified_paper(
    es: Elasticsearch, settings: Settings, tmp_path: Path
) -> None:
    records = tmp_path / "papers.jsonl"
    papers = [
        {
            "title": "系统性红斑狼疮患者白细胞减少的利妥昔单抗治疗",
            "abstract": "报告一例难治性白细胞减少。",
        },
        {"title": "红细胞膜蛋白的结构研究", "abstract": "研究红细胞膜的蛋白质组成。"},
        {"title": "水运工程施工项目全过程管理的有效性探索", "abstract": "探讨全过程管理。"},
    ]
    records.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in papers) + "\n")
    index = ensure_live_index(es, settings.alias, AnalysisProfile.SMARTCN)
    decoded, rejected = decode_records(read_records([records]))
    assert not rejected
    index_papers(es, index, decoded, "smartcn-test")
    es.indices.refresh(index=index)
    for query in ("系統性紅斑狼瘡 白細胞減少", "白細胞", "全過程管理"):
        hits = search_index(es, settings.alias, SearchRequest(query))["hits"]
        assert hits, query
        assert hits[0]["title_zh"].startswith(("系统性", "水运")), (query, hits[0])
    assert search_index(es, settings.alias, SearchRequest("白细胞"))["total"] == 1
