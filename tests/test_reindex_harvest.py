"""A replay re-index harvests the alias's harvest sources again, on the real engine (embedded
OpenSearch) and a real Prefect server, against a local OAI-PMH repository replaying Zenodo's
recorded pages (tests/harvest_servers.py): papers that came only from a harvest survive it, and
a source that cannot be reached stops the plan with the alias where it was."""

from __future__ import annotations

import pytest
from elasticsearch import helpers

from flows.harvest import run_harvest
from flows.reindex import ReindexParameters, reindex
from scholarflow.engine.client import connect
from scholarflow.registry import reset_limiters
from scholarflow.settings import Settings, get_settings
from scholarflow.stores.harvest_sources import HarvestSources, new_source
from scholarflow.stores.indices import ReindexError, generations, live_index
from tasks.reindex import plan_reindex
from tests.harvest_servers import OaiRepository, page, three_pages, token_of
from tests.test_cli import run as cli
from tests.test_reindex_flow import flow_settings  # noqa: F401 (a fixture)

UNTIL = "2026-08-13"


@pytest.fixture
def harvest_settings(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The seeded engine (the seed files, ingested) as the flows see it (the re-index tests'
    `flow_settings`), polite to the local repository and quick to give up on one gone."""
    request.getfixturevalue("flow_settings")
    monkeypatch.setenv("SCHOLARFLOW_DOI_RATE", "1000")
    monkeypatch.setenv("SCHOLARFLOW_HARVEST_ATTEMPTS", "2")
    get_settings.cache_clear()
    reset_limiters()
    return get_settings()


def _documents(settings: Settings, index: str) -> dict[str, list[str]]:
    """Every document of `index`: its id → the sources its provenance names."""
    client = connect(settings)
    client.indices.refresh(index=index)
    hits = helpers.scan(client, index=index, query={"_source": ["provenance.source"]})
    return {
        hit["_id"]: sorted({p["source"] for p in hit["_source"].get("provenance") or []})
        for hit in hits
    }


def _harvested(settings: Settings, repository: OaiRepository) -> str:
    """The seeds plus Zenodo's three recorded pages harvested into the alias; returns the
    source's origin."""
    client = connect(settings)
    HarvestSources(client).add(new_source("zenodo", "oai-pmh", repository.base))
    result = run_harvest(settings, "zenodo", until=UNTIL).as_dict()
    assert (result["status"], result["indexed"], result["rejected"]) == ("harvested", 8, 0)
    assert HarvestSources(client).get("zenodo").aliases == [settings.alias]
    return HarvestSources(client).get("zenodo").origin


@pytest.mark.slow
def test_a_replay_harvests_again_and_keeps_every_harvested_paper(
    harvest_settings: Settings,
) -> None:
    with OaiRepository() as repository:
        three_pages(repository)
        origin = _harvested(harvest_settings, repository)
        before = _documents(harvest_settings, "papers-000001")
        only_harvested = [i for i, sources in before.items() if sources == [origin]]
        from_files = [i for i, sources in before.items() if origin not in sources]
        assert len(only_harvested) == 8 and len(from_files) == 32

        plan = plan_reindex(connect(harvest_settings), harvest_settings, "replay", 2)
        assert plan.harvests == ["zenodo"] and plan.files  # the seed files and the harvest
        asked = len(repository.asked)
        result = reindex(parameters=ReindexParameters(mode="replay", batch_size=8))

    # The harvest was asked again in full, up to the saved position, not past it.
    listed = [a for a in repository.asked[asked:] if a.get("verb") == "ListRecords"]
    assert listed[0] == {
        "verb": "ListRecords",
        "metadataPrefix": "oai_dc",
        "until": UNTIL + "T00:00:00Z",
    }
    assert len(listed) == 3  # the three recorded pages
    client = connect(harvest_settings)
    assert live_index(client, "papers") == "papers-000002"
    after = _documents(harvest_settings, "papers-000002")
    assert after == before  # every paper, with every source it came from
    replay = result["load"]["replay"]
    assert replay["records_read"] == 33 + 8  # the seeds' records, then the harvested ones
    assert replay["deletions_read"] == 1 and replay["deletions"]["absent"] == 1
    assert result["verification"] | {"removed_sample": []} == result["verification"]
    assert (result["verification"]["documents"], result["verification"]["removed"]) == (40, 0)
    # The source's position is the live harvests': a replay does not move it.
    assert HarvestSources(client).get("zenodo").harvested_until == UNTIL + "T00:00:00Z"


@pytest.mark.slow
def test_a_replay_refuses_when_a_harvest_source_cannot_be_reached(
    harvest_settings: Settings,
) -> None:
    with OaiRepository() as repository:
        three_pages(repository)
        _harvested(harvest_settings, repository)
        gone = repository.base
    # The repository has stopped: nothing listens at its address any more.

    with pytest.raises(ReindexError) as refused:
        reindex(parameters=ReindexParameters(mode="replay", batch_size=8))
    line = str(refused.value)
    assert "harvest source zenodo" in line and gone in line and "\n" not in line
    assert "source unreachable" in line

    client = connect(harvest_settings)
    assert live_index(client, "papers") == "papers-000001"
    assert generations(client, "papers") == ["papers-000001"]  # nothing was built
    assert len(_documents(harvest_settings, "papers-000001")) == 40

    # The command says the same in one line, and a dry run plans the same refusal.
    for args in (["--mode", "replay"], ["--mode", "replay", "--dry-run"]):
        done = cli(harvest_settings, "reindex", *args, SCHOLARFLOW_HARVEST_ATTEMPTS="1")
        output = done.stdout + done.stderr
        assert done.returncode != 0 and "harvest source zenodo" in output, output
        assert "the alias was not moved" in done.stderr
        assert "Traceback" not in output and len(done.stderr.strip().splitlines()) == 1
    assert generations(client, "papers") == ["papers-000001"]


@pytest.mark.slow
def test_a_harvest_that_breaks_during_the_replay_rolls_it_back(harvest_settings: Settings) -> None:
    """The repository answers Identify (the plan passes) but its second page is now an HTML
    error page: the load stops, the half-built index goes, the alias stays."""
    with OaiRepository() as repository:
        three_pages(repository)
        _harvested(harvest_settings, repository)
        token = token_of("zenodo_listrecords_oai_dc_page1.xml")
        repository.tokens[token] = [page("httpbun_html_not_oai.html")]
        with pytest.raises(ReindexError) as stopped:
            reindex(parameters=ReindexParameters(mode="replay", batch_size=8))
    line = str(stopped.value)
    assert line.startswith("harvest source zenodo could not be harvested again: ")
    assert "page 2" in line and "an HTML page, not OAI-PMH XML" in line

    client = connect(harvest_settings)
    assert live_index(client, "papers") == "papers-000001"
    assert generations(client, "papers") == ["papers-000001"]  # the half-built one is gone
    assert len(_documents(harvest_settings, "papers-000001")) == 40
