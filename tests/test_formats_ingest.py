"""The recorded exports of every file format ingested into the real embedded engine
(OpenSearch 2.19.6): every record accounted for, the papers searchable in English and Chinese,
broken records dead-lettered with their file and line while the rest are indexed, and a PubMed
update file's deletions read and accounted for (tests/test_pubmed_deletions.py applies them)."""

from __future__ import annotations

import shutil
from pathlib import Path

from elasticsearch import Elasticsearch

from flows.ingest import run_ingest
from flows.replay import entry_records
from scholarflow.paper.models import Outcome, RunSummary
from scholarflow.search.service import search_papers
from scholarflow.settings import Settings
from scholarflow.stores.deadletters import DEADLETTER_INDEX
from tests.conftest import assert_accounted

FORMATS = Path(__file__).parent / "fixtures" / "formats"


def ingest(settings: Settings, *paths: Path, format: str | None = None) -> RunSummary:
    summary = run_ingest(settings, [str(p) for p in paths], 100, full=True, format=format)
    assert_accounted(summary)
    return summary


def dead_letters(es: Elasticsearch) -> list[dict]:
    es.indices.refresh(index=DEADLETTER_INDEX)
    hits = es.search(index=DEADLETTER_INDEX, size=100, query={"match_all": {}})["hits"]["hits"]
    return [hit["_source"] for hit in hits]


def test_every_recorded_export_is_ingested_and_accounted_for(
    settings: Settings, es: Elasticsearch
) -> None:
    summary = ingest(settings, FORMATS)
    # 143 records: 13 PubMed (one a book; the update file repeats two), 10 RIS, 34 BibTeX,
    # 4 EndNote, 4 RefWorks, 78 NoteExpress (the GB18030 copy repeats the Wanfang export's 20).
    assert summary.records_read == 143
    assert summary.deletions_read == 2  # the update file's DeleteCitation
    rejected = summary.rejected_by_stage()
    # Four RIS records of rispy's own tests carry no title (only a DOI, or notes): rejected
    # with the reason, nothing else.
    assert rejected == {"decode": {"count": 4, "reasons": {"no title in any language": 4}}}
    # The GB18030 copy's 20 records and the update file's 2 articles (also in pubmed2.xml)
    # add no papers: same texts, same ids.
    assert summary.outcomes[Outcome.MERGED] + summary.outcomes[Outcome.UNCHANGED] >= 22
    hits = search_papers(settings, "前锯肌平面阻滞")
    assert hits["total"] >= 1
    assert hits["hits"][0]["title_zh"].startswith("超声引导下前锯肌平面阻滞")
    pubmed = search_papers(settings, "pulmonary imaging biomarker pipeline")
    assert pubmed["hits"][0]["doi"] == "10.1117/1.jmi.5.2.026002"
    stored = es.get(index=settings.alias, id="10.1117/1.jmi.5.2.026002")["_source"]
    assert stored["pmid"] == "29963580" and stored["pmcid"] == "PMC6022861"
    assert {a.get("orcid") for a in stored["authors"]} >= {"0000-0002-4590-7461"}
    by_pmid = es.search(index=settings.alias, query={"term": {"pmid": "20821847"}})
    assert by_pmid["hits"]["total"]["value"] == 1  # the book article, found by its PMID


