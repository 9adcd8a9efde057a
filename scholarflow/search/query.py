"""Search queries built from what a user types, in one place.

User text only ever reaches `match`-family queries, `term` lookups and the completion
suggester, and the years typed in it a `range` as numbers: never a query parser
(`query_string`) that would interpret operators, field names or regular expressions. Phrases
in quotes and years are read by Scholarflow's own tokenizer (`scholarflow/search/query_text.py`);
the ranking signals wrap the query (`scholarflow/search/ranking.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from scholarflow.paper.doi import looks_like_doi_query, normalize_doi
from scholarflow.paper.models import CorrectionStatus
from scholarflow.paper.text import fold_query, has_han, to_simplified
from scholarflow.search.query_text import QueryText, read_query
from scholarflow.search.ranking import DEMOTED, ranked, year_range

# An English title word counts 1.5 times an abstract word: measured on SciFact's train claims
# (docs/search.md, "Judged sets"), 3 (the Chinese title's weight) buried abstracts that answer a
# claim under titles that share a word with it.
ENGLISH_FIELDS = ["title_en^1.5", "abstract_en", "journal.name^2"]
CHINESE_FIELDS = ["title_zh^3", "abstract_zh", "journal.name_zh^2"]
# Fields that hold both languages (names are written in either script).
SHARED_FIELDS = ["authors.name^2"]
HIGHLIGHT_FIELDS = ("title_en", "title_zh", "abstract_en", "abstract_zh")
# Where a phrase typed in quotes must occur, word for word: English titles and abstracts
# unstemmed (`"predation"` is not `predators`), Chinese ones (never stemmed), names.
PHRASE_FIELDS = [
    "title_en.unstemmed^3",
    "abstract_en.unstemmed",
    "title_zh^3",
    "abstract_zh",
    "journal.name^2",
    "journal.name_zh^2",
    "authors.name^2",
]
# What marks a matched word in a highlight fragment.
HIGHLIGHT_START, HIGHLIGHT_END = "«", "»"
SOURCE_EXCLUDES = ["abstract_en", "abstract_zh", "record_hashes", "title", "suggest", "embedding"]
# A part counts this much more in the fields of its own language than in the other one's.
LANGUAGE_BOOST = 2.0
# Words of the query found next to each other, in this order, count this much more.
PHRASE_BOOST = 3.0
# A query that is a whole title.
EXACT_TITLE_BOOST = 10.0
# How many of the query's parts (its words, and its runs of Han characters) a paper must match:
# one of two may miss (a misspelt name, a word the paper does not use), two of three; from four
# parts on (a question, a claim, a sentence pasted in) 30 %, rounded down: a paper need not use
# most of a sentence's words to answer it, and BM25 ranks the papers that use more of them first.
PARTS_MINIMUM_MATCH = "1<50% 2<-40% 3<30%"
# What a search that found nothing asks next: any one part (scholarflow/search/service.py).
ANY_PART = "1"
# English words that say nothing of a query's topic: Lucene's English stop set (the stock
# `english` analyzer's). They are no part of the query: a claim or a question is not made to
# match its `the`s and `of`s, and they add nothing to a paper's score.
STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
# How much of one part must match: 60 % of its terms, rounded up. A run of Han characters is
# searched as its bigrams, so both bigrams of a three-character word must be found, and one shared
# character (`细胞` of `白细胞减少`) no longer makes a paper match.
PART_MINIMUM_MATCH = "-40%"
QUARTILES = ("Q1", "Q2", "Q3", "Q4")
LANGUAGES = ("en", "zh")
CORRECTIONS = tuple(status.value for status in CorrectionStatus)
# Facet name → the keyword (or numeric/boolean) field it counts.
FACETS = {
    "year": "year",
    "journal": "journal.name.raw",
    "journal_zh": "journal.name_zh.raw",
    "language": "languages",
    "quartile": "jcr_quartile",
    "open_access": "open_access",
    "publication_type": "publication_type",
    "correction": "correction.status",
}
FACET_SIZE = 20


@dataclass(frozen=True)
class Filters:
    """Restrictions that narrow the results without changing their order."""

    year_from: int | None = None
    year_to: int | None = None
    journals: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    quartiles: tuple[str, ...] = ()
    open_access: bool | None = None
    corrections: tuple[str, ...] = ()  # only papers with one of these correction statuses
    hide_retracted: bool = False  # leave retracted and withdrawn papers out

    def clauses(self) -> list[dict[str, Any]]:
        clauses: list[dict[str, Any]] = []
        if self.year_from is not None or self.year_to is not None:
            clauses.append(year_range(self.year_from, self.year_to))
        if self.journals:
            clauses.append({"bool": {"should": _journal_terms(self.journals)}})
        if self.languages:
            clauses.append({"terms": {"languages": list(self.languages)}})
        if self.quartiles:
            clauses.append({"terms": {"jcr_quartile": [q.upper() for q in self.quartiles]}})
        if self.open_access is not None:
            clauses.append({"term": {"open_access": self.open_access}})
        if self.corrections:
            clauses.append({"terms": {"correction.status": list(self.corrections)}})
        if self.hide_retracted:
            retracted = {"terms": {"correction.status": list(DEMOTED)}}
            clauses.append({"bool": {"must_not": [retracted]}})
        return clauses

    @property
    def asks_for_retracted(self) -> bool:
        """A search for retracted or withdrawn papers does not rank them below the others."""
        return any(status in DEMOTED for status in self.corrections)


@dataclass
class SearchRequest:
    text: str
    size: int = 10
    filters: Filters = field(default_factory=Filters)
    facets: bool = False


def parse_year_range(text: str) -> tuple[int | None, int | None]:
    """`2021` → (2021, 2021); `2020-2025`, `2020-` and `-2015` → open or closed ranges."""
    match = re.fullmatch(r"\s*(\d{4})?\s*(-)?\s*(\d{4})?\s*", text)
    if not match or not (match.group(1) or match.group(3)):
        raise ValueError(f"not a year or a range of years: {text!r} (use 2021, 2020-2025, 2020-)")
    first, dash, last = match.groups()
    start = int(first) if first else None
    end = int(last) if last else (None if dash else start)
    if start is not None and end is not None and start > end:
        raise ValueError(f"the range {text!r} ends before it starts")
    return start, end


def build_query(request: SearchRequest, *, loose: bool = False) -> dict[str, Any]:
    """The `_search` body for a user's query; `loose`: any one of its parts, its phrases read as
    words (what a search that found nothing asks next, `scholarflow/search/service.py`)."""
    body: dict[str, Any] = {
        "size": request.size,
        "track_total_hits": True,
        "_source": {"excludes": SOURCE_EXCLUDES},
        "highlight": {
            "pre_tags": [HIGHLIGHT_START],
            "post_tags": [HIGHLIGHT_END],
            "fields": {
                name: {"number_of_fragments": 1, "fragment_size": 160} for name in HIGHLIGHT_FIELDS
            },
        },
    }
    doi = normalize_doi(request.text) if looks_like_doi_query(request.text) else None
    if doi:
        exact = {"term": {"doi": doi}}
        body["query"] = {"bool": {"must": [exact], "filter": request.filters.clauses()}}
    else:
        typed = read_query(fold_query(request.text))
        if loose:
            words = " ".join([typed.words, *typed.phrases]).strip()
            typed = QueryText(words, (), typed.year_from, typed.year_to)
        filters = request.filters.clauses()
        if not typed.words and not typed.phrases and typed.has_years:
            filters.append(year_range(typed.year_from, typed.year_to))  # a year alone: its papers
        highlight = highlight_query(typed)
        if highlight:
            # Lucene's highlighter marks a phrase's words only where the whole phrase occurs: with
            # the phrase clause in it, words that are apart in a title would not be marked at all.
            body["highlight"]["highlight_query"] = highlight
        body["query"] = ranked(
            {"bool": {"must": typed_queries(typed, request.text, loose), "filter": filters}},
            years=(typed.year_from, typed.year_to) if typed.has_years else None,
            demote=not request.filters.asks_for_retracted,
        )
    if request.facets:
        body["aggs"] = {
            name: {"terms": {"field": path, "size": FACET_SIZE}} for name, path in FACETS.items()
        }
        body["aggs"]["year"]["terms"]["order"] = {"_key": "desc"}
    return body


def typed_queries(typed: QueryText, text: str, loose: bool = False) -> list[dict[str, Any]]:
    """What must match: the words (`text_query`) and every phrase typed in quotes; all papers
    when only years were typed; the whole text when nothing is left of it."""
    must = [text_query(typed.words, loose)] if typed.words else []
    must += [phrase_query(phrase) for phrase in typed.phrases]
    if must:
        return must
    return [{"match_all": {}}] if typed.has_years else [text_query(fold_query(text), loose)]


def phrase_query(phrase: str) -> dict[str, Any]:
    """A phrase typed in quotes: its words next to each other, in this order, unstemmed."""
    return {"multi_match": {"query": phrase, "fields": PHRASE_FIELDS, "type": "phrase"}}


def highlight_query(typed: QueryText) -> dict[str, Any] | None:
    """The words and the phrases, asked of the highlighted fields themselves."""
    words = words_query(typed.words)
    phrases = [
        {"multi_match": {"query": p, "fields": list(HIGHLIGHT_FIELDS), "type": "phrase"}}
        for p in typed.phrases
    ]
    if not phrases:
        return words
    return {"bool": {"should": [*([words] if words else []), *phrases]}}


def text_query(text: str, loose: bool = False) -> dict[str, Any]:
    """The query's parts (`words_query`); its words next to each other, and a whole title, count
    more."""
    phrase_fields = ["title_zh", "abstract_zh"] if has_han(text) else ["title_en", "abstract_en"]
    should: list[dict[str, Any]] = [
        {
            "multi_match": {
                "query": text,
                "fields": phrase_fields,
                "type": "phrase",
                "slop": 2,
                "boost": PHRASE_BOOST,
            }
        },
        {"term": {"title.keyword": {"value": text, "boost": EXACT_TITLE_BOOST}}},
    ]
    words = words_query(text, ANY_PART if loose else PARTS_MINIMUM_MATCH, loose=loose)
    if words:
        should.insert(0, words)
    return {"bool": {"should": should, "minimum_should_match": 1}}


def words_query(
    text: str, minimum: str = PARTS_MINIMUM_MATCH, *, loose: bool = False
) -> dict[str, Any] | None:
    """Most of the query's parts (`minimum`), each in either language; None for a query with no
    part (a bool without clauses would match every paper). `loose`: a part matches on any one of
    its terms (a Chinese keyword on any of its bigrams)."""
    parts = topic_parts(script_parts(text))
    if not parts:
        return None
    return {
        "bool": {
            "should": [
                _part_query(part, ANY_PART if loose else PART_MINIMUM_MATCH) for part in parts
            ],
            "minimum_should_match": minimum,
        }
    }


def query_parts(text: str) -> list[str]:
    """The parts of what a user typed that say what it is about (its topic words and runs of
    Han characters, each phrase in quotes as one): how long a query is, as the builder counts
    it (a question or a claim has many, a keyword search few)."""
    typed = read_query(fold_query(text))
    return [*topic_parts(script_parts(typed.words)), *typed.phrases]


def script_parts(text: str) -> list[str]:
    """`SLE 白细胞` → `["SLE", "白细胞"]`: the words, and the runs of Han characters (which have
    no spaces to split them); punctuation alone is no part."""
    parts: list[str] = []
    for han, chars in groupby(text, key=has_han):
        run = "".join(chars)
        parts.extend([run] if han else run.split())
    return [part for part in parts if any(char.isalnum() for char in part)]


def topic_parts(parts: list[str]) -> list[str]:
    """The parts that say what the query is about: without the English words that carry no
    topic (`STOPWORDS`), unless the query is made of nothing else."""
    kept = [part for part in parts if part.casefold() not in STOPWORDS]
    return kept or parts


def _part_query(part: str, minimum: str = PART_MINIMUM_MATCH) -> dict[str, Any]:
    """One part in its own language's fields, weighted up, or in the other language's: a mixed
    query's parts may sit in different languages (`SLE` in the English abstract, `狼` in the
    Chinese title)."""
    own, other = (
        (CHINESE_FIELDS, ENGLISH_FIELDS) if has_han(part) else (ENGLISH_FIELDS, CHINESE_FIELDS)
    )
    return {
        "bool": {
            "should": [
                _match(part, own + SHARED_FIELDS, minimum, boost=LANGUAGE_BOOST),
                _match(part, other + SHARED_FIELDS, minimum),
            ]
        }
    }


def suggest_query(prefix: str, size: int) -> dict[str, Any]:
    """Title completions for what the user has typed so far, in either language."""
    text = fold_query(prefix)
    return {
        "size": size,
        "_source": ["id", "doi", "title_en", "title_zh"],
        "query": {
            "multi_match": {
                "query": text,
                "type": "bool_prefix",
                "operator": "and",
                "fields": ["title.suggest", "title.suggest._2gram", "title.suggest._3gram"],
            }
        },
        "suggest": {
            "titles": {
                "prefix": text,
                "completion": {"field": "suggest", "size": size, "skip_duplicates": True},
            }
        },
    }


def _match(text: str, fields: list[str], minimum: str, boost: float = 1.0) -> dict[str, Any]:
    """Fields sharing an analyzer act as one (a part's bigrams may be split between the title and
    the journal name)."""
    return {
        "multi_match": {
            "query": text,
            "fields": fields,
            "type": "cross_fields",
            "minimum_should_match": minimum,
            "boost": boost,
        }
    }


def _journal_terms(journals: tuple[str, ...]) -> list[dict[str, Any]]:
    """Each name matches the English or the (Simplified) Chinese journal name, in any case."""
    return [
        {"term": {path: {"value": to_simplified(name.strip()), "case_insensitive": True}}}
        for name in journals
        for path in ("journal.name.raw", "journal.name_zh.raw")
    ]
