"""Scholarflow's own small tokenizer for what a user types: phrases in quotes, years, words."""

from __future__ import annotations

import json

import pytest

from scholarflow.search.query import PHRASE_FIELDS, SearchRequest, build_query
from scholarflow.search.query_text import QueryText, read_query
from scholarflow.search.ranking import YEAR_WEIGHT
from tests.test_query import QUERY_PARSERS, clause_types, text_bool


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lizards 2019", QueryText("lizards", (), 2019, 2019)),
        ("SLE 2020-2023", QueryText("SLE", (), 2020, 2023)),
        ("SLE 2020–2023", QueryText("SLE", (), 2020, 2023)),
        ("x 2019 - 2021", QueryText("x", (), 2019, 2021)),
        ("cancer 2023-2020", QueryText("cancer", (), 2020, 2023)),
        ("cancer 2020-", QueryText("cancer", (), 2020, None)),
        ("cancer -2015", QueryText("cancer", (), None, 2015)),
        ("cancer 2019 2021", QueryText("cancer", (), 2019, 2021)),
        ("2021年蜘蛛新种", QueryText("蜘蛛新种", (), 2021, 2021)),
        ("新种 2019至2021", QueryText("新种", (), 2019, 2021)),
        ("蜘蛛2021", QueryText("蜘蛛", (), 2021, 2021)),
        ('"body temperatures" lizards', QueryText("lizards", ("body temperatures",))),
        ("“新种” 2021年", QueryText("", ("新种",), 2021, 2021)),
        ("「系统性红斑狼疮」", QueryText("", ("系统性红斑狼疮",))),
        ('"a" "b" "a"', QueryText("", ("a", "b"))),
    ],
)
def test_phrases_and_years_are_taken_out_of_the_words(text: str, expected: QueryText) -> None:
    assert read_query(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Pardosa agraria Tanaka,1985",  # a taxonomic authority, joined to the name
        "Hypoaspis submontana Bai,Gu et Chen 1994(Acari:Laelapidae)",
        "10.1000/2019",
        "COVID-19",
        "v2.2021",
        "3000 1499 42",
    ],
)
def test_numbers_joined_to_other_text_or_out_of_range_are_words(text: str) -> None:
    assert read_query(text) == QueryText(text)


@pytest.mark.parametrize(
    ("text", "words"), [('"unclosed phrase', "unclosed phrase"), ('"" x', "x")]
)
def test_a_quote_that_opens_nothing_is_dropped(text: str, words: str) -> None:
    assert read_query(text) == QueryText(words)


@pytest.mark.parametrize(
    "text",
    ['"title:(a OR b)" 2020', '"*" 1999-2000 /.*/', '"白细胞 OR 1=1"', '"\\\\" 2021年'],
)
def test_phrases_and_years_never_reach_a_query_parser(text: str) -> None:
    assert not clause_types(build_query(SearchRequest(text))) & set(QUERY_PARSERS)


def test_a_phrase_must_occur_word_for_word_in_the_unstemmed_fields() -> None:
    must = text_bool(build_query(SearchRequest('"predation" spiders')))["must"]
    words, phrase = must
    assert "predation" not in json.dumps(words)
    assert phrase == {
        "multi_match": {"query": "predation", "fields": PHRASE_FIELDS, "type": "phrase"}
    }
    assert "title_en.unstemmed^3" in PHRASE_FIELDS and "title_zh^3" in PHRASE_FIELDS


def test_a_typed_year_counts_more_but_filters_nothing() -> None:
    body = build_query(SearchRequest("lizards 2019-2021"))
    assert text_bool(body)["filter"] == []
    (year,) = [f for f in body["query"]["function_score"]["functions"] if "range" in f["filter"]]
    in_range = {"range": {"year": {"gte": 2019, "lte": 2021}}}
    assert year == {"filter": in_range, "weight": YEAR_WEIGHT}


def test_a_year_alone_is_a_filter() -> None:
    bool_query = text_bool(build_query(SearchRequest("2021")))
    assert bool_query["must"] == [{"match_all": {}}]
    assert bool_query["filter"] == [{"range": {"year": {"gte": 2021, "lte": 2021}}}]


def test_the_whole_title_stays_the_exact_match_when_nothing_is_taken_out() -> None:
    title = "A new Eupoa Zabka,1985 species from South China(Araneae:Salticidae)"
    clauses = text_bool(build_query(SearchRequest(title)))["must"][0]["bool"]["should"]
    exact = next(c["term"] for c in clauses if "term" in c)
    assert exact["title.keyword"]["value"] == title
