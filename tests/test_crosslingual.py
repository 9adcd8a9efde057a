"""Cross-lingual quality on the judged queries (relevance/crosslingual.json): Chinese queries of
English-only papers and the reverse, measured as `scholarflow eval` measures them, and the
monolingual groups held where words alone put them."""

from __future__ import annotations

from scholarflow.engine.client import connect
from scholarflow.search import relevance
from scholarflow.search.crosslingual_eval import (
    CROSSLINGUAL,
    KEPT_LANGUAGE,
    evaluate_crosslingual,
    one_language,
)
from scholarflow.search.service import hybrid_search
from scholarflow.settings import Settings
from tests.conftest import SEEDS

# Measured (embedded OpenSearch 2.19.6, Lucene 9.12.3; cross-script, weighted fusion): recall@10
# 0.941 Chinese → English and 0.938 English → Chinese (translated words on; 0.969 without);
# words alone 0.000 and 0.031. The target is 0.8 in both; the floor leaves room for one query
# that falls out of the ten.
RECALL_FLOOR = 0.8
# How far hybrid search may move a monolingual group's nDCG@10 from words alone.
NDCG_TOLERANCE = 0.01


def test_the_cross_lingual_judgments_ask_both_ways_about_seed_papers() -> None:
    judged = relevance.load_judgments(CROSSLINGUAL)
    assert len(judged) >= 60 and len({j.query for j in judged}) == len(judged)
    assert set(KEPT_LANGUAGE) == set(relevance.CROSSLINGUAL_GROUPS)
    assert {j.group for j in judged} == set(relevance.CROSSLINGUAL_GROUPS)
    for group in KEPT_LANGUAGE:
        assert len([j for j in judged if j.group == group]) >= 30
    manifest = (SEEDS / "MANIFEST.json").read_text(encoding="utf-8").lower()
    for j in judged:
        assert all(paper.startswith("sf-") or paper in manifest for paper in j.relevant), j.id
        assert j.kind in {"topic", *relevance.CROSSLINGUAL_KINDS} and 2 in j.relevant.values()


def test_a_one_language_copy_keeps_one_language_of_each_paper() -> None:
    doc = {
        "id": "p",
        "title_en": "The Structure of Ordinary Water",
        "title_zh": "普通水的结构",
        "abstract_zh": "冷水的结构",
        "zh_script": "simplified",
        "journal": {"name": "Science", "name_zh": "科学"},
        "languages": ["en", "zh"],
        "embedding": [0.1],
        "embedding_info": {"model": "m"},
    }
    english = one_language(doc, "en")
    assert english is not None
    assert {"title_zh", "abstract_zh", "zh_script", "embedding", "embedding_info"}.isdisjoint(
        english
    )
    assert english["journal"] == {"name": "Science"} and english["languages"] == ["en"]
    assert english["title"] == ["The Structure of Ordinary Water"]
    chinese = one_language(doc, "zh")
    assert chinese is not None and chinese["title"] == ["普通水的结构"]
    assert one_language({"id": "q", "title_en": "Only English"}, "zh") is None


def test_cross_lingual_recall_meets_the_target_and_monolingual_quality_holds(
    vector_settings: Settings,
) -> None:
    client = connect(vector_settings)
    hybrid = hybrid_search(vector_settings)
    assert hybrid is not None
    crossed = evaluate_crosslingual(client, "papers", hybrid.embedder, hybrid)
    groups = relevance.summarize([], crossed)
    for group in KEPT_LANGUAGE:
        assert groups[group]["recall"] >= RECALL_FLOOR, relevance.report([], crossed)["queries"]
    words_only = evaluate_crosslingual(client, "papers", None, None)
    # By words alone: nothing from Chinese to English; from English to Chinese only where a
    # Chinese abstract writes the Latin name asked for (`Eupoa`, `HeLa`, `ctDNA`), which the
    # relaxed second query of a search that found nothing reaches (7 of 32 queries).
    alone = relevance.summarize([], words_only)
    assert alone["zh-to-en"]["recall"] < 0.1 and alone["en-to-zh"]["recall"] < 0.3

    judged = relevance.load_judgments()
    lexical = relevance.summarize(relevance.evaluate(client, "papers", judged))
    fused = relevance.summarize(relevance.evaluate(client, "papers", judged, hybrid))
    for group, row in lexical.items():
        assert abs(fused[group]["ndcg"] - row["ndcg"]) <= NDCG_TOLERANCE, (group, row, fused)
