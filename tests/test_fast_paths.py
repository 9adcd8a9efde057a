"""The fast paths of text cleaning give exactly what the general path gives."""

from __future__ import annotations

import html
import re
import sys
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from scholarflow.coerce import _BLANKS, blank_to_none
from scholarflow.text import (
    _HAN,
    _INVISIBLE,
    _MARKUP,
    _NEWLINES,
    _SPACES,
    clean_text,
    html_to_text,
    is_chinese,
    may_have_han,
    repair_mojibake,
)


def reference_clean_text(value: str | None) -> str | None:
    """clean_text without any shortcut: every step, always."""
    if value is None:
        return None
    text = html_to_text(value) if _MARKUP.search(value) else value
    text = unicodedata.normalize("NFKC", repair_mojibake(text))
    text = _INVISIBLE.sub("", text)
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n", text).strip() or None


def reference_is_chinese(text: str) -> bool:
    han = len(_HAN.findall(text))
    return han > 0 and han >= len(re.findall(r"[A-Za-z]{2,}", text))


PIECES = st.sampled_from(
    [
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\u00a0",
        "\u3000",
        "\u200b",
        "\ufeff",
        "\x07",
        "a",
        "Ab",
        "μL",
        "红斑",
        "紅斑",
        "⼀",
        "㊀",
        "ﬁ",
        "&amp;",
        "&#x4e00;",
        "&amp;#20013;",
        "<p>",
        "</p>",
        "<sup>2</sup>",
        "<br>",
        "x",
        ".",
        "åˆ©å¦¥",
        "cafÃ©",
        "N/A",
        "无",
    ]
)
TEXTS = st.lists(PIECES, max_size=30).map("".join) | st.text(max_size=60)


@settings(max_examples=600, deadline=None)
@given(TEXTS)
def test_clean_text_matches_the_general_path(text: str) -> None:
    assert clean_text(text) == reference_clean_text(text)


def reference_blank_to_none(value: str) -> str | None:
    stripped = unicodedata.normalize("NFKC", repair_mojibake(value)).strip()
    return None if stripped.lower() in _BLANKS else stripped


@settings(max_examples=600, deadline=None)
@given(TEXTS)
def test_blank_to_none_matches_the_general_path(text: str) -> None:
    assert blank_to_none(text) == reference_blank_to_none(text)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_is_chinese_matches_the_general_path(text: str) -> None:
    assert is_chinese(text) == reference_is_chinese(text)


@settings(max_examples=600, deadline=None)
@given(TEXTS)
def test_may_have_han_never_misses_han_after_cleaning(text: str) -> None:
    cleaned = clean_text(text)
    if cleaned and _HAN.search(cleaned):
        assert may_have_han(text)


def test_may_have_han_covers_every_character_that_folds_into_han() -> None:
    missed = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if not 0xD800 <= code <= 0xDFFF
        and _HAN.search(unicodedata.normalize("NFKC", chr(code)))
        and not may_have_han(chr(code))
    ]
    assert missed == []
    assert may_have_han("&#20013;") and may_have_han(html.escape("&#20013;"))  # 中, escaped twice
    assert not may_have_han("Leukopenia in SLE (375 mg/m2, 50/μL)")
