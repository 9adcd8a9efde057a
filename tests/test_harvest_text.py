"""No visible character of a plain-text field of a declared format is lost: a Dublin Core
description and an OpenAlex abstract (rebuilt from its inverted index) keep every character,
`<` and `>` included (property test)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from scholarflow.paper.models import RawRecord
from scholarflow.paper.text import to_simplified
from tasks.decode import decode_record

# Printable ASCII and CJK ideographs (text NFKC leaves as it is); entity-like runs (`&amp;`)
# are left out: a source that escaped its text once more means the character.
TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF),
    ),
    min_size=1,
    max_size=200,
).filter(lambda t: t.strip() and not re.search(r"&#?\w+;|</\w|<br", t, re.IGNORECASE))


def _visible(text: str) -> str:
    """The characters a reader sees; Chinese as indexed (folded to Simplified)."""
    return "".join(to_simplified(text).split())


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_dublin_core_description_keeps_every_visible_character(text):
    payload = {"metadata": {"title": ["A title"], "description": [text]}}
    paper = decode_record(RawRecord("repo", "oai:x:1", payload=payload, format="oai_dc"))
    kept = (paper.abstract_en or "") + (paper.abstract_zh or "")
    assert _visible(kept) == _visible(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT.map(lambda t: "".join(t.split()) or "x"), min_size=1, max_size=30))
def test_openalex_abstract_keeps_every_word(words):
    index: dict[str, list[int]] = {}
    for position, word in enumerate(words):
        index.setdefault(word, []).append(position)
    payload = {"title": "A title", "abstract_inverted_index": index}
    paper = decode_record(RawRecord("oa", "W1", payload=payload, format="openalex"))
    kept = (paper.abstract_en or "") + (paper.abstract_zh or "")
    assert _visible(kept) == _visible("".join(words))
