"""Searching the seeds: scripts, filters, facets, highlights and suggestions."""

from __future__ import annotations

import pytest

from scholarflow.engine.client import connect
from scholarflow.search.query import Filters
from scholarflow.search.service import merge_marks, search_papers, suggest_titles
from scholarflow.settings import AnalysisProfile, Settings

LUPUS = "10.1080/25785826.2025.2563427"
SALAMANDER = "sf-eb0365fbb3b1839bba81"  # Traditional Chinese at the source, no DOI
OBP = "10.16380/j.kcxb.2016.01.004"  # 昆虫学报 / Acta Entomologica Sinica
SCORPION_NEST = "10.3969/j.issn.1005-9628.2021.01.011"  # the only paper with 蝎
HELA = "10.3969/j.issn.1005-9628.2021.01.013"
SREP = "10.1038/srep16696"  # title: "Parkinson’s disease" (typographic apostrophe)
ALZHEIMER = "10.1016/j.neurobiolaging.2010.03.024"  # title: "Alzheimer's disease"
LIZARDS = "sf-20d4dfc799fbe9e0ce5b"  # title: "Higher Body Temperatures … Pregnant Lizards"
CTDNA = "10.1136/jclinpath-2020-206745"  # title: "… KRAS/NRAS/EGFR/BRAF/MET mutations …"


def ids(result: dict) -> list[str]:
    return [hit["id"] for hit in result["hits"]]


@pytest.mark.parametrize(
    "query",
    ["白细胞减少", "白細胞減少", "leukopenia rituximab", "系統性紅斑狼瘡", "SLE 白细胞", "Hanai"],
)
def test_the_lupus_paper_comes_first_whatever_the_script(
    seeded_settings: Settings, query: str
) -> None:
    result = search_papers(seeded_settings, query, size=3)
    assert ids(result)[0] == LUPUS


@pytest.mark.parametrize(("query", "expected"), [("蜂", OBP), ("狼", LUPUS), ("SLE 狼", LUPUS)])
def test_one_character_chinese_queries_match(
    profile_settings: Settings, query: str, expected: str
) -> None:
    result = search_papers(profile_settings, query, size=5)
    assert expected in ids(result)


def test_a_character_found_in_one_paper_finds_only_that_paper(profile_settings: Settings) -> None:
    # unigrams are indexed beside the bigrams: no per-character sub-field is needed
    assert ids(search_papers(profile_settings, "蝎", size=10)) == [SCORPION_NEST]
    assert ids(search_papers(profile_settings, "蠍", size=10)) == [SCORPION_NEST]  # Traditional


def test_multi_character_chinese_queries_stay_precise(profile_settings: Settings) -> None:
    # Queried as bigrams: papers that share only 细胞 (cytology, synuclein, …) or a character
    # of an author's name do not match.
    assert ids(search_papers(profile_settings, "白细胞减少", size=10)) == [LUPUS]
    assert ids(search_papers(profile_settings, "白细胞", size=10)) == [LUPUS]
    assert ids(search_papers(profile_settings, "SLE 白细胞", size=10)) == [LUPUS]


def test_traditional_queries_find_simplified_papers_on_both_profiles(
    profile_settings: Settings,
) -> None:
    assert ids(search_papers(profile_settings, "白細胞減少", size=10)) == [LUPUS]
    assert ids(search_papers(profile_settings, "中國大鯢", size=1)) == [SALAMANDER]


def test_the_icu_profile_also_folds_traditional_inside_the_engine(
    profile_settings: Settings,
) -> None:
    # A query sent to the engine as it is (from Kibana, say), not folded by Scholarflow first.
    client = connect(profile_settings)
    query = {"match": {"title_zh": {"query": "白細胞減少", "operator": "and"}}}
    hits = client.search(index=profile_settings.alias, query=query)["hits"]["hits"]
    in_engine = profile_settings.analysis_profile is AnalysisProfile.ICU
    assert [hit["_id"] for hit in hits] == ([LUPUS] if in_engine else [])


