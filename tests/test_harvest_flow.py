"""Harvests end to end on the real engine (embedded OpenSearch): `sources add` + `harvest` pull a
multi-page OAI-PMH source from a local repository twice (the second run asks only for the new
window, indexes only what changed, and a record deleted upstream disappears from search), and a
broken page leaves the position where it was."""

from __future__ import annotations

import json

import pytest

from flows.harvest import run_harvest
from scholarflow.alerts.hits import HITS_INDEX, WatchHits
from scholarflow.engine.client import connect
from scholarflow.registry import reset_limiters
from scholarflow.settings import Settings
from scholarflow.stores.deadletters import DeadLetterStore
from scholarflow.stores.harvest_sources import HarvestSources, new_source
from scholarflow.stores.indices import live_index
from tests.conftest import assert_accounted
from tests.fixture_server import Reply
from tests.harvest_servers import OaiRepository, page, three_pages
from tests.test_cli import run as cli

SECOND = "2026-08-13T00:00:01Z"  # the second window starts one second after the first ended


@pytest.fixture
def repository():
    reset_limiters()
    with OaiRepository() as server:
        three_pages(server)
        server.windows[SECOND] = page("derived_second_window.xml")
        yield server


def _polite(settings: Settings) -> Settings:
    return settings.model_copy(update={"doi_rate": 1000, "doi_concurrency": 4})


def _titles(settings: Settings, text: str) -> int:
    client = connect(settings)
    index = live_index(client, settings.alias)
    client.indices.refresh(index=index)
    query = {"match": {"title_en": text}}
    return int(client.count(index=settings.alias, query=query)["count"])


def test_two_harvests_ask_only_for_the_new_window_and_apply_its_deletion(settings, repository):
    settings = _polite(settings)
    client = connect(settings)
    HarvestSources(client).add(new_source("zenodo", "oai-pmh", repository.base))

    first = run_harvest(settings, "zenodo", until="2026-08-13")
    assert_accounted(first.run)
    data = first.as_dict()
    assert data["status"] == "harvested" and data["error"] is None
    assert data["records_read"] == 9  # 8 records and 1 deleted header
    assert (data["indexed"], data["merged"], data["unchanged"], data["rejected"]) == (8, 0, 0, 0)
    assert data["deleted"] == 1 and data["deletions"] == {"removed": 0, "held": 0, "absent": 1}
    assert data["harvested_from"] is None and data["harvested_until"] == "2026-08-13T00:00:00Z"
    assert data["pages"] == 3
    assert HarvestSources(client).get("zenodo").harvested_until == "2026-08-13T00:00:00Z"
    assert _titles(settings, "PocketCoffea") == 1

    asked_before = len(repository.asked)
    second = run_harvest(settings, "zenodo", until="2026-08-14").as_dict()
    window = [a for a in repository.asked[asked_before:] if a.get("verb") == "ListRecords"]
    assert window == [
        {
            "verb": "ListRecords",
            "metadataPrefix": "oai_dc",
            "from": SECOND,
            "until": "2026-08-14T00:00:00Z",
        }
    ]
    assert second["records_read"] == 3
    assert (second["indexed"], second["unchanged"], second["deleted"]) == (1, 1, 1)
    assert second["deletions"] == {"removed": 1, "held": 0, "absent": 0}
    assert _titles(settings, "PocketCoffea") == 0  # deleted upstream: gone from search
    assert client.count(index=settings.alias)["count"] == 8
    assert HarvestSources(client).get("zenodo").harvested_until == "2026-08-14T00:00:00Z"

    third = run_harvest(settings, "zenodo", until="2026-08-14").as_dict()
    assert third["status"] == "up to date" and third["records_read"] == 0


