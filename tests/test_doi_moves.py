"""A paper indexed without a DOI whose DOI a later run finds moves to it: the old document is
folded into the DOI's and deleted in the same write, the run counts it as a merge, a record of
it read again offline joins the DOI's document instead of making the old one anew, and a
saved-search hit stored under the old id leads to the paper's current one. Real ingests on the
real engine, Crossref's search answered on 127.0.0.1 (tests/crossref_search.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.ingest import run_ingest
from scholarflow.alerts.watches import WatchStore, new_saved_search
from scholarflow.engine.client import connect
from scholarflow.paper.models import Outcome, RunSummary
from scholarflow.settings import DoiLookup, Settings
from tests.cli_helpers import json_out, run_cli
from tests.conftest import assert_accounted, lookups_at
from tests.crossref_search import search_answer
from tests.fixture_server import FixtureServer
from tests.test_doi_match import NO_DOI_RECORDS, SREP, SREP_TITLE, WORKS, _record, _records


def _offline(settings: Settings) -> Settings:
    update = {"doi_lookup": DoiLookup.ON, "crossref_url": "http://127.0.0.1:9", "doi_timeout": 0.5}
    return settings.model_copy(update=update)


def _ingest(settings: Settings, *paths: Path) -> RunSummary:
    summary = run_ingest(settings, [str(p) for p in paths], 500, full=True)
    assert_accounted(summary)
    return summary


def _documents(settings: Settings) -> dict[str, dict[str, Any]]:
    client = connect(settings)
    client.indices.refresh(index=settings.alias)
    hits = client.search(index=settings.alias, size=100)["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def _counts(summary: RunSummary) -> tuple[int, int, int]:
    outcomes = summary.outcomes
    return outcomes[Outcome.INDEXED], outcomes[Outcome.MERGED], outcomes[Outcome.UNCHANGED]


def test_a_document_indexed_without_a_doi_moves_to_the_doi_a_later_run_finds(
    online: Settings,
    registry: FixtureServer,
    cli_env: dict[str, str],
    prefect_api_url: str,
    tmp_path: Path,
):
    registry.respond("/works", lambda query: search_answer(list(WORKS.values()), query))
    saved = new_saved_search("synuclein", "alpha-synuclein oligomerization")
    WatchStore(connect(online)).add(saved)
    feed = _records(tmp_path / "feed.jsonl", [_record(SREP_TITLE, "Laura Tosatto", "2015")])

    first = _ingest(_offline(online), feed)  # Crossref unreachable: no DOI yet
    assert first.doi_matching == {"deferred": 1} and first.watches["matches"] == 1
    [(old_id, old)] = _documents(online).items()
    assert old_id.startswith("sf-") and old["doi"] is None

    second = _ingest(online, feed)
    assert second.doi_matching == {"matched": 1}
    assert _counts(second) == (0, 1, 0) and second.moved_to_doi == 1
    [(doc_id, paper)] = _documents(online).items()  # one document: the old one is gone
    assert (doc_id, paper["doi"], paper["doi_source"]) == (SREP, SREP, "matched")
    assert paper["former_ids"] == [old_id] and paper["doi_match"]["status"] == "matched"
    assert paper["enrichment"]["status"] == "enriched"
    assert set(paper["record_hashes"]) > set(old["record_hashes"])  # both runs' records
    assert [p["location"] for p in paper["provenance"]] == ["line 1"]

    # The saved search's hit of the first run was stored under the old id; `watch show` leads
    # to the paper where it is now.
    env = {**cli_env, "PREFECT_API_URL": prefect_api_url}
    shown = json_out(run_cli("watch", "show", "synuclein", "--json", env=env, cwd=tmp_path))
    by_run = {r["run_id"]: r["papers"] for r in shown["runs"]}
    assert by_run[first.run_id] == [
        {**old_papers, "id": SREP, "doi": SREP, "moved_from": old_id}
        for old_papers in [{"title_en": SREP_TITLE, "title_zh": None, "year": 2015}]
    ]
    assert by_run[second.run_id][0]["id"] == SREP  # the moved paper counts as changed

    # Crossref unreachable again: the search cache answers, and the record is unchanged.
    assert _counts(_ingest(_offline(online), feed)) == (0, 0, 1)
    # Read with lookups off (no DOI at all), the record joins the DOI's document by its former
    # id: no document without a DOI comes back, and the DOI stays.
    lookups_off = online.model_copy(update={"doi_lookup": DoiLookup.OFF})
    fourth = _ingest(lookups_off, feed)
    assert _counts(fourth) == (0, 1, 0) and fourth.moved_to_doi == 0
    [(doc_id, paper)] = _documents(online).items()
    assert (doc_id, paper["doi"], paper["doi_match"]["status"]) == (SREP, SREP, "matched")
    assert _counts(_ingest(lookups_off, feed)) == (0, 0, 1)


def test_a_paper_joined_across_two_sources_moves_whole_when_one_of_them_is_matched(
    online: Settings, registry: FixtureServer, tmp_path: Path
):
    registry.respond("/works", lambda query: search_answer(list(WORKS.values()), query))
    english = _records(tmp_path / "a.jsonl", [_record(SREP_TITLE, "Laura Tosatto", "2015")])
    other = _record(SREP_TITLE.upper(), "TOSATTO Laura, HORROCKS Mathew H.", "2015-11-20")
    aggregator = _records(tmp_path / "b.jsonl", [other])

    joined = _ingest(_offline(online), english, aggregator)
    assert _counts(joined) == (1, 1, 0)
    [(old_id, old)] = _documents(online).items()

    # Only the second source is read again, now that Crossref answers: its record's own id
    # never had a document; the document it joined (by title, year and authors) moves.
    moved = _ingest(online, aggregator)
    assert _counts(moved) == (0, 1, 0) and moved.moved_to_doi == 1
    [(doc_id, paper)] = _documents(online).items()
    assert doc_id == SREP and old_id in paper["former_ids"]
    assert {(p["source"].rsplit("/", 1)[1], p["location"]) for p in paper["provenance"]} == {
        ("a.jsonl", "line 1"),
        ("b.jsonl", "line 1"),
    }
    assert set(old["record_hashes"]) < set(paper["record_hashes"])
    assert paper["match_key"] == old["match_key"]  # later records of it without a DOI meet it

    lookups_off = online.model_copy(update={"doi_lookup": DoiLookup.OFF})
    again = _ingest(lookups_off, english)  # the first source, without a DOI: it joins
    assert _counts(again) == (0, 1, 0)
    assert list(_documents(online)) == [SREP]


def test_reenrich_searches_dois_for_papers_without_one_and_moves_those_it_finds(
    prefect_harness: None,
    online: Settings,
    registry: FixtureServer,
    flow_env: Any,
    tmp_path: Path,
):
    from flows.reenrich import _table_rows, reenrich

    feed = _records(tmp_path / "feed.jsonl", [NO_DOI_RECORDS[i] for i in (0, 3, 5, 6)])
    _ingest(_offline(online), feed)  # deferred ×3 (no DOI found yet), skipped ×1
    before = _documents(online)
    assert len(before) == 4 and not any(d["doi"] for d in before.values())

    registry.respond("/works", lambda query: search_answer(list(WORKS.values()), query))
    registry.serve_work(SREP, "crossref_work_10.1038_srep16696_jats_abstract.json")
    flow_env(**lookups_at(registry))
    summary = reenrich()
    assert summary["selected"] == 3  # a title too short to search by is not selected
    assert summary["doi_matching"] == {"matched": 1, "refused": 1, "no_answer": 1}
    assert (summary["matched"], summary["updated"], summary["moved_to_doi"]) == (1, 2, 1)
    rows = dict(_table_rows(summary))
    assert rows["matched"] == 1 and rows["doi search refused"] == 1
    after = _documents(online)
    assert len(after) == 4 and SREP in after and set(after[SREP]["former_ids"]) < set(before)
    assert after[SREP]["enrichment"]["status"] == "enriched"
    assert after[SREP]["journal"]["name"] == "Scientific Reports"
    refused = next(d for d in after.values() if d["doi_match"]["status"] == "refused")
    assert "year [2012] is not 2013" in refused["doi_match"]["reason"]
    searches = len(registry.paths("/works"))

    assert reenrich()["selected"] == 0  # answered searches wait for --older-than
    older = reenrich(older_than_days=1e-6, statuses=[])
    assert older["selected"] == 3  # the refused, the unanswered, and the DOI's answer
    assert older["doi_matching"] == {"refused": 1, "no_answer": 1}
    assert len(registry.paths("/works")) > searches  # asked again, not read from the cache
    assert len(_documents(online)) == 4