def test_a_broken_record_in_the_middle_of_each_export_costs_that_record_only(
    settings: Settings, es: Elasticsearch, tmp_path: Path
) -> None:
    ris = (FORMATS / "ris" / "rispy_example_full.ris").read_text("utf-8")
    headless = ris.replace("2.\nTY  - JOUR\n", "2.\n", 1)
    (tmp_path / "headless.ris").write_text(headless + ris)
    stray_line = headless.splitlines().index("ID  - 12345", 5) + 1  # the second record's
    xml = (FORMATS / "medline" / "zotero_pubmed_two_articles.xml").read_text("utf-8")
    (tmp_path / "broken.xml").write_text(xml.replace("</ArticleTitle>", "</ArticleTitel>", 1))
    net = (FORMATS / "noteexpress" / "cnki_Classic5Test.net").read_text("utf-8")
    third = net.index("{Reference Type}", net.index("{Reference Type}", 1) + 1)
    (tmp_path / "cnki.net").write_text(
        net[:third] + net[third:].replace("{Reference Type}: Journal Article\n", "", 1)
    )
    (tmp_path / "unknown.enw").write_bytes(bytes(range(128, 256)) * 10)

    summary = ingest(settings, tmp_path)
    # RIS: 3 good of 4 (the headless one rejected); PubMed: 1 of 2; NoteExpress: 4 of 5; the
    # file in no encoding: one rejection for the file
    assert summary.records_read == 4 + 2 + 5 + 1
    assert summary.outcomes[Outcome.REJECTED] == 4
    assert summary.outcomes[Outcome.INDEXED] + summary.outcomes[Outcome.MERGED] == 8
    entries = {entry["source"].rsplit("/", 1)[1]: entry for entry in dead_letters(es)}
    assert set(entries) == {"headless.ris", "broken.xml", "cnki.net", "unknown.enw"}
    assert entries["headless.ris"]["reason"] == "text outside any record"
    assert entries["headless.ris"]["location"] == f"line {stray_line}"
    assert entries["broken.xml"]["reason"] == "malformed PubMed XML"
    assert entries["broken.xml"]["location"] == "record 1 (line 4)"
    assert entries["cnki.net"]["reason"] == "text outside any record"
    assert entries["cnki.net"]["location"].startswith("line ")
    assert entries["unknown.enw"]["reason"] == "not text in UTF-8 or any other encoding"
    assert entries["unknown.enw"]["location"] == "document"
    # an entry is read again in its own format on replay (and is still broken)
    (again,) = entry_records(entries["broken.xml"])
    assert again.format == "medline" and again.error == "malformed PubMed XML"


def test_a_forced_format_reads_a_file_whatever_its_name(settings: Settings, tmp_path: Path) -> None:
    odd = tmp_path / "wanfang-export.dat"
    shutil.copy(FORMATS / "noteexpress" / "wanfang_demo_202101_gb18030.net", odd)
    summary = ingest(settings, odd, format="noteexpress")
    assert summary.records_read == 20 and summary.outcomes[Outcome.INDEXED] == 20
    hits = search_papers(settings, "乳腺癌")
    assert hits["total"] >= 1


def test_an_index_made_before_the_new_fields_gets_them(es: Elasticsearch) -> None:
    """An index created before papers had `pmid` and authors `affiliations` takes the new
    fields, top-level and inside `authors`, so PubMed papers are not refused by its strict
    mapping (`ensure_live_index` calls this for the live index)."""
    from scholarflow.stores.indices import add_new_fields
    from scholarflow.stores.templates import MAPPINGS_FILE, load_mapping_file

    es.indices.create(
        index="legacy-papers",
        mappings={
            "dynamic": "strict",
            "properties": {"authors": {"properties": {"name": {"type": "keyword"}}}},
        },
    )
    properties = load_mapping_file(MAPPINGS_FILE)["template"]["mappings"]["properties"]
    wanted = {
        "pmid": properties["pmid"],
        "authors": {
            "properties": {
                "name": {"type": "keyword"},
                "affiliations": {"type": "keyword"},
            }
        },
    }
    refused = add_new_fields(
        es, "legacy-papers", es.indices.get_mapping(index="legacy-papers").body, wanted
    )
    assert refused == []
    now = es.indices.get_mapping(index="legacy-papers")["legacy-papers"]["mappings"]
    assert now["properties"]["pmid"] == {"type": "keyword"}
    assert now["properties"]["authors"]["properties"]["affiliations"] == {"type": "keyword"}
    es.index(
        index="legacy-papers",
        document={"pmid": "1", "authors": [{"name": "A", "affiliations": ["B"]}]},
        refresh=True,
    )
