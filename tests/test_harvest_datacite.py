"""The OAI-PMH `datacite` prefix: Zenodo's recorded `ListRecords&metadataPrefix=datacite` page
(50 records in DataCite kernel-4 XML) served by a local repository, read by the connector,
decoded by the DataCite decoder, and harvested into the real engine (embedded OpenSearch)
from a source added with `sources add --prefix datacite`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flows.harvest import run_harvest
from scholarflow.engine.client import connect
from scholarflow.paper.models import Paper, RawRecord
from scholarflow.registry import reset_limiters
from scholarflow.settings import Settings
from scholarflow.stores.harvest_sources import HarvestSources, new_source
from tasks.decode import decode_record
from tasks.harvest import Harvest
from tasks.harvest.http import HarvestHttp
from tasks.harvest.oai import OaiPmh
from tests.conftest import assert_accounted
from tests.harvest_servers import OaiRepository, page
from tests.test_cli import run as cli

UNTIL = datetime(2026, 8, 13, tzinfo=UTC)


@pytest.fixture
def repository():
    """Zenodo's recorded DataCite page, as the last page of a harvest from the beginning."""
    reset_limiters()
    with OaiRepository() as server:
        server.windows[None] = page("derived_datacite_last_page.xml")
        yield server


def _records(repository: OaiRepository) -> tuple[Harvest, list[RawRecord]]:
    settings = Settings(_env_file=None, doi_rate=1000, doi_concurrency=4, harvest_timeout=5.0)
    oai = OaiPmh(
        new_source("zenodo", "oai-pmh", repository.base, prefix="datacite"),
        HarvestHttp(settings),
        settings,
    )
    (window,) = oai.windows(full=False, until=UNTIL)
    harvest = Harvest(window)
    return harvest, [r for r in oai.records(harvest) if isinstance(r, RawRecord)]


def _paper(records: list[RawRecord], identifier: str) -> Paper:
    (record,) = [r for r in records if r.location == identifier]
    paper = decode_record(record)
    assert isinstance(paper, Paper), paper
    return paper


def test_the_recorded_datacite_page_is_asked_for_and_read(repository):
    harvest, records = _records(repository)
    assert harvest.failure is None and harvest.pages == 1
    assert len(records) == 50
    assert all(r.format == "datacite" and r.error is None for r in records)
    asked = [a for a in repository.asked if a.get("verb") == "ListRecords"]
    assert asked[0]["metadataPrefix"] == "datacite"
    # Every recorded record decodes into a paper with a title and a DOI.
    papers = [decode_record(r) for r in records]
    assert all(isinstance(p, Paper) and p.title_en and p.doi for p in papers), papers


def test_creators_with_orcid_and_affiliation_subjects_date_and_type(repository):
    _, records = _records(repository)
    paper = _paper(records, "oai:zenodo.org:8433301")
    assert paper.doi == "10.5281/zenodo.8433301"
    assert paper.title_en == (
        "A new method for quantifying flake scar organisation on cores using orientation statistics"
    )
    (author,) = paper.authors
    assert (author.name, author.orcid) == ("Sam Lin", "0000-0001-6834-2646")
    assert author.affiliations == ["University of Wollongong"]
    assert paper.published is not None and paper.published.value.isoformat() == "2023-10-12"
    assert {"Archaeology", "Stone tools", "3D modeling"} <= set(paper.keywords)
    assert paper.publication_type == "Dataset"  # the general type: Zenodo gives no other
    assert paper.source_platform == "Zenodo"  # the repository's name, from Identify
    # A creator given only as one name keeps it; the affiliation comes along.
    first = _paper(records, "oai:zenodo.org:8435696")
    assert first.authors[0].name == "Matteo Marchegiani"
    assert first.authors[0].affiliations == ["ETH Zurich"]
    assert first.publication_type == "Presentation"  # the resource type, before its general kind


def test_a_plain_datacite_abstract_keeps_every_character(repository):
    """Dryad's abstract (via Zenodo) says `(p&lt;0.001)`: a `<` of plain text, kept."""
    _, records = _records(repository)
    (record,) = [
        r
        for r in records
        if r.payload and r.payload["metadata"]["identifier"]["value"] == "10.5061/dryad.qz612jmng"
    ]
    paper = decode_record(record)
    assert isinstance(paper, Paper)
    assert paper.abstract_en and "neurodegenerative disease (p<0.001)" in paper.abstract_en
    source = record.payload["metadata"]["descriptions"][0]["text"]
    assert paper.abstract_en == " ".join(source.split())


def test_sources_add_takes_datacite_and_the_harvest_indexes_its_records(settings, repository):
    settings = settings.model_copy(update={"doi_rate": 1000, "doi_concurrency": 4})
    refused = cli(
        settings, "sources", "add", "z", "--kind", "oai-pmh", "--url", repository.base,
        "--prefix", "marc21",
    )  # fmt: skip
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert "'marc21'" in line and "oai_dc, datacite" in line
    added = cli(
        settings, "sources", "add", "zenodo-datacite", "--kind", "oai-pmh", "--url",
        repository.base, "--prefix", "datacite",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert HarvestSources(connect(settings)).get("zenodo-datacite").prefix == "datacite"

    result = run_harvest(settings, "zenodo-datacite", until="2026-08-13")
    assert_accounted(result.run)
    data = result.as_dict()
    assert (data["status"], data["records_read"], data["indexed"], data["rejected"]) == (
        "harvested",
        50,
        50,
        0,
    )
    client = connect(settings)
    client.indices.refresh(index=settings.alias)
    found = client.search(index=settings.alias, query={"match": {"title_en": "flake scar"}})
    (hit,) = found["hits"]["hits"]
    assert hit["_id"] == "10.5281/zenodo.8433301"
    assert hit["_source"]["authors"][0]["orcid"] == "0000-0001-6834-2646"
