"""PubMed's `DeleteCitation` applied on the real engine (embedded OpenSearch 2.19.6): an ingest
of an update file and a harvest of a `pubmed` source delete the papers whose PMIDs PubMed
withdrew, keep one another source still gives (held), and count an unknown PMID as absent;
every deletion read is accounted for."""

from __future__ import annotations

from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from flows.harvest import run_harvest
from flows.ingest import run_ingest
from scholarflow.engine.client import connect
from scholarflow.settings import Settings
from scholarflow.stores.harvest_sources import HarvestSources, new_source
from tests.conftest import assert_accounted
from tests.test_reindex_flow import flow_settings  # noqa: F401 (a fixture)

MEDLINE = Path(__file__).parent / "fixtures" / "formats" / "medline"
# PMIDs of biopython_pubmed1.xml: a MEDLINE article and a 1976 one, both with a DOI-less record.
FIRST, SECOND = "12091962", "9997"
UNKNOWN = "11748935"


def update_file(folder: Path, *pmids: str) -> Path:
    """A PubMed update file: biopython_pubmed2.xml's articles with a `DeleteCitation` of
    `pmids` (the deletion element written here, as tests/fixtures/formats/README.md says of
    pubmed_update_with_deletions.xml)."""
    text = (MEDLINE / "biopython_pubmed2.xml").read_text("utf-8")
    deletion = "".join(f'<PMID Version="1">{p}</PMID>' for p in pmids)
    text = text.replace(
        "</PubmedArticleSet>", f"<DeleteCitation>{deletion}</DeleteCitation>\n</PubmedArticleSet>"
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pubmed25n0002.xml"
    path.write_text(text, "utf-8")
    return path


def by_pmid(es: Elasticsearch, settings: Settings, pmid: str) -> int:
    es.indices.refresh(index=settings.alias)
    return int(es.count(index=settings.alias, query={"term": {"pmid": pmid}})["count"])


def test_an_ingested_update_file_deletes_the_papers_pubmed_withdrew(
    settings: Settings, es: Elasticsearch, tmp_path: Path
) -> None:
    first = run_ingest(settings, [str(MEDLINE / "biopython_pubmed1.xml")], 100, full=True)
    assert_accounted(first)
    assert by_pmid(es, settings, FIRST) == 1 and by_pmid(es, settings, SECOND) == 1

    update = update_file(tmp_path / "updates", FIRST, UNKNOWN)
    summary = run_ingest(settings, [str(update)], 100, full=True)
    assert_accounted(summary)
    assert summary.deletions_read == 2
    assert summary.as_dict()["deletions"] == {"removed": 1, "held": 0, "absent": 1}
    assert by_pmid(es, settings, FIRST) == 0  # withdrawn: gone from the index
    assert by_pmid(es, settings, SECOND) == 1  # not named: untouched


def test_a_paper_another_source_also_gives_is_held(
    settings: Settings, es: Elasticsearch, tmp_path: Path
) -> None:
    """The same article from PubMed and from a RIS export with its PMID merge under one DOI
    or id; PubMed withdrawing its record leaves the paper the export still gives."""
    run_ingest(settings, [str(MEDLINE / "biopython_pubmed2.xml")], 100, full=True)
    doc = es.search(index=settings.alias, query={"term": {"pmid": "11748933"}})["hits"]["hits"]
    (hit,) = doc
    export = tmp_path / "export.ris"
    export.write_text(
        f"TY  - JOUR\nTI  - {hit['_source']['title_en']}\nDO  - {hit['_source']['doi']}\nER  - \n",
        "utf-8",
    )
    merged = run_ingest(settings, [str(export)], 100, full=True)
    assert_accounted(merged)
    update = update_file(tmp_path / "updates", "11748933")
    summary = run_ingest(settings, [str(update)], 100, full=True)
    assert summary.as_dict()["deletions"] == {"removed": 0, "held": 1, "absent": 0}
    assert by_pmid(es, settings, "11748933") == 1


def test_a_pubmed_source_harvests_its_folder_and_applies_the_deletions(
    settings: Settings, es: Elasticsearch, tmp_path: Path
) -> None:
    folder = tmp_path / "updatefiles"
    folder.mkdir()
    (folder / "pubmed25n0001.xml").write_bytes((MEDLINE / "biopython_pubmed1.xml").read_bytes())
    HarvestSources(es).add(new_source("pubmed", "pubmed", str(folder)))
    first = run_harvest(settings, "pubmed").as_dict()
    assert first["records_read"] == 2 and first["indexed"] == 2 and first["deleted"] == 0

    update_file(folder, SECOND)
    second = run_harvest(settings, "pubmed").as_dict()
    # Only the new file is read (the first is skipped as ingested): its 2 articles and 1 deletion.
    assert second["sources_skipped"] == 1
    assert second["deleted"] == 1 and second["deletions"]["removed"] == 1
    assert second["records_read"] == 2 + 1
    assert by_pmid(es, settings, SECOND) == 0 and by_pmid(es, settings, FIRST) == 1


def test_a_replay_reindex_applies_the_deletions_of_the_update_files_it_reads_again(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The seeds, a PubMed baseline file and an update file withdrawing one of its articles
    are ingested; a replay re-index reads all of them again, in order, into a new index: the
    withdrawn paper stays withdrawn (it was once read back in as 'deletion not applied')."""
    from flows.reindex import ReindexParameters, reindex

    settings: Settings = request.getfixturevalue("flow_settings")  # the seeds, as flows see them
    es = connect(settings)
    baseline = tmp_path / "baseline" / "pubmed25n0001.xml"
    baseline.parent.mkdir()
    baseline.write_text((MEDLINE / "biopython_pubmed1.xml").read_text("utf-8"), "utf-8")
    assert_accounted(run_ingest(settings, [str(baseline)], 100))
    update = update_file(tmp_path / "updates", FIRST)
    assert_accounted(run_ingest(settings, [str(update)], 100))
    assert by_pmid(es, settings, FIRST) == 0 and by_pmid(es, settings, SECOND) == 1

    result = reindex(parameters=ReindexParameters(mode="replay", batch_size=50))
    replay = result["load"]["replay"]
    assert replay["deletions"] == {"removed": 1, "held": 0, "absent": 0}
    assert replay["deletions_read"] == 1
    assert all(r["reason"] != "deletion not applied" for r in replay["rejections"])
    assert by_pmid(es, settings, FIRST) == 0  # still withdrawn, in the new index
    assert by_pmid(es, settings, SECOND) == 1
    assert result["verification"]["documents"] == es.count(index=settings.alias)["count"]
