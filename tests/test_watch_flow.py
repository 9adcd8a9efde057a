"""Saved searches in a real ingest flow run: what an ingest finds for each, the Prefect events and
the artifact it publishes, the bound on a saved search that matches a thousand papers, the CLI,
and a re-index that changes the papers' mappings."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import Elasticsearch
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

from flows.reindex import ReindexParameters, reindex
from scholarflow.alerts.hits import WatchHits
from scholarflow.alerts.percolator import PercolatorError, ensure_percolator, percolator_index, sync
from scholarflow.alerts.watches import WatchStore, new_saved_search
from scholarflow.engine.client import connect
from scholarflow.settings import Settings
from scholarflow.stores.indices import live_index
from tasks.percolate import MATCHED_EVENT, OVERFLOW_EVENT
from tests.cli_helpers import json_out, one_line_error, run_cli
from tests.conftest import SEED_RECORDS

WATCHED = {"lupus": "系統性紅斑狼瘡", "spiders": "new species spider", "doi": "10.1038/srep16696"}


def _save(client: Elasticsearch, searches: dict[str, str]) -> None:
    for name, text in searches.items():
        WatchStore(client).add(new_saved_search(name, text))


def _searched(client: Elasticsearch, alias: str, name: str) -> int:
    return client.count(index=alias, query=WatchStore(client).get(name).query())["count"]


def _events(names: list[str], since: datetime, run_id: str, wanted: int) -> list[Any]:
    """The events of `run_id` with these names, waiting for the event worker to deliver
    `wanted` of them (it sends in the background)."""
    found: list[Any] = []
    with get_client(sync_client=True) as client:
        for _ in range(60):
            page = client.read_events(
                EventFilter(
                    event=EventNameFilter(name=names),
                    occurred=EventOccurredFilter(since=since),
                ),
                limit=50,
            )
            events = list(page.events)
            while page.next_page:
                page = client.read_events_page(str(page.next_page))
                events += page.events
            found = [e for e in events if e.payload.get("run_id") == run_id]
            if len(found) >= wanted:
                return found
            time.sleep(0.5)
    return found


def test_an_ingest_announces_each_new_match_and_a_rerun_announces_none(
    ingest: Any, settings: Settings
):
    client = connect(settings)
    _save(client, WATCHED)
    started = datetime.now(UTC)
    summary = ingest(SEED_RECORDS)
    report = summary.watches
    written = client.count(index=settings.alias, query={"term": {"run_id": summary.run_id}})
    assert report["searches"] == 3
    assert report["papers"] == written["count"] == 32
    assert report["by_search"] == {n: _searched(client, settings.alias, n) for n in WATCHED}
    assert report["by_search"]["spiders"] > 3
    assert report["matches"] == report["published"] == sum(report["by_search"].values())

    runs = WatchHits(client).runs("doi")
    assert [(r["run_id"], r["matched"], r["overflow"]) for r in runs] == [(summary.run_id, 1, 0)]
    assert runs[0]["papers"][0]["doi"] == "10.1038/srep16696"

    events = _events([MATCHED_EVENT], started, summary.run_id, report["published"])
    assert len(events) == report["published"]
    by_watch = {e.resource.id: 0 for e in events}
    for event in events:
        by_watch[event.resource.id] += 1
    assert by_watch == {f"scholarflow.watch.{n}": c for n, c in report["by_search"].items()}
    lupus = next(e for e in events if e.payload["watch"] == "lupus")
    assert lupus.payload["paper"]["doi"] == "10.1080/25785826.2025.2563427"
    assert lupus.related[0].id == "scholarflow.paper.10.1080/25785826.2025.2563427"

    with get_client(sync_client=True) as prefect:
        artifacts = prefect.read_artifacts(
            flow_run_filter=FlowRunFilter(id={"any_": [summary.run_id]}),
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["watch-matches"])),
        )
    assert len(artifacts) == 1
    table = artifacts[0].data
    rows = orjson.loads(table) if isinstance(table, str) else table
    assert {r["saved search"]: r["matched"] for r in rows} == report["by_search"]

    again = ingest(SEED_RECORDS, full=True)
    assert again.watches["papers"] == 0 and again.watches["matches"] == 0
    assert [r["run_id"] for r in WatchHits(client).runs("spiders")] == [summary.run_id]


def _corpus(path: Path, count: int) -> Path:
    """`count` records that all match `lizard`: a saved search that matches them all."""
    lines = [
        orjson.dumps(
            {
                "title": f"Thermal biology of the lizard population {i}",
                "authors": f"Author {i}",
                "publicationDate": "2024",
                "doi": f"10.5555/lizard.{i}",
            }
        )
        for i in range(count)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_a_saved_search_that_matches_a_thousand_papers_gets_a_bounded_summary(
    ingest: Any, settings: Settings, tmp_path: Path
):
    client = connect(settings)
    _save(client, {"lizards": "lizard"})
    cap = settings.watch_max_events
    started = datetime.now(UTC)
    summary = ingest(_corpus(tmp_path / "lizards.jsonl", 1000))
    assert summary.watches["by_search"] == {"lizards": 1000}
    assert (summary.watches["published"], summary.watches["overflow"]) == (cap, 1000 - cap)

    [found] = WatchHits(client).runs("lizards")
    assert (found["matched"], len(found["papers"]), found["overflow"]) == (1000, cap, 1000 - cap)
    events = _events([MATCHED_EVENT, OVERFLOW_EVENT], started, summary.run_id, cap + 1)
    time.sleep(1)  # anything beyond the bound would have arrived with the rest
    events = _events([MATCHED_EVENT, OVERFLOW_EVENT], started, summary.run_id, cap + 1)
    assert sorted(e.event for e in events) == [MATCHED_EVENT] * cap + [OVERFLOW_EVENT]
    overflow = next(e for e in events if e.event == OVERFLOW_EVENT)
    assert overflow.payload["overflow"] == 1000 - cap


def test_the_watch_commands_add_list_show_new_and_remove(
    ingest: Any, settings: Settings, cli_env: dict[str, str], prefect_api_url: str, tmp_path: Path
):
    env = {**cli_env, "PREFECT_API_URL": prefect_api_url}
    added = json_out(
        run_cli("watch", "add", "Lupus", "系統性紅斑狼瘡", "--json", env=env, cwd=tmp_path)
    )
    assert (added["name"], added["matches_now"]) == ("lupus", 0)
    error = one_line_error(run_cli("watch", "add", "bad", "title:lupus", env=env, cwd=tmp_path))
    assert "field name (name:value) at 'title:lupus'" in error
    assert "empty" in one_line_error(run_cli("watch", "add", "x", " ", env=env, cwd=tmp_path))
    listed = json_out(run_cli("watch", "list", "--json", env=env, cwd=tmp_path))
    assert [s["name"] for s in listed["searches"]] == ["lupus"]

    summary = ingest(SEED_RECORDS)
    new = json_out(run_cli("watch", "show", "lupus", "--new", "--json", env=env, cwd=tmp_path))
    assert [r["run_id"] for r in new["runs"]] == [summary.run_id]
    assert new["runs"][0]["papers"][0]["title_zh"].startswith("利妥昔单抗")
    seen = json_out(run_cli("watch", "show", "lupus", "--new", "--json", env=env, cwd=tmp_path))
    assert seen["runs"] == []
    shown = run_cli("watch", "show", "lupus", env=env, cwd=tmp_path)
    assert shown.returncode == 0 and "Life-threatening refractory leukopenia" in shown.stdout

    assert run_cli("watch", "remove", "lupus", env=env, cwd=tmp_path).returncode == 0
    error = one_line_error(run_cli("watch", "show", "lupus", env=env, cwd=tmp_path))
    assert "no saved search named 'lupus'" in error
    index = live_index(connect(settings), settings.alias)
    assert connect(settings).count(index=percolator_index(str(index)))["count"] == 0


def test_saved_searches_follow_a_reindex_that_changes_the_papers_mappings(
    ingest: Any,
    settings: Settings,
    flow_env: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    """The papers gain a field and the query builder filters on it (as a retraction flag
    would): the new index's percolator store is built from its mappings, so the saved search
    still matches there, while the old index's store refuses the new query."""
    from scholarflow.alerts import watches
    from scholarflow.stores import templates

    client = connect(settings)
    ingest(SEED_RECORDS)
    _save(client, {"spiders": "new species spider"})
    old = str(live_index(client, settings.alias))
    component, build = templates.papers_component, watches.build_query

    def with_flag(*args: Any) -> dict[str, Any]:
        body = component(*args)
        body["template"]["mappings"]["properties"]["flagged"] = {"type": "boolean"}
        return body

    def filtering_flag(request: Any) -> dict[str, Any]:
        body = build(request)
        flag = {"term": {"flagged": True}}
        body["query"] = {"bool": {"must": [body["query"]], "must_not": [flag]}}
        return body

    monkeypatch.setattr(templates, "papers_component", with_flag)
    monkeypatch.setattr(watches, "build_query", filtering_flag)
    flow_env()
    result = reindex(parameters=ReindexParameters(mode="copy"))
    new = result["index"]
    assert result["verification"]["saved_searches"] == 1
    store = percolator_index(new)
    assert "flagged" in client.indices.get_mapping(index=store)[store]["mappings"]["properties"]

    record = {"title": "A new species of spider from Yunnan", "authors": "A B", "doi": "10.5555/s"}
    (tmp_path / "spider.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    summary = ingest(tmp_path / "spider.jsonl")
    assert summary.index == new
    assert summary.watches["by_search"] == {"spiders": 1}
    assert summary.watches.get("error") is None
    with pytest.raises(PercolatorError, match="refuses 1 saved searches: spiders"):
        sync(client, ensure_percolator(client, old), WatchStore(client).all())
