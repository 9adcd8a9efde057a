"""Crossref and OpenAlex harvesting against local servers replaying recorded pages (habanero's
recorded Crossref cursor pages, Crossref's invalid-cursor answer), OpenAlex snapshot folders,
windows, and the harvest deployments (no engine needed)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from flows.serving.deployments import build_deployments
from scholarflow.registry import reset_limiters
from scholarflow.settings import Settings
from scholarflow.stores.harvest_sources import SourceError, new_source
from tasks.decode import decode_record
from tasks.harvest import Harvest
from tasks.harvest.crossref import CrossrefWorks
from tasks.harvest.http import HarvestHttp
from tasks.harvest.openalex import OpenAlexWorks
from tasks.harvest.windows import default_end, plan_windows
from tests.fixture_server import FIXTURES, FixtureServer, Reply

CROSSREF = FIXTURES / "harvest" / "crossref"
OPENALEX_WORK = FIXTURES / "harvest" / "openalex" / "docs_assembled_work_W2741809807.json"
UNTIL = datetime(2026, 8, 13, tzinfo=UTC)


def _settings(**values) -> Settings:
    defaults = {"doi_rate": 1000, "doi_concurrency": 4, "crossref_mailto": "ops@example.org"}
    return Settings(_env_file=None, **(defaults | values))


def _json(name: str, status: int = 200) -> Reply:
    return Reply(status, (CROSSREF / name).read_bytes(), {"content-type": "application/json"})


@pytest.fixture
def crossref():
    reset_limiters()
    with FixtureServer() as server:
        yield server


def _cursor_pages(server: FixtureServer, after_first: list[Reply]) -> list[dict[str, str]]:
    asked: list[dict[str, str]] = []
    queue = list(after_first)

    def answer(query: str) -> Reply:
        params = {k: v[0] for k, v in parse_qs(query).items()}
        asked.append(params)
        if params["cursor"] == "*":
            return _json("habanero_cursor_widget_page1.json")
        return queue.pop(0) if len(queue) > 1 else queue[0]

    server.respond("/works", answer)
    return asked


def _crossref_read(server: FixtureServer, **source):
    settings = _settings(harvest_rows=20)
    works = CrossrefWorks(
        new_source("cr", "crossref", server.url, **source), HarvestHttp(settings), settings
    )
    (window,) = works.windows(full=False, until=UNTIL)
    harvest = Harvest(window)
    return harvest, list(works.records(harvest))


def test_crossref_follows_the_cursor_until_a_page_has_no_items(crossref):
    asked = _cursor_pages(
        crossref,
        [
            _json("habanero_cursor_widget_page2.json"),
            _json("habanero_cursor_widget_page3.json"),
            _json("handwritten_cursor_end_empty_items.json"),
        ],
    )
    harvest, records = _crossref_read(crossref, filters=["prefix:10.1007", "type:book-chapter"])
    assert harvest.failure is None and harvest.pages == 4
    assert len(records) == 60 and all(r.format == "crossref" for r in records)
    assert records[0].location == "10.1007/978-1-4302-0197-7_9"
    first = asked[0]
    assert first["filter"] == "prefix:10.1007,type:book-chapter,until-update-date:2026-08-13"
    assert (first["cursor"], first["rows"], first["mailto"]) == ("*", "20", "ops@example.org")
    cursor = json.loads((CROSSREF / "habanero_cursor_widget_page1.json").read_text())["message"]
    assert asked[1]["cursor"] == cursor["next-cursor"]
    papers = [decode_record(r) for r in records]
    assert all(getattr(p, "doi", None) for p in papers)
    assert papers[0].title_en == "Widget Mania: Using a GUI Widget Framework"


def test_crossref_invalid_cursor_ends_the_window_with_crossrefs_words(crossref):
    _cursor_pages(crossref, [_json("crossref_404_cursor_invalid.json", 404)])
    harvest, records = _crossref_read(crossref)
    assert harvest.failure and "HTTP 404 from Crossref" in harvest.failure
    assert "Cursor specified but it is invalid" in harvest.failure
    assert records[-1].error == "HTTP 404 from Crossref" and "page 2" in records[-1].location
    assert len(records) == 21  # page 1's works, then the failed page


def test_crossref_pages_past_the_announced_total_end_the_window(crossref):
    _cursor_pages(crossref, [_json("habanero_cursor_widget_page2.json")])  # never empty
    settings = _settings(harvest_rows=20)
    works = CrossrefWorks(
        new_source("cr", "crossref", crossref.url), HarvestHttp(settings), settings
    )
    (window,) = works.windows(full=False, until=UNTIL)
    harvest = Harvest(window)
    records = list(works.records(harvest))
    assert harvest.failure and "would loop" in harvest.failure
    # 454 announced: 23 pages of 20 are read, the 24th (480 > 454 + 20) is refused.
    assert len(records) == 23 * 20 + 1
    assert records[-1].error and "page 24" in records[-1].location


def _snapshot(root: Path) -> None:
    work = OPENALEX_WORK.read_bytes().replace(b"\n", b"")
    for day, lines in {
        "2026-01-01": [work],
        "2026-01-02": [work.replace(b"W2741809807", b"W2741809808"), b"{not json", work],
    }.items():
        folder = root / "data" / "works" / f"updated_date={day}"
        folder.mkdir(parents=True)
        with gzip.open(folder / "part_000.gz", "wb") as part:
            part.write(b"\n".join(lines) + b"\n")


def test_openalex_snapshot_is_read_folder_by_folder_after_the_saved_one(tmp_path):
    _snapshot(tmp_path)
    settings = _settings()
    source = new_source("oa", "openalex", str(tmp_path))
    works = OpenAlexWorks(source, HarvestHttp(settings), settings)
    windows = works.windows(full=False, until=None)
    assert [w.until for w in windows] == ["2026-01-01", "2026-01-02"]
    harvest = Harvest(windows[1])
    records = list(works.records(harvest))
    assert [r.error for r in records] == [None, "invalid JSON", None]
    assert records[1].location == "updated_date=2026-01-02/part_000.gz:line 2"
    source.harvested_until = "2026-01-01"
    assert [w.until for w in works.windows(full=False, until=None)] == ["2026-01-02"]
    paper = decode_record(records[0])
    assert paper.abstract_en.startswith("Despite growing interest in Open Access (OA)")
    assert [a.orcid for a in paper.authors][:2] == ["0000-0003-1613-5981", "0000-0001-6187-6610"]
    assert paper.journal.issn == ["2167-8359"]


def test_openalex_api_pages_by_next_cursor(crossref):
    work = json.loads(OPENALEX_WORK.read_text())
    asked: list[dict[str, str]] = []

    def answer(query: str) -> Reply:
        params = {k: v[0] for k, v in parse_qs(query).items()}
        asked.append(params)
        if params["cursor"] == "*":
            return Reply.json({"meta": {"count": 1, "next_cursor": "IlsxMDAu"}, "results": [work]})
        return Reply.json({"meta": {"count": 1, "next_cursor": None}, "results": []})

    crossref.respond("/works", answer)
    settings = _settings()
    source = new_source("oa", "openalex", crossref.url, filters=["type:article"])
    source.harvested_until = "2026-08-01"
    works = OpenAlexWorks(source, HarvestHttp(settings), settings)
    (window,) = works.windows(full=False, until=UNTIL)
    records = list(works.records(Harvest(window)))
    assert [r.location for r in records] == ["https://openalex.org/W2741809807"]
    assert asked[0]["filter"] == (
        "type:article,from_updated_date:2026-08-02,to_updated_date:2026-08-13"
    )
    assert asked[1]["cursor"] == "IlsxMDAu"


def test_windows_start_after_the_saved_position_and_end_at_a_complete_moment():
    now = datetime(2026, 8, 13, 15, 30, tzinfo=UTC)
    assert default_end(True, now) == datetime(2026, 8, 12, tzinfo=UTC)
    assert default_end(False, now) == datetime(2026, 8, 13, 15, 29, 59, tzinfo=UTC)
    (window,) = plan_windows("2026-08-01", full=False, until=UNTIL, day_granularity=True)
    assert (window.since, window.until) == ("2026-08-02", "2026-08-13")
    assert plan_windows("2026-08-13", full=False, until=UNTIL, day_granularity=True) == []
    (everything,) = plan_windows("2026-08-01", full=True, until=UNTIL, day_granularity=True)
    assert everything.since is None
    cut = plan_windows("2026-07-01", full=False, until=UNTIL, day_granularity=True, window_days=20)
    assert [(w.since, w.until) for w in cut] == [
        ("2026-07-02", "2026-07-21"),
        ("2026-07-22", "2026-08-10"),
        ("2026-08-11", "2026-08-13"),
    ]


def test_a_source_is_checked_before_it_is_stored():
    with pytest.raises(SourceError, match="lower-case"):
        new_source("Zenodo Repo", "oai-pmh", "https://zenodo.org/oai2d")
    with pytest.raises(SourceError, match="the kinds are"):
        new_source("z", "sftp", "https://zenodo.org/oai2d")
    source = new_source("z", "oai-pmh", "https://zenodo.org/oai2d/", set="software")
    assert source.origin == "https://zenodo.org/oai2d?set=software"


def test_every_source_is_a_deployment_on_its_schedule_one_run_at_a_time():
    scheduled = new_source("zenodo", "oai-pmh", "https://zenodo.org/oai2d", schedule="0 3 * * *")
    by_hand = new_source("cr", "crossref", "https://api.crossref.org", filters=["prefix:10.5281"])
    settings = Settings(_env_file=None, schedule_timezone="Asia/Shanghai")
    deployments = build_deployments(settings, [scheduled, by_hand])
    harvests = deployments[4:]
    assert [d.name for d in harvests] == ["harvest-zenodo", "harvest-cr"]
    for deployment in harvests:
        assert deployment.concurrency_limit == 1
        assert deployment.entrypoint == "flows.harvest.harvest"
    (schedule,) = harvests[0].schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 3 * * *", "Asia/Shanghai")
    assert harvests[0].parameters == {"source": "zenodo"}
    assert harvests[1].schedules == []
    assert [d.name for d in build_deployments(settings)] == [
        "ingest",
        "embed",
        "reenrich",
        "reindex",
    ]


def test_pubmed_sources_have_no_network_connector_they_are_read_by_the_ingest():
    """A `pubmed` source's files are read by the ingest (tests/test_pubmed_deletions.py)."""
    from tasks.harvest import HarvestError, connector_for

    settings = _settings()
    source = new_source("pm", "pubmed", "https://ftp.ncbi.nlm.nih.gov/pubmed/updatefiles")
    with pytest.raises(HarvestError, match="read by the ingest"):
        connector_for(source, HarvestHttp(settings), settings)


def test_the_format_benchmark_decodes_every_recorded_shape(tmp_path):
    from benchmarks.corpus import Corpus
    from benchmarks.formats import HARVESTED, formats
    from benchmarks.measure import Params

    corpus = tmp_path / "corpus.jsonl"
    Corpus(7).write(corpus, 40)
    rows = formats(Params(corpus, 40, 7, repeat=1))
    assert {"format_aggregator", "format_crossref", "format_openalex", "format_oai_dc"} <= set(rows)
    assert "format_datacite" in rows
    assert set(HARVESTED) == {"crossref", "openalex", "oai_dc", "datacite"}
    assert all(rows[f"format_{shape}"].records >= 20 for shape in HARVESTED)
