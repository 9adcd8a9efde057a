"""The query builder: what reaches the engine for what a user types."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scholarflow.search.query import (
    LANGUAGE_BOOST,
    Filters,
    SearchRequest,
    build_query,
    parse_year_range,
    script_parts,
    suggest_query,
)

QUERY_PARSERS = ("query_string", "simple_query_string", "regexp", "wildcard", "script")


def clause_types(body: Any) -> set[str]:
    """Every key anywhere in a query body."""
    if isinstance(body, dict):
        return set(body) | {k for value in body.values() for k in clause_types(value)}
    if isinstance(body, list):
        return {k for value in body for k in clause_types(value)}
    return set()


def text_bool(body: dict[str, Any]) -> dict[str, Any]:
    """The bool query the ranking signals (`scholarflow/search/ranking.py`) are wrapped around."""
    query = body["query"]
    while "function_score" in query:
        query = query["function_score"]["query"]
    return query["bool"]


def text_clauses(body: dict[str, Any]) -> list[dict[str, Any]]:
    return text_bool(body)["must"][0]["bool"]["should"]


@pytest.mark.parametrize(
    "text",
    ['title:(a OR b) AND "x"', "abstract_en:/.*/", "* ~2 ^9 {!}", "白细胞 OR 1=1", "\\\\"],
)
def test_user_text_never_reaches_a_query_parser(text: str) -> None:
    body = build_query(SearchRequest(text, facets=True))
    assert not clause_types(body) & set(QUERY_PARSERS)
    assert not clause_types(suggest_query(text, 5)) & set(QUERY_PARSERS)


@pytest.mark.parametrize(
    "text",
    [
        "10.1038/SREP16696",
        "https://doi.org/10.1038/srep16696",
        "doi:10.1038/srep16696",
        " DOI:10.1038/srep16696 ",
    ],
)
def test_a_doi_query_is_one_exact_term(text: str) -> None:
    query = build_query(SearchRequest(text))["query"]["bool"]["must"]
    assert query == [{"term": {"doi": "10.1038/srep16696"}}]


def part_clauses(text: str) -> list[dict[str, Any]]:
    """Per part of the query: its match in its own language's fields, then in the other's."""
    words = text_clauses(build_query(SearchRequest(text)))[0]["bool"]
    return [[c["multi_match"] for c in part["bool"]["should"]] for part in words["should"]]


def test_each_part_weights_its_own_language_up_but_searches_both() -> None:
    (chinese,) = part_clauses("白细胞减少")
    assert chinese[0]["fields"][0] == "title_zh^3" and chinese[0]["boost"] == LANGUAGE_BOOST
    assert "title_en^1.5" in chinese[1]["fields"] and chinese[1]["boost"] == 1
    sle, leukocytes = part_clauses("SLE 白细胞")
    assert sle[0]["query"] == "SLE" and sle[0]["fields"][0] == "title_en^1.5"
    assert leukocytes[0]["query"] == "白细胞" and leukocytes[0]["fields"][0] == "title_zh^3"
    assert all(m["minimum_should_match"] == "-40%" for part in (sle, leukocytes) for m in part)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("leukopenia rituximab", ["leukopenia", "rituximab"]),
        ("中华蜜蜂 信息素结合蛋白", ["中华蜜蜂", "信息素结合蛋白"]),
        ("Hela细胞 毒腺", ["Hela", "细胞", "毒腺"]),
        ("OBP10基因克隆", ["OBP10", "基因克隆"]),
        ("α-突触核蛋白", ["α-", "突触核蛋白"]),
        ("脊蛇属(有鳞目:闪皮蛇科)", ["脊蛇属", "有鳞目", "闪皮蛇科"]),
        (" * ~ ^ : ", []),
    ],
)
def test_queries_split_into_words_and_runs_of_han(text: str, parts: list[str]) -> None:
    assert script_parts(text) == parts


def test_most_parts_of_a_short_query_must_match_and_a_third_of_a_long_one() -> None:
    words = text_clauses(build_query(SearchRequest("new species of jumping spiders")))[0]
    # 2 of 2 → 1, 3 → 2, then 30 % rounded down (10 parts → 3)
    assert words["bool"]["minimum_should_match"] == "1<50% 2<-40% 3<30%"
    # `of` is no part: four topic words
    assert len(words["bool"]["should"]) == 4


def test_stopwords_are_no_part_unless_nothing_else_is_typed() -> None:
    claim = "The ATM and Rad3 related protein are critical for sensing DNA damage"
    words = text_clauses(build_query(SearchRequest(claim)))[0]
    searched = [c["bool"]["should"][0]["multi_match"]["query"] for c in words["bool"]["should"]]
    assert searched == ["ATM", "Rad3", "related", "protein", "critical", "sensing", "DNA", "damage"]
    only = text_clauses(build_query(SearchRequest("to be or not to be")))[0]
    assert len(only["bool"]["should"]) == 6


def test_a_loose_query_asks_for_any_part_and_reads_phrases_as_words() -> None:
    request = SearchRequest('Mouse models using "artificial spermatids" 2019')
    loose = build_query(request, loose=True)
    words = text_clauses(loose)[0]
    assert words["bool"]["minimum_should_match"] == "1"
    searched = [c["bool"]["should"][0]["multi_match"]["query"] for c in words["bool"]["should"]]
    assert searched == ["Mouse", "models", "using", "artificial", "spermatids"]
    assert "'type': 'phrase'}" in str(build_query(request))
    assert "'type': 'phrase'}" not in str(loose)  # the quotes' phrase is gone, its words stay


def test_a_query_of_punctuation_has_no_clause_that_matches_everything() -> None:
    body = build_query(SearchRequest("* : ^"))
    clauses = text_clauses(body)
    assert [next(iter(c)) for c in clauses] == ["multi_match", "term"]  # phrase, whole title
    assert "highlight_query" not in body["highlight"]


def test_highlights_come_from_the_words_not_the_phrase() -> None:
    body = build_query(SearchRequest("lizards body temperatures"))
    highlight_query = body["highlight"]["highlight_query"]
    assert highlight_query == text_clauses(body)[0]
    assert "phrase" not in json.dumps(highlight_query)
    assert "highlight_query" not in build_query(SearchRequest("10.1038/srep16696"))["highlight"]


def test_traditional_and_full_width_are_folded_before_sending() -> None:
    body = json.dumps(build_query(SearchRequest("系統性紅斑狼瘡 ＳＬＥ")), ensure_ascii=False)
    assert "系统性红斑狼疮 SLE" in body
    assert "紅" not in body and "Ｓ" not in body
    assert suggest_query("白細胞", 5)["suggest"]["titles"]["prefix"] == "白细胞"


def test_phrase_and_whole_title_matches_are_boosted() -> None:
    clauses = text_clauses(build_query(SearchRequest("structure of ordinary water")))
    phrase = next(
        c["multi_match"] for c in clauses if c.get("multi_match", {}).get("type") == "phrase"
    )
    assert phrase["boost"] > 1 and phrase["fields"] == ["title_en", "abstract_en"]
    exact = next(c["term"] for c in clauses if "term" in c)
    assert exact["title.keyword"]["boost"] > phrase["boost"]


def test_filters_become_filter_clauses() -> None:
    filters = Filters(
        year_from=2020,
        year_to=2025,
        journals=("蛛形學報", "Scientific Reports"),
        languages=("zh",),
        quartiles=("q1", "Q2"),
        open_access=True,
    )
    clauses = text_bool(build_query(SearchRequest("spider", filters=filters)))["filter"]
    assert {"range": {"year": {"gte": 2020, "lte": 2025}}} in clauses
    assert {"terms": {"languages": ["zh"]}} in clauses
    assert {"terms": {"jcr_quartile": ["Q1", "Q2"]}} in clauses
    assert {"term": {"open_access": True}} in clauses
    journal = next(c["bool"]["should"] for c in clauses if "bool" in c)
    values = {t["term"][path]["value"] for t in journal for path in t["term"]}
    assert values == {"蛛形学报", "Scientific Reports"}  # Traditional folded
    assert text_bool(build_query(SearchRequest("spider")))["filter"] == []


def test_facets_only_when_asked() -> None:
    assert "aggs" not in build_query(SearchRequest("x"))
    aggs = build_query(SearchRequest("x", facets=True))["aggs"]
    assert {"year", "journal", "journal_zh", "language", "quartile", "open_access"} <= set(aggs)
    assert aggs["year"]["terms"]["order"] == {"_key": "desc"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021", (2021, 2021)),
        ("2020-2025", (2020, 2025)),
        (" 2020 - 2025 ", (2020, 2025)),
        ("2020-", (2020, None)),
        ("-2015", (None, 2015)),
    ],
)
def test_year_ranges(text: str, expected: tuple[int | None, int | None]) -> None:
    assert parse_year_range(text) == expected


@pytest.mark.parametrize("text", ["", "-", "20x1", "2025-2020", "21"])
def test_bad_year_ranges_say_why(text: str) -> None:
    with pytest.raises(ValueError, match=r"year|range"):
        parse_year_range(text)
