"""Judged sets on the real engine: a set built here is ingested through the normal run into its
own alias, the textbook BM25 anchor is built beside it, both are scored and reported; long
questions find papers; `eval --judgments FILE` runs that file only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import scholarflow.search.query as query_module
from cli import app
from flows.judged_sets import ALIAS_PREFIX, ANCHOR_PREFIX, evaluate_set, set_report
from scholarflow.engine.client import connect
from scholarflow.search import relevance
from scholarflow.search.anchor import anchor_document
from scholarflow.search.query import SearchRequest
from scholarflow.search.relevance import SetError, load_set
from scholarflow.search.service import search_index
from scholarflow.settings import Settings, get_settings

runner = CliRunner()

PAPERS = [
    {
        "id": "p1",
        "title": "Rituximab for refractory leukopenia in systemic lupus erythematosus",
        "abstract": "A patient with lupus and severe leukopenia recovered after rituximab.",
    },
    {
        "id": "p2",
        "title": "Body temperatures of lizards on tropical islands",
        "abstract": "Lizards on warmer islands keep higher body temperatures in the day.",
    },
    {
        "id": "p3",
        "title": "Predation by jumping spiders on flies",
        "abstract": "Jumping spiders hunt flies by sight; predation peaks at noon.",
    },
    {
        "id": "p4",
        "title": "Cord blood stem cells in ageing mice",
        "abstract": "Human umbilical cord blood cells improved memory in ageing mice.",
    },
    # The same paper twice (no DOI, same title): Scholarflow merges it, both ids count.
    {"id": "p5", "title": "Colorectal cancer screening in Europe", "abstract": "Screening saves."},
    {"id": "p5-copy", "title": "Colorectal cancer screening in Europe", "abstract": "Saves."},
    {"id": "z1", "title": "系统性红斑狼疮患者的白细胞减少", "abstract": "利妥昔单抗治疗有效。"},
]
# Nine topic words, of which the lupus paper holds three: 60 % of them (the rule before judged
# sets) found no paper at all.
QUESTION = (
    "Does rituximab rescue patients whose leukopenia resisted every standard immunosuppressive "
    "regimen given over several years?"
)
QUERIES = [
    {"id": "q1", "query": QUESTION, "group": "en-claims", "relevant": {"p1": 1}},
    {
        "id": "q2",
        "query": "lizards body temperature",
        "group": "en-keywords",
        "relevant": {"p2": 2},
    },
    {"id": "q3", "query": "colorectal screening", "group": "en-keywords", "relevant": {"p5": 1}},
    {"id": "q4", "query": "白细胞减少", "group": "zh-keywords", "relevant": {"z1": 2}},
    {
        "id": "q5",
        "query": "jumping spider predation",
        "group": "en-keywords",
        "relevant": {"p3": 2},
    },
]


def write_set(folder: Path) -> Path:
    folder.mkdir(parents=True)
    lines = [json.dumps(p, ensure_ascii=False) for p in PAPERS]
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    queries = [json.dumps(q, ensure_ascii=False) for q in QUERIES]
    (folder / "queries.jsonl").write_text("\n".join(queries) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def tiny_set(tmp_path: Path) -> Path:
    return write_set(tmp_path / "tiny")


def test_a_set_is_ingested_measured_beside_the_anchor_and_removed(
    settings: Settings, tiny_set: Path
) -> None:
    result = evaluate_set(settings, load_set(str(tiny_set)))
    papers = result.papers
    assert papers["lines"] == len(PAPERS) and papers["rejected"] == 0
    assert papers["indexed"] == len(PAPERS) - 1 and papers["merged"] == 1
    assert papers["set_ids_found"] == len(PAPERS) and papers["anchor"] == len(PAPERS)
    ours = {s.judged.id: s for s in result.scholarflow}
    anchor = {s.judged.id: s for s in result.anchor}
    assert ours["q3"].ranked[:2] == ["p5", "p5-copy"]  # the merged paper answers for both lines
    assert ours["q1"].ranked[0] == "p1" and anchor["q1"].ranked[0] == "p1"
    assert ours["q4"].ranked == ["z1"] and anchor["q4"].ranked == ["z1"]
    report = set_report(result)
    assert set(report["groups"]) == {"en-claims", "en-keywords", "zh-keywords", relevance.ALL}
    row = report["groups"][relevance.ALL]
    assert row["queries"] == len(QUERIES)
    assert row["anchor"]["ndcg"] == pytest.approx(
        sum(s.ndcg for s in result.anchor) / len(QUERIES), abs=1e-4
    )
    assert row["ratio"]["ndcg"] == pytest.approx(
        row["scholarflow"]["ndcg"] / row["anchor"]["ndcg"], abs=2e-3
    )
    assert "| All queries | 5 |" in relevance.comparison_table(report["groups"])
    client = connect(settings)
    assert not client.indices.exists(index=f"{ALIAS_PREFIX}tiny-000001")
    assert not client.indices.exists(index=f"{ANCHOR_PREFIX}tiny")


def test_the_anchor_is_stock_bm25_over_text_routed_by_script() -> None:
    assert anchor_document(PAPERS[6]) == {
        "title_zh": PAPERS[6]["title"],
        "abstract_zh": "利妥昔单抗治疗有效。",
    }
    assert set(anchor_document(PAPERS[0])) == {"title_en", "abstract_en"}


def test_a_long_question_finds_papers_where_most_of_its_words_were_required(
    settings: Settings, tiny_set: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = evaluate_set(settings, load_set(str(tiny_set)), keep=True)
    alias = f"{ALIAS_PREFIX}tiny"
    client = connect(settings)
    try:
        found = search_index(client, alias, SearchRequest(QUESTION))
        assert found["hits"][0]["title_en"].startswith("Rituximab") and "relaxed" not in found
        # Before: 60 % of the parts, stopwords among them, and nothing asked again.
        monkeypatch.setattr(query_module, "PARTS_MINIMUM_MATCH", "1<50% 2<-40%")
        monkeypatch.setattr(query_module, "STOPWORDS", frozenset())
        strict = query_module.build_query(SearchRequest(QUESTION))
        assert client.search(index=alias, body=strict)["hits"]["total"]["value"] == 0
        # Quoted words no paper holds as a phrase: asked again as words.
        quoted = search_index(client, alias, SearchRequest('"leukopenia rituximab" lupus'))
        assert quoted["relaxed"] is True and quoted["hits"][0]["title_en"].startswith("Ritux")
        assert search_index(client, alias, SearchRequest("zebrafish"))["total"] == 0
    finally:
        for name in (f"{alias}-000001", f"{ANCHOR_PREFIX}tiny"):
            client.indices.delete(index=name, ignore_unavailable=True)
    assert result.papers["indexed"] == len(PAPERS) - 1


def test_a_broken_set_is_one_line_naming_the_file_and_line(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "broken")
    with (folder / "queries.jsonl").open("a", encoding="utf-8") as out:
        out.write('{"id": "q9", "query": "no judgments"}\n')
    with pytest.raises(SetError, match=r"queries\.jsonl:6: not a judged query"):
        load_set(str(folder))
    with pytest.raises(SetError, match="no judged set 'nothing-here'"):
        load_set("nothing-here")


@pytest.fixture
def cli_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("SCHOLARFLOW_ES_URL", settings.es_url or "")
    monkeypatch.setenv("SCHOLARFLOW_HOME", str(settings.home))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_eval_set_prints_each_group_beside_the_anchor(
    cli_settings: Settings, tiny_set: Path
) -> None:
    result = runner.invoke(app, ["eval", "--set", str(tiny_set), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["engine"].startswith("opensearch 2.19")
    assert "groups" not in report  # the seeds' queries are not run
    (tiny,) = report["sets"]
    assert tiny["name"] == "tiny" and set(tiny["groups"]["en-keywords"]) >= {"anchor", "ratio"}
    table = runner.invoke(app, ["eval", "--set", str(tiny_set)]).stdout
    assert "engine: opensearch" in table and "| en-claims | 1 |" in table and "anchor" in table


def test_eval_judgments_runs_only_that_file(
    seeded_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHOLARFLOW_ES_URL", seeded_settings.es_url or "")
    monkeypatch.setenv("SCHOLARFLOW_HOME", str(seeded_settings.home))
    get_settings.cache_clear()
    mine = tmp_path / "mine.jsonl"
    lupus = {"10.1080/25785826.2025.2563427": 2}
    lines = [
        {"id": "a", "query": "leukopenia rituximab", "group": "en", "relevant": lupus},
        {"id": "b", "query": "白细胞减少", "group": "zh-hans", "relevant": lupus},
    ]
    mine.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    try:
        result = runner.invoke(app, ["eval", "--judgments", str(mine), "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["groups"]["all"]["queries"] == 2 and report["groups"]["all"]["mrr"] == 1.0
    assert not set(relevance.CROSSLINGUAL_GROUPS) & set(report["groups"])
    assert "sets" not in report
