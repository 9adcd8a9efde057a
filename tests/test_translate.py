"""English keyword queries reach Chinese-only papers through their words translated by CC-CEDICT
(scholarflow/search/translate.py): the dictionary's lookup on its own, then searches on the real
engine over real CSL papers (relevance/sets/csl-xling-dev) kept in Chinese only, without vectors,
so that what is found is found by the translated words alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import scholarflow.search.translate as translate_module
from scholarflow.engine.client import connect
from scholarflow.package_data import data_dir
from scholarflow.search.hybrid import Hybrid, VectorPlan
from scholarflow.search.query import SearchRequest
from scholarflow.search.service import hybrid_search, search_index
from scholarflow.search.translate import MAX_QUERY_WORDS, translate, translated_query
from scholarflow.settings import Fusion, Settings, VectorMapping
from scholarflow.stores.indices import ensure_live_index
from tasks.decode import decode_records
from tasks.fetch import read_records
from tasks.index import index_papers

CORPUS = data_dir("relevance") / "sets" / "csl-xling-dev" / "corpus.jsonl"
# Real CSL papers (Chinese title and abstract only): the one whose authors gave the keyword
# 不正当竞争 (unfair competition), the one of 白粉病 (powdery mildew), and others no query asks for.
UNFAIR_COMPETITION = "csl-dev-0802"
POWDERY_MILDEW = "csl-dev-0524"
OTHERS = 20


def test_a_phrase_is_looked_up_whole_before_its_words() -> None:
    spans = translate("cost-sensitive decision tree")
    by_english = {span.english: span.chinese for span in spans}
    assert "决策树" in by_english["decision tree"]
    assert "tree" not in by_english and "decision" not in by_english
    assert "传质" in translate("mass transfer")[0].chinese
    assert "不正当竞争" in translate("Unfair Competition")[0].chinese  # case folded
    assert "白粉病" in translate("powdery mildew")[0].chinese


def test_plurals_function_words_and_unknown_words() -> None:
    assert "疾病" in {w for s in translate("animal diseases") for w in s.chinese}
    assert [s.english for s in translate("the garlic of China")] == ["garlic", "china"]
    assert translate("Aeromonas hydrophila") == [] and translated_query("nappe") is None
    assert translate("白粉病") == [] and translated_query("") is None


def test_a_sentence_is_not_translated() -> None:
    """A claim's own words find its papers; translated word by word it is mostly noise."""
    claim = "Garlic extract lowers blood pressure in adults with hypertension."
    assert len(claim.split()) > MAX_QUERY_WORDS and translate(claim) == []
    assert translate("garlic extract blood pressure")  # four topic words: a keyword query


def test_the_translated_query_matches_each_word_as_a_phrase() -> None:
    query = translated_query("graphite anode")
    assert query is not None
    clauses = query["bool"]["should"]
    assert len(clauses) == 2
    phrases = [q["multi_match"] for q in clauses[0]["dis_max"]["queries"]]
    assert all(p["type"] == "phrase" for p in phrases)
    assert "石墨" in [p["query"] for p in phrases]


def chinese_papers(tmp_path: Path) -> Path:
    papers = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    wanted = {UNFAIR_COMPETITION, POWDERY_MILDEW}
    chosen = [p for p in papers if p["id"] in wanted]
    chosen += [p for p in papers if p["id"].startswith("csl-") and p["id"] not in wanted][:OTHERS]
    path = tmp_path / "papers.jsonl"
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in chosen))
    return path


