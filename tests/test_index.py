"""The index stage and bilingual search, against the real embedded engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from elasticsearch import Elasticsearch

from scholarflow.engine.transport import EngineNode
from scholarflow.paper.models import Outcome, Paper, Provenance
from scholarflow.search.service import search_papers
from scholarflow.settings import Settings
from scholarflow.status import index_status
from scholarflow.stores.indices import ensure_live_index, live_index
from tasks.index import index_papers
from tests.conftest import SEED_RECORDS, ingest_plain

LEUKOPENIA = "10.1080/25785826.2025.2563427"
DUPLICATED = "10.3969/j.issn.1005-9628.2021.01.001"


def paper(**fields) -> Paper:
    defaults = {"id": "10.1000/x", "doi": "10.1000/x", "title_en": "Spiders", "languages": ["en"]}
    return Paper(**{**defaults, **fields})


def test_template_is_accepted_and_strict(es: Elasticsearch, settings: Settings) -> None:
    index = ensure_live_index(es, settings.alias)
    assert index == "papers-000001" and live_index(es, "papers") == index
    mapping = es.indices.get_mapping(index=index)[index]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert mapping["properties"]["title_zh"]["analyzer"] == "chinese_text"
    tokens = es.indices.analyze(index=index, analyzer="chinese_text", text="白细胞")["tokens"]
    assert [t["token"] for t in tokens] == ["白", "白细", "细", "细胞", "胞"]
    result = index_papers(es, index, [paper()], "run")
    assert result.outcomes[Outcome.INDEXED] == 1
    # an unknown field is refused by the strict mapping, and reported per item, not raised
    refused = es.index(index=index, id="y", document={"title_en": "ok"})
    assert refused["result"] == "created"
    with pytest.raises(Exception, match="strict"):
        es.index(index=index, id="z", document={"surprise": 1})


def test_same_input_twice_writes_nothing(es: Elasticsearch, settings: Settings) -> None:
    first = ingest_plain(settings, [SEED_RECORDS])
    second = ingest_plain(settings, [SEED_RECORDS])
    total = first["read"]
    assert first["result"].outcomes[Outcome.INDEXED] == total - 1
    assert first["result"].outcomes[Outcome.MERGED] == 1
    assert second["result"].written == 0
    assert (
        second["result"].outcomes[Outcome.UNCHANGED] + second["result"].outcomes[Outcome.MERGED]
        == total
    )
    assert es.count(index="papers")["count"] == total - 1


def test_duplicates_are_merged_not_dropped(es: Elasticsearch, settings: Settings) -> None:
    ingest_plain(settings, [SEED_RECORDS])
    doc = es.get(index="papers", id=DUPLICATED)["_source"]
    sources = {Path(p["source"]).name for p in doc["provenance"]}
    assert sources == {"001_d0f09c4d024839cf.txt", "papers_wanfang.jsonl"}
    assert doc["title_en"] and doc["title_zh"]
    assert len(doc["record_hashes"]) == 2


def test_duplicates_across_batches_merge_into_one_document(
    es: Elasticsearch, settings: Settings
) -> None:
    index = ensure_live_index(es, settings.alias)
    first = paper(title_zh=None, provenance=[Provenance(source="a", location="line 1")])
    second = paper(
        title_en="Spiders!",
        title_zh="蜘蛛",
        abstract_en="More.",
        provenance=[Provenance(source="b", location="line 9")],
    )
    assert index_papers(es, index, [first], "run-1").outcomes[Outcome.INDEXED] == 1
    assert index_papers(es, index, [second], "run-1").outcomes[Outcome.MERGED] == 1
    doc = es.get(index=index, id="10.1000/x")["_source"]
    assert doc["title_en"] == "Spiders"  # the record read first wins conflicts
    assert (doc["title_zh"], doc["abstract_en"]) == ("蜘蛛", "More.")  # gaps are filled
    assert [p["source"] for p in doc["provenance"]] == ["a", "b"]


def test_changed_record_is_rewritten(es: Elasticsearch, settings: Settings) -> None:
    index = ensure_live_index(es, settings.alias)
    origin = [Provenance(source="a", location="line 1")]
    index_papers(es, index, [paper(provenance=origin)], "run-1")
    result = index_papers(
        es, index, [paper(title_en="Spiders, revised", provenance=origin)], "run-2"
    )
    assert (result.outcomes[Outcome.INDEXED], result.written) == (1, 1)
    assert es.get(index=index, id="10.1000/x")["_source"]["title_en"] == "Spiders, revised"


def test_engine_refusal_becomes_a_rejection(es: Elasticsearch, settings: Settings) -> None:
    index = ensure_live_index(es, settings.alias)
    # A count beyond the mapping's integer range: valid for the model, refused by the engine.
    bad = paper(
        id="10.1000/big",
        doi="10.1000/big",
        citation_count=10**12,
        provenance=[Provenance(source="f.jsonl", location="line 3")],
    )
    result = index_papers(es, index, [bad, paper()], "run")
    assert result.outcomes[Outcome.INDEXED] == 1
    (rejection,) = result.rejections
    assert (rejection.stage.value, rejection.source, rejection.location) == (
        "index",
        "f.jsonl",
        "line 3",
    )
    assert "engine refused" in rejection.reason


_Mget = tuple[list[str] | None, list[dict[str, Any]]]


def recording_client(url: str) -> tuple[Elasticsearch, list[_Mget]]:
    """A client of the engine that notes each `_mget` it sends: the `_source_includes` it asked
    for (None: whole documents) and the documents the engine answered. A real transport node
    with a note-taking step, not a stand-in: the engine answers every request."""
    mgets: list[_Mget] = []

    class Recording(EngineNode):
        def perform_request(self, method, target, body=None, headers=None, **kwargs):  # type: ignore[override]
            answer = super().perform_request(method, target, body=body, headers=headers, **kwargs)
            url = urlsplit(target)
            if url.path.endswith("/_mget"):
                includes = parse_qs(url.query).get("_source_includes")
                fields = includes[0].split(",") if includes else None
                mgets.append((fields, orjson.loads(answer.body)["docs"]))
            return answer

    return Elasticsearch(url, node_class=Recording), mgets


def test_rerun_reads_only_what_the_decision_needs_and_duplicates_still_merge_whole(
    settings: Settings,
) -> None:
    es, mgets = recording_client(str(settings.es_url))
    index = ensure_live_index(es, settings.alias)
    first = paper(
        abstract_en="Eight legs.",
        subjects=["ZOOLOGY"],
        provenance=[Provenance(source="a", location="line 1")],
    )
    other = paper(id="10.1000/y", doi="10.1000/y", title_en="Ants")
    assert index_papers(es, index, [first, other], "run-1").outcomes[Outcome.INDEXED] == 2

    mgets.clear()
    rerun = index_papers(es, index, [first, other], "run-2")
    assert (rerun.outcomes, rerun.written) == ({Outcome.UNCHANGED: 2}, 0)
    ((fields, docs),) = mgets  # one lookup, and no whole document
    assert fields is not None
    answered = {key for doc in docs for key in doc["_source"]}
    # (and `former_ids`, which only a document that moved to its DOI has)
    assert answered == {"record_hashes", "run_id", "provenance", "doi"}
    provenances = [p for d in docs for p in d["_source"].get("provenance", [])]
    assert provenances and all(set(p) == {"source", "location"} for p in provenances)

    mgets.clear()
    duplicate = paper(
        title_en="Spiders!",
        title_zh="蜘蛛",
        provenance=[Provenance(source="b", location="line 9")],
    )
    merged = index_papers(es, index, [duplicate, other], "run-2")
    assert (merged.outcomes, merged.written) == ({Outcome.MERGED: 1, Outcome.UNCHANGED: 1}, 1)
    (_, slim), (whole_fields, whole) = mgets  # then the whole document, for the merge alone
    assert len(slim) == 2 and whole_fields is None
    assert [d["_id"] for d in whole] == ["10.1000/x"] and "abstract_en" in whole[0]["_source"]
    doc = es.get(index=index, id="10.1000/x")["_source"]
    assert (doc["title_en"], doc["title_zh"]) == ("Spiders", "蜘蛛")  # the stored record wins
    assert (doc["abstract_en"], doc["subjects"]) == ("Eight legs.", ["ZOOLOGY"])  # kept whole
    assert [p["source"] for p in doc["provenance"]] == ["a", "b"]
    assert len(doc["record_hashes"]) == 2


@pytest.mark.parametrize(
    "query",
    [
        "白细胞减少",
        "leukopenia rituximab",
        "系統性紅斑狼瘡",
        "https://doi.org/10.1080/25785826.2025.2563427",
    ],
)
def test_bilingual_search_finds_the_seed_paper_first(settings: Settings, query: str) -> None:
    ingest_plain(settings, [SEED_RECORDS])
    result = search_papers(settings, query, size=5)
    assert result["hits"][0]["doi"] == LEUKOPENIA
    assert result["hits"][0]["highlight"] or query.startswith("https://")


def test_every_seed_title_finds_its_paper(settings: Settings) -> None:
    ingest_plain(settings, [SEED_RECORDS])
    manifest = json.loads((SEED_RECORDS.parent / "MANIFEST.json").read_text(encoding="utf-8"))
    for entry in manifest:
        for title in (entry["title_en"], entry["title_zh"]):
            if title:
                top = search_papers(settings, title, size=1)["hits"][0]
                assert title in (top["title_en"], top["title_zh"]) or top["doi"] == entry["doi"], (
                    title
                )


def test_doi_query_is_exact(settings: Settings) -> None:
    ingest_plain(settings, [SEED_RECORDS])
    result = search_papers(settings, "DOI:10.1371/JOURNAL.PONE.0033693", size=5)
    assert result["total"] == 1
    assert result["hits"][0]["id"] == "10.1371/journal.pone.0033693"


def test_status_reports_alias_index_and_count(settings: Settings) -> None:
    ingest_plain(settings, [SEED_RECORDS])
    status = index_status(settings)
    assert (status["alias"], status["index"], status["documents"]) == (
        "papers",
        "papers-000001",
        32,
    )


def test_a_record_whose_doi_was_found_merges_with_one_that_carries_it(
    es: Elasticsearch, settings: Settings
) -> None:
    """Two records of one DOI in a batch, one carrying it and one whose DOI a search found: the
    first is a document prepared where the batch was, the second is settled by the index stage;
    they become one document, the carried DOI's record read first, and the id the found one had
    without its DOI kept."""
    index = ensure_live_index(es, settings.alias)
    origin = [Provenance(source="a.jsonl", location="line 1")]
    carried = paper(provenance=origin, doi_source="source")
    found = paper(
        provenance=[Provenance(source="b.jsonl", location="line 7")],
        title_en="Spiders (matched)",
        abstract_en="Eight legs.",
        doi_source="matched",
        former_id="sf-spiders",
    )
    result = index_papers(es, index, [found, carried], "run")
    assert result.outcomes == {Outcome.INDEXED: 1, Outcome.MERGED: 1}
    stored = es.get(index=index, id="10.1000/x")["_source"]
    assert (stored["title_en"], stored["abstract_en"]) == ("Spiders", "Eight legs.")
    assert stored["doi_source"] == "source" and stored["former_ids"] == ["sf-spiders"]
    assert {p["source"] for p in stored["provenance"]} == {"a.jsonl", "b.jsonl"}
    assert len(stored["record_hashes"]) == 2
