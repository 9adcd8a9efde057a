"""Retracted papers in search: ranked below the others unless a search asks for them, a filter
that finds or hides them, a facet, and the mark the CLI prints, on the real engine."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from cli import app
from scholarflow.engine.client import connect
from scholarflow.paper.models import Correction, CorrectionStatus, Paper, UpdateNotice
from scholarflow.search.query import Filters
from scholarflow.search.ranking import DEMOTED_WEIGHT
from scholarflow.search.service import search_papers
from scholarflow.settings import Settings, get_settings
from scholarflow.stores.indices import ensure_live_index
from scholarflow.stores.templates import analysis_settings, load_mapping_file
from tasks.index import index_papers

RETRACTED = "10.5555/thermal-1"
WITHDRAWN = "10.5555/thermal-2"
CORRECTED = "10.5555/thermal-3"
PLAIN = "10.5555/thermal-4"


def correction(status: CorrectionStatus, notice: str, date: str) -> Correction:
    kind = {"retracted": "retraction", "withdrawn": "withdrawal"}.get(status, "correction")
    read = UpdateNotice(type=kind, doi=notice, date=date, source="publisher", via="updated-by")
    return Correction(status=status, notice_doi=notice, notice_date=date, notices=[read])


def thermal(doi: str, title: str, status: CorrectionStatus | None = None) -> Paper:
    fixed = correction(status, doi + ".notice", "2019-05") if status else None
    return Paper(id=doi, doi=doi, title_en=title, languages=["en"], correction=fixed)


@pytest.fixture
def indexed(settings: Settings) -> Settings:
    """Four papers on lizards' thermal tolerance; the best matches are retracted and
    withdrawn."""
    client = connect(settings)
    index = ensure_live_index(client, settings.alias)
    papers = [
        thermal(RETRACTED, "Thermal tolerance of desert lizards", CorrectionStatus.RETRACTED),
        thermal(WITHDRAWN, "Thermal tolerance of lizards, again", CorrectionStatus.WITHDRAWN),
        thermal(CORRECTED, "Thermal tolerance in desert lizards", CorrectionStatus.CORRECTED),
        thermal(PLAIN, "Lizards of the desert: tolerance of heat and thermal stress"),
    ]
    index_papers(client, index, papers, "test-run")
    client.indices.refresh(index=index)
    return settings


def ids(result: dict) -> list[str]:
    return [hit["id"] for hit in result["hits"]]


def test_retracted_and_withdrawn_papers_rank_below_the_others(indexed: Settings) -> None:
    result = search_papers(indexed, "thermal tolerance of desert lizards")
    assert set(ids(result)[:2]) == {CORRECTED, PLAIN}  # a correction is no reason to rank lower
    assert set(ids(result)[2:]) == {RETRACTED, WITHDRAWN}
    marks = {hit["id"]: hit["correction"] for hit in result["hits"]}
    assert marks[CORRECTED] == {
        "status": "corrected",
        "notice_doi": CORRECTED + ".notice",
        "notice_date": "2019-05",
    }
    assert marks[PLAIN] is None


def test_a_search_for_retracted_papers_ranks_them_by_their_text(indexed: Settings) -> None:
    asked = Filters(corrections=("retracted", "withdrawn"))
    result = search_papers(indexed, "thermal tolerance of desert lizards", filters=asked)
    assert ids(result) == [RETRACTED, WITHDRAWN]  # the better title first, as text ranks it
    demoted = search_papers(indexed, "thermal tolerance of desert lizards")["hits"]
    (retracted,) = [hit["score"] for hit in demoted if hit["id"] == RETRACTED]
    assert result["hits"][0]["score"] == pytest.approx(retracted / DEMOTED_WEIGHT)


def test_retracted_papers_can_be_left_out(indexed: Settings) -> None:
    hidden = Filters(hide_retracted=True)
    assert set(ids(search_papers(indexed, "lizards", filters=hidden))) == {CORRECTED, PLAIN}


def test_the_correction_facet_counts_them(indexed: Settings) -> None:
    facets = search_papers(indexed, "lizards", facets=True)["facets"]["correction"]
    assert {b["value"]: b["count"] for b in facets} == {
        "retracted": 1,
        "withdrawn": 1,
        "corrected": 1,
    }


@pytest.fixture
def cli_env(indexed: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SCHOLARFLOW_ES_URL", indexed.es_url or "")
    monkeypatch.setenv("SCHOLARFLOW_HOME", str(indexed.home))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_cli_marks_retracted_papers_and_names_the_notice(cli_env: None) -> None:
    result = CliRunner().invoke(
        app, ["search", "thermal tolerance", "--correction", "retracted"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "1 paper matches thermal tolerance" in result.output
    assert "[RETRACTED] Thermal tolerance of desert lizards" in result.output
    assert f"retracted 2019-05 by {RETRACTED}.notice" in result.output


def test_status_counts_them(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if "corrections:" in line]
    assert sorted(line.split(": ")[1].split(", ")) == ["corrected 1", "retracted 1", "withdrawn 1"]
    status = json.loads(CliRunner().invoke(app, ["status", "--json"]).output)
    assert status["corrections"] == {"retracted": 1, "withdrawn": 1, "corrected": 1}


def test_the_cli_refuses_an_unknown_status(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["search", "x", "--correction", "rectracted"])
    assert result.exit_code != 0
    assert "'rectracted' (use retracted, withdrawn" in result.output


def test_search_json_carries_the_correction(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["search", "lizards", "--hide-retracted", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert {hit["id"]: (hit["correction"] or {}).get("status") for hit in hits} == {
        CORRECTED: "corrected",
        PLAIN: None,
    }


def test_an_index_made_before_the_corrections_gets_their_fields(settings: Settings) -> None:
    """The live index of an earlier release: its strict mapping has no `correction` and no
    `citations`, which the next ingest adds before it writes (the unstemmed sub-fields need
    an analyzer the index lacks: they come with a re-index)."""
    client = connect(settings)
    mappings = load_mapping_file("papers.mappings.json")["template"]["mappings"]
    added = ("correction", "citations")
    older = {k: v for k, v in mappings["properties"].items() if k not in added}
    client.indices.create(
        index="papers-000001",
        mappings={**mappings, "properties": older},
        settings=analysis_settings("stock"),
        aliases={settings.alias: {}},
    )
    index = ensure_live_index(client, settings.alias)
    retracted = thermal(RETRACTED, "Thermal tolerance", CorrectionStatus.RETRACTED)
    result = index_papers(client, index, [retracted], "test-run")
    assert result.written == 1 and not result.rejections
    fields = client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert fields["correction"] == mappings["properties"]["correction"]
    assert fields["citations"] == {"type": "integer"}