@pytest.mark.parametrize(
    ("query", "paper", "marked"),
    [
        ("Parkinson disease", SREP, "«Parkinson’s»"),  # typographic apostrophe in the title
        ("Alzheimer disease", ALZHEIMER, "«Alzheimer's»"),
        ("lizards' body temperatures", LIZARDS, "«Lizards»"),  # plural possessive
        ("mutated KRAS genes", CTDNA, "«mutations»"),  # porter2 joins mutated and mutations
    ],
)
def test_english_stemming_matches_possessives_and_plurals_in_titles(
    profile_settings: Settings, query: str, paper: str, marked: str
) -> None:
    hit = search_papers(profile_settings, query, size=3)["hits"][0]
    assert hit["id"] == paper
    assert any(marked in fragment for fragment in hit["highlight"]), hit["highlight"]


def test_result_shape_keeps_its_keys(seeded_settings: Settings) -> None:
    result = search_papers(seeded_settings, "leukopenia", size=1)
    assert set(result) == {"total", "hits"}
    hit = result["hits"][0]
    assert {"id", "doi", "title_en", "title_zh", "score", "highlight"} <= set(hit)
    assert hit["index"] == "papers-000001"
    assert any("«Leukopenia»" in f or "«leukopenia»" in f for f in hit["highlight"])


def test_chinese_highlight_marks_the_matched_words(seeded_settings: Settings) -> None:
    hit = search_papers(seeded_settings, "白细胞减少", size=1)["hits"][0]
    assert any("«白细胞减少»" in fragment for fragment in hit["highlight"])


def test_marks_that_touch_become_one_span(seeded_settings: Settings) -> None:
    # The engine marks 白细胞 and 减少 (and Hela and 细胞) apart: the reader sees one word.
    hit = search_papers(seeded_settings, "白细胞 减少", size=1)["hits"][0]
    assert any("«白细胞减少»" in fragment for fragment in hit["highlight"]), hit["highlight"]
    hit = search_papers(seeded_settings, "Hela细胞", size=1)["hits"][0]
    assert hit["id"] == HELA
    assert any("«Hela细胞»" in fragment for fragment in hit["highlight"]), hit["highlight"]
    assert not any("»«" in fragment for fragment in hit["highlight"])


def test_merging_marks_keeps_words_that_a_space_separates() -> None:
    assert merge_marks("难治性«白细»«胞»«减»«少»。") == "难治性«白细胞减少»。"
    assert merge_marks("«Leukopenia» and «rituximab»") == "«Leukopenia» and «rituximab»"
    assert merge_marks("«severe» «leukopenia»") == "«severe» «leukopenia»"


def test_words_apart_in_a_title_are_all_highlighted(seeded_settings: Settings) -> None:
    # No phrase matches, so the highlighter must not be asked about the phrase clause.
    hit = search_papers(seeded_settings, "lizards body temperatures", size=1)["hits"][0]
    (title,) = [f for f in hit["highlight"] if "Parturition" in f]
    assert all(mark in title for mark in ("«Lizards»", "«Body»", "«Temperatures»")), title


def test_doi_in_any_spelling_is_an_exact_lookup(seeded_settings: Settings) -> None:
    for query in (
        "HTTPS://DOI.ORG/10.1080/25785826.2025.2563427",
        "doi:10.1080/25785826.2025.2563427",
    ):
        result = search_papers(seeded_settings, query)
        assert result["total"] == 1 and ids(result) == [LUPUS]
    assert search_papers(seeded_settings, "10.1080/25785826.2025.9999999")["total"] == 0


def test_traditional_source_found_by_simplified_and_traditional_queries(
    seeded_settings: Settings,
) -> None:
    assert ids(search_papers(seeded_settings, "中国大鲵", size=1)) == [SALAMANDER]
    assert ids(search_papers(seeded_settings, "中國大鯢", size=1)) == [SALAMANDER]


def test_journal_found_by_its_chinese_name(seeded_settings: Settings) -> None:
    for query in ("昆虫学报", "昆蟲學報", "Acta Entomologica Sinica"):
        assert ids(search_papers(seeded_settings, query, size=1)) == [OBP]


def test_year_range_filter(seeded_settings: Settings) -> None:
    everything = search_papers(seeded_settings, "species", size=50)
    recent = search_papers(
        seeded_settings, "species", size=50, filters=Filters(year_from=2020, year_to=2025)
    )
    assert 0 < recent["total"] < everything["total"]
    years = {hit["year"] for hit in recent["hits"]}
    assert years and all(2020 <= y <= 2025 for y in years)


