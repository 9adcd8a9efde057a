"""The `questions` hybrid mode: a question or a claim (a query of `question_parts` parts or more)
takes the vector ranking over every paper, a keyword search is left as `cross-script` leaves it.
On the real engine, with the seeds and their vectors: a claim that shares no word with any paper
finds its paper by meaning, a keyword query's results are its words' alone, and `eval --set
--embed` gives a set's papers vectors and measures the set with them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from scholarflow.engine.client import connect
from scholarflow.search.hybrid import Hybrid
from scholarflow.search.service import search_papers
from scholarflow.settings import HybridMode, Settings, get_settings
from tests.test_judged_sets import QUESTION, write_set

# The pregnant-lizards paper: "Higher Body Temperatures and Earlier Parturition in Response to
# Hypoxia Experienced by Pregnant ..." The claim below says the same in other words: not one of
# its words is in any seed paper's text, so words alone find nothing, even asked again.
LIZARDS = "sf-20d4dfc799fbe9e0ce5b"
CLAIM = "Expectant reptiles on mountains deliver their young sooner when oxygen is thin"


def questions(embedder: object = None, parts: int = 4) -> Hybrid:
    return Hybrid(embedder, HybridMode.QUESTIONS, question_parts=parts)  # type: ignore[arg-type]


def test_a_query_of_enough_topic_parts_is_a_question() -> None:
    hybrid = questions()
    assert hybrid.is_question(CLAIM)
    assert hybrid.is_question(QUESTION)
    assert hybrid.is_question("alpha-synuclein oligomerization Parkinson's disease")  # 4 parts
    assert not hybrid.is_question("lizards body temperature")  # 3 parts
    assert not hybrid.is_question("the role of the spiders")  # stopwords are no parts
    assert not hybrid.is_question("白细胞减少")  # one run of Han characters: one part
    assert not hybrid.is_question("SLE 白细胞")
    # a Chinese title cut into several runs is not a question: it is searched across scripts
    assert not hybrid.is_question("中国延斑蛛属4新种(蜘蛛目:古筛蛛科)")
    assert hybrid.is_question("HeLa cells 对 spider venom toxicity assays")  # mostly English
    assert questions(parts=3).is_question("lizards body temperature")
    # by default five: a keyword phrase of four words stays a keyword query (as translated)
    assert not Hybrid(None, HybridMode.QUESTIONS).is_question("compute unified device architecture")  # type: ignore[arg-type]
    assert Hybrid(None, HybridMode.QUESTIONS).is_question(CLAIM)  # type: ignore[arg-type]
    for mode in (HybridMode.CROSS_SCRIPT, HybridMode.ALWAYS, HybridMode.OFF):
        assert not Hybrid(None, mode).is_question(CLAIM)  # type: ignore[arg-type]


@pytest.fixture
def questions_settings(vector_settings: Settings) -> Settings:
    return vector_settings.model_copy(update={"hybrid": HybridMode.QUESTIONS})


def test_a_claim_without_a_shared_word_finds_its_paper_by_meaning(
    questions_settings: Settings,
) -> None:
    words = questions_settings.model_copy(update={"hybrid": HybridMode.OFF})
    assert search_papers(words, CLAIM)["total"] == 0  # asked again too: no word occurs
    across = questions_settings.model_copy(update={"hybrid": HybridMode.CROSS_SCRIPT})
    assert search_papers(across, CLAIM)["total"] == 0  # every paper has English: none crosses
    found = search_papers(questions_settings, CLAIM)["hits"]
    assert found[0]["id"] == LIZARDS
    assert found[0]["matched_by"] == ["meaning"] and found[0]["across_languages"] is False


def test_a_keyword_query_is_searched_by_its_words_alone(questions_settings: Settings) -> None:
    words = questions_settings.model_copy(update={"hybrid": HybridMode.OFF})
    for query in ("lizards body temperature", "白细胞减少", "Achalinus"):
        expected = [hit["id"] for hit in search_papers(words, query)["hits"]]
        result = search_papers(questions_settings, query)
        assert [hit["id"] for hit in result["hits"]] == expected, query
        assert all(hit["matched_by"] == ["words"] for hit in result["hits"]), query


def test_a_question_whose_words_match_adds_its_nearness_to_the_words_score(
    questions_settings: Settings,
) -> None:
    claim = "Moving the world's largest amphibian around its range speeds its local disappearance"
    words = questions_settings.model_copy(update={"hybrid": HybridMode.OFF})
    lexical = search_papers(words, claim)
    result = search_papers(questions_settings, claim)
    first = result["hits"][0]
    assert first["id"] == lexical["hits"][0]["id"] == "sf-eb0365fbb3b1839bba81"  # salamander
    assert first["matched_by"] == ["words", "meaning"]
    # the best lexical match scores 1 in the weighted sum; its nearness counts on top, times
    # the question weight (2): more than a keyword query's weight (1) would give
    assert first["score"] > 1.0
    once = questions_settings.model_copy(update={"question_weight": 1.0})
    assert search_papers(once, claim)["hits"][0]["score"] < first["score"]
    assert result["total"] >= lexical["total"]


@pytest.fixture
def cli_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("SCHOLARFLOW_ES_URL", settings.es_url or "")
    monkeypatch.setenv("SCHOLARFLOW_HOME", str(settings.home))
    monkeypatch.setenv("SCHOLARFLOW_HYBRID", "questions")
    monkeypatch.setenv("SCHOLARFLOW_EMBED_THREADS", "1")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_eval_set_with_embed_measures_the_set_with_vectors(
    cli_settings: Settings, tmp_path: Path
) -> None:
    folder = write_set(tmp_path / "tiny-vectors")
    result = CliRunner().invoke(app, ["eval", "--set", str(folder), "--embed", "--keep", "--json"])
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)["sets"]
    claims = report["groups"]["en-claims"]["scholarflow"]
    assert claims["ndcg"] == 1.0 and claims["empty"] == 0
    client = connect(cli_settings)
    alias = "evalset-tiny-vectors"
    try:
        with_vectors = client.count(index=alias, query={"exists": {"field": "embedding"}})
        assert with_vectors["count"] == report["papers"]["documents"] == 6  # p5 merged
    finally:
        for name in (f"{alias}-000001", "evalanchor-tiny-vectors"):
            client.indices.delete(index=name, ignore_unavailable=True)
