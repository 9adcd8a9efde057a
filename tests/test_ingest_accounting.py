"""Whole runs: every record accounted for, rejections in the dead-letter store, re-runs writing
nothing, and the source manifest skipping what is already ingested."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from elasticsearch import Elasticsearch

from scholarflow.paper.models import Outcome, Stage
from scholarflow.stores.deadletters import DEADLETTER_INDEX, DeadLetterStore
from tests.conftest import SEED_RECORDS


def hostile_feed(path: Path) -> Path:
    lines = [
        json.dumps({"title": "A study of spiders", "doi": "10.1000/spider.1"}).encode(),
        b'{"title": "Cut short", "doi": "10.10',
        b"[1, 2, 3]",
        json.dumps({"abstract": "no title here", "doi": "10.1000/untitled"}).encode(),
        json.dumps({"title": "统计学习方法", "doi": "10.1000/gb.1"}, ensure_ascii=False).encode(
            "gb18030"
        ),
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x02\x00\x00",
        json.dumps({"title": "Impossible", "doi": "10.1000/inf", "PeriodicalIF": 1e300}).encode(),
        json.dumps({"title": "Spiders again", "doi": "https://doi.org/10.1000/SPIDER.1"}).encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_every_record_of_a_hostile_feed_is_accounted_for(
    ingest, es: Elasticsearch, tmp_path: Path
) -> None:
    summary = ingest(hostile_feed(tmp_path / "hostile.jsonl"))
    assert summary.records_read == 8
    assert summary.outcomes[Outcome.INDEXED] == 2  # spiders, the GB18030 paper
    assert summary.outcomes[Outcome.MERGED] == 1  # spiders again: same DOI, other spelling
    assert summary.outcomes[Outcome.REJECTED] == 5
    assert summary.rejected_by_stage() == {
        "fetch": {
            "count": 3,
            "reasons": {
                "invalid JSON": 1,
                "JSON list, expected an object": 1,
                "not text in UTF-8 or any other encoding": 1,
            },
        },
        "decode": {"count": 1, "reasons": {"no title in any language": 1}},
        "index": {
            "count": 1,
            "reasons": {
                "engine refused the document: mapper_parsing_exception: "
                "failed to parse field [impact_factor] of type [float]": 1
            },
        },
    }
    data = summary.as_dict()
    for key in ("records_read", "indexed", "duplicates_merged", "rejected", "index", "alias"):
        assert key in data
    assert es.count(index="papers")["count"] == 2

    page = DeadLetterStore(es).page(limit=10)
    assert page.total == 5
    where = sorted((e["stage"], e["location"]) for e in page.entries)
    assert where == [
        ("decode", "line 4"),
        ("fetch", "line 2"),
        ("fetch", "line 3"),
        ("fetch", "line 6"),
        ("index", "line 7"),
    ]
    assert {e["run_id"] for e in page.entries} == {summary.run_id}


def test_rerun_writes_nothing_and_duplicates_no_dead_letters(
    ingest, es: Elasticsearch, tmp_path: Path
) -> None:
    feed = hostile_feed(tmp_path / "hostile.jsonl")
    first = ingest(feed)
    before = {hit["_id"]: hit["_source"]["indexed_at"] for hit in all_docs(es)}
    again = ingest(feed, full=True)
    assert again.records_read == first.records_read == 8
    assert again.outcomes[Outcome.INDEXED] == 0
    assert again.outcomes[Outcome.UNCHANGED] == 2 and again.outcomes[Outcome.MERGED] == 1
    assert again.outcomes[Outcome.REJECTED] == 5
    assert {hit["_id"]: hit["_source"]["indexed_at"] for hit in all_docs(es)} == before
    assert es.count(index=DEADLETTER_INDEX)["count"] == 5  # same entries, not copies


def test_seed_records_all_indexed_and_then_skipped_by_the_manifest(
    ingest, es: Elasticsearch
) -> None:
    first = ingest(SEED_RECORDS)
    assert first.sources_read == 21 and first.sources_skipped == 0
    assert first.outcomes[Outcome.REJECTED] == 0
    assert first.records_read == 33
    second = ingest(SEED_RECORDS)
    assert (second.sources_read, second.sources_skipped) == (0, 21)
    assert second.records_read == 0  # records in skipped files are not read
    forced = ingest(SEED_RECORDS, full=True)
    assert forced.sources_read == 21 and forced.records_read == 33
    assert forced.outcomes[Outcome.INDEXED] == 0


def test_changed_file_is_read_again_and_touched_file_is_not(
    ingest, es: Elasticsearch, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.jsonl"
    other = tmp_path / "other.jsonl.gz"
    feed.write_text(json.dumps({"title": "One", "doi": "10.1000/one"}) + "\n")
    with gzip.open(other, "wt") as out:
        out.write(json.dumps({"title": "Two", "doi": "10.1000/two"}) + "\n")
    assert ingest(tmp_path).sources_read == 2

    stat = other.stat()
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # touched only
    with feed.open("a") as out:
        out.write(json.dumps({"title": "Three", "doi": "10.1000/three"}) + "\n")
    summary = ingest(tmp_path)
    assert (summary.sources_read, summary.sources_skipped) == (1, 1)
    assert summary.records_read == 2
    assert summary.outcomes[Outcome.UNCHANGED] == 1 and summary.outcomes[Outcome.INDEXED] == 1
    assert ingest(tmp_path).sources_skipped == 2  # the touched file's new time was noted


def test_empty_file_is_noted_and_skipped(ingest, tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert ingest(tmp_path).sources_read == 1
    assert ingest(tmp_path).sources_skipped == 1


def test_rejections_in_a_small_batch_run_are_stored_per_batch(
    ingest, es: Elasticsearch, tmp_path: Path
) -> None:
    feed = tmp_path / "many.jsonl"
    lines = []
    for n in range(1, 51):
        good = json.dumps({"title": f"P {n}", "doi": f"10.1000/p.{n}"})
        lines.append(good if n % 5 else "{not json")
    feed.write_text("\n".join(lines) + "\n")
    summary = ingest(feed, batch_size=7)
    assert summary.outcomes[Outcome.REJECTED] == 10 == summary.dead_lettered
    entries = DeadLetterStore(es).page(stage=Stage.FETCH.value, limit=50).entries
    assert sorted(int(e["location"].split()[1]) for e in entries) == list(range(5, 51, 5))


def all_docs(es: Elasticsearch) -> list[dict]:
    es.indices.refresh(index="papers")
    return es.search(index="papers", size=100, query={"match_all": {}})["hits"]["hits"]


def test_the_flow_publishes_counts_and_reasons_as_an_artifact(
    prefect_harness: None, settings, tmp_path: Path, monkeypatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    from flows.ingest import ingest as ingest_flow
    from scholarflow.settings import get_settings
    from tests.conftest import assert_accounted_json

    monkeypatch.setenv("SCHOLARFLOW_ES_URL", settings.es_url)
    monkeypatch.setenv("SCHOLARFLOW_HOME", str(settings.home))
    monkeypatch.setenv("SCHOLARFLOW_DOI_LOOKUP", "off")
    get_settings.cache_clear()
    try:
        state = ingest_flow(paths=[str(hostile_feed(tmp_path / "h.jsonl"))], return_state=True)
    finally:
        get_settings.cache_clear()
    data = state.result()
    assert_accounted_json(data)
    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
                key=ArtifactFilterKey(any_=["ingest-summary"]),
            )
        )
    rows = {row["measure"]: row["value"] for row in json.loads(artifact.data)}
    assert rows["records_read"] == 8 and rows["rejected"] == 5 and rows["unchanged"] == 0
    assert rows["rejected at fetch: invalid JSON"] == 1
    assert rows["rejected at decode: no title in any language"] == 1
    assert rows["files skipped (already ingested)"] == 0