def test_journal_filter_takes_either_language_and_any_case(seeded_settings: Settings) -> None:
    english = search_papers(
        seeded_settings,
        "new species",
        size=50,
        filters=Filters(journals=("acta arachnologica sinica",)),
    )
    chinese = search_papers(
        seeded_settings, "new species", size=50, filters=Filters(journals=("蛛形學報",))
    )
    assert english["total"] > 5
    # One Wanfang record names the journal only in Chinese; the others carry both names.
    assert set(ids(chinese)) - set(ids(english)) == {"10.3969/j.issn.1005-9628.2021.01.006"}
    assert set(ids(english)) < set(ids(chinese))


def test_quartile_open_access_and_language_filters(seeded_settings: Settings) -> None:
    q1 = search_papers(seeded_settings, "disease", filters=Filters(quartiles=("q1",)), size=50)
    assert q1["total"] > 0
    open_only = search_papers(seeded_settings, "disease", filters=Filters(open_access=True))
    closed_paper = "10.1016/j.neurobiolaging.2010.03.024"  # Alzheimer's: not open access
    assert closed_paper in ids(search_papers(seeded_settings, "Alzheimer's disease"))
    assert closed_paper not in ids(open_only)
    assert open_only["total"] > 0
    english_only = search_papers(seeded_settings, "crossover", filters=Filters(languages=("zh",)))
    assert english_only["total"] == 0  # the Zenodo record has no Chinese text


def test_facets_count_the_matching_papers(seeded_settings: Settings) -> None:
    result = search_papers(seeded_settings, "spider", size=1, facets=True)
    facets = result["facets"]
    journals = {b["value"]: b["count"] for b in facets["journal"]}
    assert journals["Acta Arachnologica Sinica"] == result["total"]
    assert {b["value"] for b in facets["journal_zh"]} == {"蛛形学报"}
    assert sum(b["count"] for b in facets["open_access"]) == result["total"]
    assert all(isinstance(b["value"], bool) for b in facets["open_access"])
    years = [b["value"] for b in facets["year"]]
    assert years == sorted(years, reverse=True)


def test_suggest_completes_titles_in_both_languages(seeded_settings: Settings) -> None:
    english = suggest_titles(seeded_settings, "life-thr")
    assert english["suggestions"][0]["id"] == LUPUS
    assert english["suggestions"][0]["via"] == "completion"
    chinese = suggest_titles(seeded_settings, "利妥昔")
    assert chinese["suggestions"][0]["text"].startswith("利妥昔单抗")
    traditional = suggest_titles(seeded_settings, "普通水的結")
    assert traditional["suggestions"][0]["id"] == "10.1126/science.169.3946.635"


def test_suggest_finds_words_inside_titles(seeded_settings: Settings) -> None:
    # No title starts with "refractory leuk": search-as-you-type finds it mid-title.
    result = suggest_titles(seeded_settings, "refractory leuk")
    assert [s["id"] for s in result["suggestions"]] == [LUPUS]
    assert result["suggestions"][0]["via"] == "search_as_you_type"
    assert suggest_titles(seeded_settings, "   ")["suggestions"] == []


def test_a_query_without_words_finds_nothing(seeded_settings: Settings) -> None:
    assert search_papers(seeded_settings, "* : ^")["total"] == 0


def test_search_before_any_ingest_is_empty(settings: Settings) -> None:
    assert search_papers(settings, "anything") == {"total": 0, "hits": []}
    assert suggest_titles(settings, "any")["suggestions"] == []


def test_a_chinese_keyword_the_papers_hold_only_in_part_is_asked_again_by_its_bigrams(
    seeded_settings: Settings,
) -> None:
    """`白细胞增多` (leukocytosis) is in no paper; its first bigrams are, in the lupus paper's
    `白细胞减少`. The strict search finds nothing; asked again, any bigram of a part counts."""
    result = search_papers(seeded_settings, "白细胞增多", size=3)
    assert result.get("relaxed") is True
    assert ids(result)[0] == LUPUS
