"""Every command that writes leaves its writes searchable when it returns.

The engine makes writes searchable only when it refreshes an index. On its own it does so every
`refresh_interval` (1 s in index_mappings/settings.json), which would hide a forgotten refresh
behind the second a new command takes to start. Here the indices a command writes to have the
engine's own refresh switched off (`refresh_interval: -1`, as operators set for write-heavy
indices), so nothing but Scholarflow's own refreshes makes a write visible, and each test fails
if a command forgot one. (The in-memory osmem showed every write at once: none of this could be
tested before the real engine.)
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from flows.ingest import ingest as ingest_flow
from flows.reenrich import reenrich
from flows.reindex import ReindexParameters, reindex
from scholarflow.search.service import search_papers
from scholarflow.settings import DoiLookup, Settings
from scholarflow.status import index_status
from scholarflow.stores import templates
from scholarflow.stores.deadletters import DEADLETTER_INDEX, DeadLetterStore
from scholarflow.stores.indices import ensure_live_index
from tests.cli_helpers import json_out, run_cli
from tests.conftest import assert_accounted_json, lookups_at
from tests.fixture_server import CROSSREF_WORKS, FixtureServer

NO_REFRESH = {"index": {"refresh_interval": "-1"}}


def refresh_off(es: Elasticsearch, *names: str) -> None:
    es.indices.put_settings(index=",".join(names), settings=NO_REFRESH)


def still_off(es: Elasticsearch, name: str) -> bool:
    """The test's premise held to the end: no command switched the engine's refresh back on."""
    found = es.indices.get_settings(index=name, name="index.refresh_interval")
    return found[name]["settings"]["index"]["refresh_interval"] == "-1"


def write_feed(path: Path, dois: list[str], broken: int = 0) -> Path:
    lines = [
        json.dumps({"title": f"Paper {n} on leukopenia", "doi": doi}) for n, doi in enumerate(dois)
    ]
    lines += ['{"title": "cut short", "doi": '] * broken
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_engine_shows_no_write_until_a_refresh(es: Elasticsearch, settings: Settings) -> None:
    """What the tests below rely on: with refresh off, a write is invisible to searches."""
    index = ensure_live_index(es, settings.alias)
    refresh_off(es, index)
    es.index(index=index, id="probe", document={"id": "probe", "title": ["Probe"]})
    assert es.count(index=index)["count"] == 0
    es.indices.refresh(index=index)
    assert es.count(index=index)["count"] == 1


@pytest.fixture
def env(cli_env: dict[str, str], prefect_api_url: str) -> dict[str, str]:
    return {**cli_env, "PREFECT_API_URL": prefect_api_url}


def test_papers_and_dead_letters_of_an_ingest_are_searchable_when_it_returns(
    env: dict[str, str], es: Elasticsearch, settings: Settings, tmp_path: Path
) -> None:
    index = ensure_live_index(es, settings.alias)
    DeadLetterStore(es).ensure()
    refresh_off(es, index, DEADLETTER_INDEX)
    feed = write_feed(tmp_path / "feed.jsonl", ["10.1000/a", "10.1000/b", "10.1000/c"], broken=1)

    summary = json_out(run_cli("ingest", str(feed), "--json", env=env, cwd=tmp_path))
    assert_accounted_json(summary)
    assert (summary["indexed"], summary["rejected"]) == (3, 1)

    # Each in a new process, right after the ingest returned.
    found = json_out(run_cli("search", "leukopenia", "--json", env=env, cwd=tmp_path))
    assert sorted(hit["doi"] for hit in found["hits"]) == ["10.1000/a", "10.1000/b", "10.1000/c"]
    status = json_out(run_cli("status", "--json", env=env, cwd=tmp_path))
    assert (status["documents"], status["dead_letters"]) == (3, 1)
    assert json_out(run_cli("deadletter", "list", "--json", env=env, cwd=tmp_path))["total"] == 1
    assert still_off(es, index) and still_off(es, DEADLETTER_INDEX)


def test_replayed_records_are_searchable_and_gone_from_the_store_when_replay_returns(
    env: dict[str, str], es: Elasticsearch, settings: Settings, tmp_path: Path
) -> None:
    index = ensure_live_index(es, settings.alias)
    DeadLetterStore(es).ensure()
    es.indices.put_settings(index=index, settings={"index.blocks.write": True})
    feed = write_feed(tmp_path / "feed.jsonl", ["10.1000/a", "10.1000/b"])
    blocked = json_out(run_cli("ingest", str(feed), "--json", env=env, cwd=tmp_path))
    assert blocked["rejected_by_stage"]["index"]["count"] == 2
    es.indices.put_settings(index=index, settings={"index.blocks.write": False})
    refresh_off(es, index, DEADLETTER_INDEX)

    replayed = json_out(run_cli("deadletter", "replay", "--all", "--json", env=env, cwd=tmp_path))
    assert (replayed["indexed"], replayed["resolved"]) == (2, 2)

    found = json_out(run_cli("search", "leukopenia", "--json", env=env, cwd=tmp_path))
    assert found["total"] == 2
    status = json_out(run_cli("status", "--json", env=env, cwd=tmp_path))
    assert (status["documents"], status["dead_letters"]) == (2, 0)
    assert still_off(es, index) and still_off(es, DEADLETTER_INDEX)


@pytest.fixture
def serving_without_refresh(tmp_path: Path) -> Iterator[None]:
    """index_mappings/ with `refresh_interval: -1` in settings.json, as an operator may serve:
    new indices, and a re-index's finished one, never refresh by themselves. (In this process
    only: the flows below run in it.)"""
    folder = tmp_path / "index_mappings"
    shutil.copytree(templates.MAPPINGS_DIR, folder)
    path = folder / templates.SETTINGS_FILE
    body = json.loads(path.read_text(encoding="utf-8"))
    body["template"]["settings"]["refresh_interval"] = "-1"
    path.write_text(json.dumps(body), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(templates, "MAPPINGS_DIR", folder)
        templates.load_mapping_file.cache_clear()
        yield
    templates.load_mapping_file.cache_clear()


@pytest.mark.usefixtures("serving_without_refresh")
@pytest.mark.parametrize("mode", ["copy", "replay"])
def test_a_reindexed_index_is_searchable_as_soon_as_the_alias_moves(
    ingest, flow_env, es: Elasticsearch, settings: Settings, tmp_path: Path, mode: str
) -> None:
    dois = [f"10.1000/re.{n}" for n in range(5)]
    summary = ingest(write_feed(tmp_path / "feed.jsonl", dois))
    assert summary.outcomes["indexed"] == 5
    assert search_papers(settings, "leukopenia")["total"] == 5  # the ingest refreshed
    flow_env()

    result = reindex(ReindexParameters(mode=mode))

    assert (result["previous"], result["index"]) == ("papers-000001", "papers-000002")
    assert result["verification"]["documents"] == 5
    found = search_papers(settings, "leukopenia", size=10)
    assert {hit["index"] for hit in found["hits"]} == {"papers-000002"}
    assert sorted(hit["doi"] for hit in found["hits"]) == dois
    status = index_status(settings)
    assert (status["index"], status["documents"]) == ("papers-000002", 5)
    assert still_off(es, "papers-000002")


JCLINPATH = "10.1136/jclinpath-2020-206745"


def test_reenriched_documents_are_searchable_when_reenrichment_returns(
    prefect_harness: None,
    flow_env,
    es: Elasticsearch,
    settings: Settings,
    registry: FixtureServer,
    tmp_path: Path,
) -> None:
    flow_env(doi_lookup=DoiLookup.CACHE_ONLY)
    first = ingest_flow([str(write_feed(tmp_path / "feed.jsonl", [JCLINPATH]))])
    assert first["enrichment"] == {"cache_miss": 1}  # nothing cached: for reenrich to look up
    refresh_off(es, settings.alias)
    registry.serve_work(JCLINPATH, CROSSREF_WORKS[JCLINPATH])
    flow_env(**lookups_at(registry), es_timeout=5)

    assert reenrich()["updated"] == 1

    assert index_status(settings)["enrichment"] == {"enriched": 1}