def test_a_broken_page_is_dead_lettered_and_the_position_stays(settings, repository):
    settings = _polite(settings)
    client = connect(settings)
    HarvestSources(client).add(new_source("zenodo", "oai-pmh", repository.base))
    run_harvest(settings, "zenodo", until="2026-08-13")
    broken = page("derived_second_window.xml").body
    repository.windows[SECOND] = Reply(
        200, broken[: len(broken) // 3], {"content-type": "text/xml"}
    )

    failed = run_harvest(settings, "zenodo", until="2026-08-14")
    assert_accounted(failed.run)
    data = failed.as_dict()
    assert data["status"] == "failed"
    assert data["error"].startswith(f"source zenodo: {repository.base} window {SECOND}..")
    assert "page 1: malformed XML (line" in data["error"]
    assert data["rejected"] == 1 and data["rejected_by_stage"]["fetch"]["reasons"] == {
        "malformed XML": 1
    }
    assert HarvestSources(client).get("zenodo").harvested_until == "2026-08-13T00:00:00Z"
    assert HarvestSources(client).get("zenodo").last_status == "failed"
    (entry,) = DeadLetterStore(client).page().entries
    assert entry["source"] == repository.base and "page 1" in entry["location"]

    repository.windows[SECOND] = page("derived_second_window.xml")  # the repository recovers
    again = run_harvest(settings, "zenodo", until="2026-08-14").as_dict()
    assert again["status"] == "harvested" and again["from" if False else "harvested_from"] == SECOND
    assert (again["indexed"], again["unchanged"], again["deleted"]) == (1, 1, 1)
    assert client.count(index=settings.alias)["count"] == 8  # nothing indexed twice


def test_a_deleted_paper_leaves_the_saved_searches_finds(settings, repository):
    settings = _polite(settings)
    client = connect(settings)
    HarvestSources(client).add(new_source("zenodo", "oai-pmh", repository.base))
    run_harvest(settings, "zenodo", until="2026-08-13")
    hits = WatchHits(client)
    from scholarflow.alerts.hits import RunMatches

    found = RunMatches("coffea", cap=5)
    found.add({"id": "10.5281/zenodo.8435696", "title_en": "PocketCoffea"})
    found.add({"id": "10.5281/zenodo.8435639", "title_en": "H2020 Platone"})
    hits.record("run-1", "2026-08-13T00:00:00Z", [found])
    run_harvest(settings, "zenodo", until="2026-08-14")
    (stored,) = hits.runs("coffea")
    assert [p["id"] for p in stored["papers"]] == ["10.5281/zenodo.8435639"]
    assert stored["matched"] == 1
    assert client.indices.exists(index=HITS_INDEX)


def test_sources_add_and_harvest_from_the_command_line(settings, repository, prefect_api_url):
    env = {"PREFECT_API_URL": prefect_api_url, "SCHOLARFLOW_DOI_RATE": "1000"}
    added = cli(
        settings, "sources", "add", "zenodo", "--kind", "oai-pmh", "--url", repository.base, **env
    )
    assert added.returncode == 0, added.stderr
    again = cli(
        settings, "sources", "add", "zenodo", "--kind", "oai-pmh", "--url", repository.base, **env
    )
    assert again.returncode == 1 and "exists already" in again.stderr
    listed = cli(settings, "sources", "list", "--json", **env)
    assert [s["name"] for s in json.loads(listed.stdout)["sources"]] == ["zenodo"]

    first = cli(settings, "harvest", "zenodo", "--until", "2026-08-13", "--json", **env)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    keys = {"records_read", "indexed", "merged", "unchanged", "rejected", "deleted"}
    assert keys | {"harvested_from", "harvested_until"} <= set(summary)
    assert summary["records_read"] == sum(summary[k] for k in keys - {"records_read"})
    assert summary["indexed"] == 8

    second = cli(settings, "harvest", "zenodo", "--until", "2026-08-14", **env)
    assert second.returncode == 0, second.stderr
    assert (
        "3 records read from zenodo (2026-08-13T00:00:01Z .. 2026-08-14T00:00:00Z" in second.stdout
    )
    assert "1 removed from the index" in second.stdout
    assert _titles(settings, "PocketCoffea") == 0

    repository.windows["2026-08-14T00:00:01Z"] = page("sickle_cannotDisseminateFormat.xml")
    wrong = cli(settings, "harvest", "zenodo", "--until", "2026-08-15", **env)
    assert wrong.returncode == 1
    (line,) = wrong.stderr.strip().splitlines()
    assert "OAI-PMH error cannotDisseminateFormat" in line and "page 1" in line
    assert "Traceback" not in wrong.stderr
    removed = cli(settings, "sources", "remove", "zenodo", **env)
    assert removed.returncode == 0 and "removed" in removed.stdout


def test_a_record_seen_through_two_sources_merges_and_a_deletion_by_one_keeps_it(
    settings, repository
):
    settings = _polite(settings)
    client = connect(settings)
    sources = HarvestSources(client)
    sources.add(new_source("zenodo", "oai-pmh", repository.base))
    sources.add(new_source("zenodo-data", "oai-pmh", repository.base, set="openaire_data"))
    run_harvest(settings, "zenodo", until="2026-08-13")
    other = run_harvest(settings, "zenodo-data", until="2026-08-13").as_dict()
    assert other["records_read"] == 9 and other["indexed"] + other["merged"] == 8
    assert client.count(index=settings.alias)["count"] == 8  # the same papers, merged by DOI
    doc = client.get(index=settings.alias, id="10.5281/zenodo.8435696")["_source"]
    origins = {p["source"] for p in doc["provenance"]}
    assert origins == {repository.base, f"{repository.base}?set=openaire_data"}

    second = run_harvest(settings, "zenodo", until="2026-08-14").as_dict()
    assert second["deletions"] == {"removed": 0, "held": 1, "absent": 0}
    assert _titles(settings, "PocketCoffea") == 1  # the other source still has it


def test_a_harvested_record_dead_lettered_at_decode_replays_in_its_format(settings):
    from flows.replay import entry_records
    from scholarflow.paper.models import RawRecord
    from tasks.decode import decode_record

    client = connect(settings)
    record = RawRecord(
        "https://zenodo.org/oai2d",
        "oai:zenodo.org:1",
        payload={"identifier": "oai:zenodo.org:1", "metadata": {"creator": ["Doe, J."]}},
        format="oai_dc",
    )
    rejection = decode_record(record)
    assert rejection.reason == "no title in any language"
    store = DeadLetterStore(client)
    assert store.add([rejection], [record], "run-1") == 1
    store.refresh()
    (entry,) = store.page().entries
    (again,) = entry_records(store.get([entry["id"]])[entry["id"]])
    assert again.format == "oai_dc" and again.payload == record.payload


def test_a_files_source_is_read_by_the_ingest_and_skipped_once_ingested(settings):
    from tests.conftest import SEED_RECORDS

    client = connect(settings)
    HarvestSources(client).add(new_source("seeds", "files", str(SEED_RECORDS)))
    first = run_harvest(settings, "seeds")
    assert_accounted(first.run)
    assert first.as_dict()["records_read"] == 33 and first.run.sources_read == 21
    again = run_harvest(settings, "seeds").as_dict()
    assert again["records_read"] == 0 and again["sources_skipped"] == 21
    assert HarvestSources(client).get("seeds").last_status == "up to date"


def test_crossref_and_openalex_harvests_index_their_works(settings, tmp_path):
    """The recorded Crossref pages and an OpenAlex snapshot through the whole path: the strict
    paper mapping takes what their decoders give (ORCID iDs, every ISSN)."""
    import gzip
    from urllib.parse import parse_qs

    from tests.fixture_server import FIXTURES, FixtureServer

    crossref = FIXTURES / "harvest" / "crossref"
    reply = {
        name: Reply(200, (crossref / name).read_bytes(), {"content-type": "application/json"})
        for name in (
            "habanero_cursor_widget_page1.json",
            "habanero_cursor_widget_page2.json",
            "habanero_cursor_widget_page3.json",
            "handwritten_cursor_end_empty_items.json",
        )
    }
    later = list(reply.values())[1:]

    def answer(query: str) -> Reply:
        if parse_qs(query)["cursor"][0] == "*":
            return reply["habanero_cursor_widget_page1.json"]
        return later.pop(0) if len(later) > 1 else later[0]

    work = (FIXTURES / "harvest" / "openalex" / "docs_assembled_work_W2741809807.json").read_bytes()
    folder = tmp_path / "updated_date=2026-01-01"
    folder.mkdir()
    with gzip.open(folder / "part_000.gz", "wb") as part:
        part.write(work.replace(b"\n", b"") + b"\n")

    settings = _polite(settings).model_copy(update={"harvest_rows": 20})
    client = connect(settings)
    reset_limiters()
    with FixtureServer() as server:
        server.respond("/works", answer)
        HarvestSources(client).add(new_source("widgets", "crossref", server.url))
        HarvestSources(client).add(new_source("oa", "openalex", str(tmp_path)))
        widgets = run_harvest(settings, "widgets", until="2026-08-13")
        snapshot = run_harvest(settings, "oa")
    assert_accounted(widgets.run)
    data = widgets.as_dict()
    assert data["records_read"] == 60 and data["rejected"] == 0
    assert data["indexed"] + data["merged"] == 60 and data["pages"] == 4
    assert snapshot.as_dict()["indexed"] == 1
    assert HarvestSources(client).get("oa").harvested_until == "2026-01-01"
    client.indices.refresh(index=live_index(client, settings.alias))
    doc = client.get(index=settings.alias, id="10.7717/peerj.4375")["_source"]
    assert doc["authors"][0] == {
        "name": "Heather Piwowar",
        "orcid": "0000-0003-1613-5981",
        "affiliations": [],
    }
    assert doc["journal"]["issn"] == ["2167-8359"]
    assert doc["abstract_en"].startswith("Despite growing interest in Open Access")