@pytest.fixture
def chinese_only(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """The papers indexed (no vectors): document id → the set's id."""
    client = connect(settings)
    index = ensure_live_index(client, settings.alias)
    path = chinese_papers(tmp_path)
    decoded, rejected = decode_records(read_records([path]))
    assert not rejected and len(decoded) == OTHERS + 2
    index_papers(client, index, decoded, "translate-test")
    client.indices.refresh(index=index)
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert all(paper.languages == ["zh"] for paper in decoded)
    return {paper.id: r["id"] for paper, r in zip(decoded, raw, strict=True)}


def found(settings: Settings, hybrid: Hybrid | None, text: str, ids: dict[str, str]) -> list:
    hits = search_index(connect(settings), settings.alias, SearchRequest(text), hybrid)["hits"]
    return [(ids[h["id"]], h.get("matched_by"), h.get("across_languages")) for h in hits]


def test_an_english_query_finds_a_chinese_only_paper_through_its_translated_words(
    settings: Settings, chinese_only: dict[str, str]
) -> None:
    hybrid = hybrid_search(settings)
    assert hybrid is not None and hybrid.translation_weight > 0
    untranslated = hybrid_search(settings.model_copy(update={"translation_weight": 0}))
    for text, paper in [
        ("unfair competition", UNFAIR_COMPETITION),
        ("powdery mildew", POWDERY_MILDEW),
    ]:
        # The papers have no vectors, and no English word is in them: nothing without translation.
        assert found(settings, untranslated, text, chinese_only) == []
        hits = found(settings, hybrid, text, chinese_only)
        assert hits[0] == (paper, ["translation"], True), hits


def test_a_query_without_a_dictionary_entry_is_searched_as_before(
    settings: Settings, chinese_only: dict[str, str]
) -> None:
    hybrid = hybrid_search(settings)
    untranslated = hybrid_search(settings.model_copy(update={"translation_weight": 0}))
    for text in ("nappe", "Aeromonas hydrophila", "白粉病"):
        assert found(settings, hybrid, text, chinese_only) == found(
            settings, untranslated, text, chinese_only
        )
    # The Chinese query finds its paper by its own words, as it always did.
    assert found(settings, hybrid, "白粉病", chinese_only)[0][:2] == (POWDERY_MILDEW, ["words"])


def test_translated_matches_are_scored_against_the_best_direct_match() -> None:
    """Where the query's own words found papers, a translated match counts as a direct match of
    the same BM25 score would, not as the best one (docs/translation.md: English claims on an
    index shared with Chinese papers)."""
    hybrid = Hybrid(embedder=None, fusion=Fusion.WEIGHTED, translation_weight=1.5)  # type: ignore[arg-type]
    plan = VectorPlan(hybrid, VectorMapping.KNN, None, "en", only_other=True)
    english = {"_source": {"languages": ["en"]}}
    chinese = {"_source": {"languages": ["zh"]}}
    words = [{"_id": "e1", "_score": 20.0, **english}, {"_id": "e2", "_score": 10.0, **english}]
    crossed = [{"_id": "z1", "_score": 5.0, **chinese}]
    fused = plan.fuse(words, [], 10, describe, crossed)
    assert [h["id"] for h in fused] == ["e1", "e2", "z1"]
    assert fused[2]["score"] == pytest.approx(1.5 * 5 / 20)
    assert fused[2]["matched_by"] == ["translation"] and fused[2]["across_languages"]
    # Nothing found by the words: the best translated match counts in full.
    alone = plan.fuse([], [], 10, describe, crossed)
    assert alone[0]["score"] == pytest.approx(1.5)


def describe(raw: dict) -> dict:
    return {"id": raw["_id"], "score": raw["_score"]}


def test_without_its_dictionary_search_goes_on_by_words_and_meaning(
    settings: Settings,
    chinese_only: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A damaged install (the dictionary's package missing): one warning, no translated words,
    the search itself answers. The package is named wrongly here, the one way to lose it in a
    test without uninstalling it."""
    monkeypatch.setattr(translate_module, "DICTIONARY_PACKAGE", "no_such_dictionary_package")
    translate_module.reverse_index.cache_clear()
    try:
        assert translated_query("unfair competition") is None
        assert "the query dictionary is unavailable" in caplog.text
        hybrid = hybrid_search(settings)
        assert found(settings, hybrid, "unfair competition", chinese_only) == []
    finally:
        monkeypatch.undo()
        translate_module.reverse_index.cache_clear()
    assert translated_query("unfair competition") is not None
