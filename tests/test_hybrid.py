"""Hybrid ranking: the fusion rules on known rankings, and on the real engine a Chinese query
that finds English-only papers and the reverse, searched as `scholarflow search` does."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from scholarflow.embedding.model import load_embedder
from scholarflow.engine.client import connect
from scholarflow.search.crosslingual_eval import one_language_copy
from scholarflow.search.hybrid import (
    MIN_SIMILARITY,
    Hybrid,
    VectorPlan,
    near_enough,
    query_language,
)
from scholarflow.search.service import hybrid_search, search_papers
from scholarflow.settings import Fusion, HybridMode, Settings, VectorMapping, get_settings

SALAMANDER = "sf-eb0365fbb3b1839bba81"
LUPUS = "10.1080/25785826.2025.2563427"
ZENODO = "10.5281/zenodo.48440"


def hit(doc_id: str, score: float, languages: tuple[str, ...] = ("en",)) -> dict:
    return {"_id": doc_id, "_score": score, "_source": {"languages": list(languages)}}


def plan(fusion: Fusion, weight: float = 1.0, language: str = "zh") -> VectorPlan:
    hybrid = Hybrid(embedder=None, fusion=fusion, weight=weight)  # type: ignore[arg-type]
    return VectorPlan(hybrid, VectorMapping.KNN, None, language, only_other=True)


def describe(raw: dict) -> dict:
    return {"id": raw["_id"], "score": raw["_score"]}


def test_reciprocal_rank_fusion_interleaves_and_marks_how_each_paper_matched() -> None:
    words = [hit("a", 9.0, ("zh",)), hit("b", 5.0, ("zh",))]
    meaning = [hit("x", 0.92), hit("b", 0.91, ("zh",))]  # (1 + cos) / 2
    fused = plan(Fusion.RRF).fuse(words, meaning, 10, describe)
    assert [h["id"] for h in fused] == ["b", "a", "x"]  # b: in both rankings
    by_id = {h["id"]: h for h in fused}
    assert by_id["b"]["matched_by"] == ["words", "meaning"]
    assert by_id["x"]["matched_by"] == ["meaning"] and by_id["x"]["across_languages"]
    assert not by_id["a"]["across_languages"]
    assert by_id["a"]["score"] == pytest.approx(1 / 61, abs=1e-6)
    half = plan(Fusion.RRF, weight=0.5).fuse(words, [hit("x", 0.92)], 10, describe)
    assert [h["id"] for h in half] == ["a", "b", "x"]  # the vector ranking counts half


def test_the_weighted_sum_adds_the_similarity_above_the_floor_to_the_relative_lexical_score():
    words = [hit("a", 10.0, ("zh",)), hit("b", 2.0, ("zh",))]
    meaning = [hit("x", 0.95)]  # cos 0.90
    fused = plan(Fusion.WEIGHTED).fuse(words, meaning, 10, describe)
    assert [h["id"] for h in fused] == ["a", "x", "b"]
    floor = MIN_SIMILARITY
    assert fused[1]["score"] == pytest.approx((0.90 - floor) / (1 - floor), abs=1e-6)


def test_only_papers_near_the_query_and_near_the_nearest_are_taken() -> None:
    kept = near_enough([hit("a", 0.90), hit("b", 0.89), hit("c", 0.86), hit("d", 0.80)])
    assert [h["_id"] for h in kept] == ["a", "b"]  # cos 0.80, 0.78 | 0.72, 0.60
    close = near_enough([hit("a", 0.95), hit("b", 0.93), hit("c", 0.92)])
    assert [h["_id"] for h in close] == ["a", "b"]  # cos 0.90, 0.86 | 0.84: 0.06 below
    assert near_enough([hit("far", 0.85)]) == []  # cos 0.70: below the floor
    assert near_enough([]) == []
    # a paper of the other language far below the query's best match in any language
    assert near_enough([hit("a", 0.90), hit("b", 0.89)], best=0.97) == []  # cos 0.80, 0.78
    assert [h["_id"] for h in near_enough([hit("a", 0.90)], best=0.88)] == ["a"]


def test_the_querys_language_is_its_script() -> None:
    assert query_language("大鲵 灭绝") == "zh"
    assert query_language("giant salamander") == "en"
    assert query_language("SLE 白细胞") is None  # both: searched by words alone
    assert query_language("大腹园蛛毒腺对Hela细胞作用的初步探究") == "zh"  # mostly Chinese
    assert query_language("HeLa cells treated with 蛛毒") == "en"
    assert query_language("2021") is None


@pytest.fixture
def one_language(vector_settings: Settings) -> Iterator[callable]:
    """Put a one-language copy of the seeds behind the alias `xling`."""
    client = connect(vector_settings)
    embedder = load_embedder(vector_settings.embed_max_tokens)
    copies = []

    def make(keep: str) -> Settings:
        copy = one_language_copy(client, "papers", keep, embedder)
        index = copy.__enter__()
        copies.append(copy)
        client.indices.put_alias(index=index, name="xling")
        return vector_settings.model_copy(update={"alias": "xling"})

    yield make
    for copy in copies:
        copy.__exit__(None, None, None)


def test_a_chinese_query_finds_the_english_only_paper(one_language) -> None:
    settings = one_language("en")
    lexical = search_papers(settings.model_copy(update={"hybrid": HybridMode.OFF}), "大鲵 灭绝")
    assert SALAMANDER not in [h["id"] for h in lexical["hits"]]  # words cannot reach it
    result = search_papers(settings, "大鲵 灭绝")
    found = {h["id"]: h for h in result["hits"]}
    assert SALAMANDER in found and found[SALAMANDER]["across_languages"]
    assert found[SALAMANDER]["matched_by"] == ["meaning"] and found[SALAMANDER]["title_zh"] is None


def test_an_english_query_finds_the_chinese_only_paper(one_language) -> None:
    settings = one_language("zh")
    result = search_papers(settings, "lupus leukopenia rituximab", size=3)
    assert LUPUS in [h["id"] for h in result["hits"]]
    assert all(h["title_en"] is None for h in result["hits"])


def test_the_search_command_says_which_papers_matched_across_languages(
    one_language, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = one_language("en")
    env = {"ES_URL": settings.es_url, "HOME": str(settings.home), "ALIAS": "xling"}
    for name, value in env.items():
        monkeypatch.setenv(f"SCHOLARFLOW_{name}", value or "")
    get_settings.cache_clear()
    try:
        shown = CliRunner().invoke(app, ["search", "红斑狼疮 白细胞减少", "--size", "3"])
        as_json = CliRunner().invoke(app, ["search", "红斑狼疮 白细胞减少", "--json"])
    finally:
        get_settings.cache_clear()
    assert shown.exit_code == 0, shown.output
    assert "found across languages, by meaning" in shown.stdout
    assert "systemic lupus" in shown.stdout.replace("\n", " ")
    hits = {hit["id"]: hit for hit in json.loads(as_json.stdout)["hits"][:3]}
    assert hits[LUPUS]["across_languages"] is True and hits[LUPUS]["matched_by"] == ["meaning"]


def test_a_model_that_cannot_load_leaves_search_by_words(
    vector_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "model.bin"
    broken.write_bytes(b"\0" * 64)
    settings = vector_settings.model_copy(update={"embed_model_file": broken})
    with caplog.at_level(logging.WARNING, logger="scholarflow.search.service"):
        assert hybrid_search(settings) is None
        result = search_papers(settings, "白细胞减少")
    assert [h["id"] for h in result["hits"]] == [LUPUS]
    lines = [r.getMessage() for r in caplog.records if r.name == "scholarflow.search.service"]
    assert len(lines) == 2  # one line for each search, no traceback
    for line in lines:
        assert "\n" not in line
        assert "embedding model is unavailable" in line and "searching by words alone" in line


def test_an_unrelated_paper_of_the_other_language_does_not_follow_a_query(
    vector_settings: Settings,
) -> None:
    # The seeds' one English-only paper lies above the floor for most Chinese queries, but far
    # below their Chinese paper: it is no answer to them, and still the answer across languages.
    for query in ("白细胞减少", "系統性紅斑狼瘡"):
        assert [h["id"] for h in search_papers(vector_settings, query)["hits"]] == [LUPUS], query
    across = search_papers(vector_settings, "用户界面 选择架构")["hits"]
    assert [h["id"] for h in across] == [ZENODO] and across[0]["across_languages"]


class CountingEmbedder:
    """A stand-in for the model where only the number of calls matters (no engine involved)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def query(self, text: str) -> list[float]:
        self.calls.append(text)
        return [float(len(self.calls))]


def test_a_query_is_embedded_once_and_only_the_last_queries_are_remembered() -> None:
    embedder = CountingEmbedder()
    hybrid = Hybrid(embedder=embedder, vectors_kept=2)  # type: ignore[arg-type]
    assert hybrid.vector("a") == hybrid.vector("a") == [1.0]
    hybrid.vector("b")
    hybrid.vector("a")  # "a" is now the most recent: "b" goes first
    hybrid.vector("c")
    assert embedder.calls == ["a", "b", "c"]
    hybrid.vector("b")
    assert embedder.calls == ["a", "b", "c", "b"]  # forgotten, embedded again
    none_kept = Hybrid(embedder=CountingEmbedder(), vectors_kept=0)  # type: ignore[arg-type]
    none_kept.vector("a")
    none_kept.vector("a")
    assert none_kept.embedder.calls == ["a", "a"]  # type: ignore[attr-defined]
