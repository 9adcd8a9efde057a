"""The dead-letter store and its commands: list, show, and replay that removes what now succeeds."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from elasticsearch import Elasticsearch

from flows.replay import replay
from scholarflow.paper.models import Outcome, RawRecord, Rejection, Stage
from scholarflow.settings import Settings
from scholarflow.stores.deadletters import DEADLETTER_INDEX, DeadLetterStore, entry_id
from scholarflow.stores.indices import ensure_live_index
from tests.cli_helpers import json_out, one_line_error, run_cli
from tests.conftest import assert_accounted_json
from tests.test_ingest_accounting import hostile_feed

JUNK = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x02\x00\x00"


def test_entry_ids_are_stable_and_per_stage() -> None:
    one = entry_id("feed.jsonl", "line 3", Stage.DECODE)
    assert one == entry_id("feed.jsonl", "line 3", "decode")
    assert one != entry_id("feed.jsonl", "line 3", Stage.INDEX)
    assert one != entry_id("feed.jsonl", "line 4", Stage.DECODE)


def test_list_show_and_errors_through_the_cli(
    cli_env: dict[str, str], prefect_api_url: str, tmp_path: Path
) -> None:
    env = {**cli_env, "PREFECT_API_URL": prefect_api_url}
    feed = hostile_feed(tmp_path / "hostile.jsonl")
    summary = json_out(run_cli("ingest", str(feed), "--json", env=env, cwd=tmp_path))
    assert_accounted_json(summary)
    assert summary["rejected"] == 5 and summary["rejected_by_stage"]["fetch"]["count"] == 3

    listed = json_out(run_cli("deadletter", "list", "--json", env=env, cwd=tmp_path))
    assert listed["total"] == 5
    assert listed["by_stage"]["fetch"] == {
        "invalid JSON": 1,
        "JSON list, expected an object": 1,
        "not text in UTF-8 or any other encoding": 1,
    }
    assert {e["source"] for e in listed["entries"]} == {str(feed)}
    status = json_out(run_cli("status", "--json", env=env, cwd=tmp_path))
    assert status["dead_letters"] == 5

    fetch_only = json_out(
        run_cli(
            "deadletter", "list", "--stage", "fetch", "--limit", "2", "--json",
            env=env, cwd=tmp_path,
        )
    )  # fmt: skip
    assert fetch_only["total"] == 3 and len(fetch_only["entries"]) == 2
    assert {e["stage"] for e in fetch_only["entries"]} == {"fetch"}

    junk_id = entry_id(str(feed), "line 6", Stage.FETCH)
    shown = json_out(run_cli("deadletter", "show", junk_id, "--json", env=env, cwd=tmp_path))
    assert base64.b64decode(shown["record"]["raw_base64"]) == JUNK  # byte for byte
    assert shown["run_id"] == summary["run_id"] and shown["detail"].startswith("byte 0xff")

    text = run_cli("deadletter", "list", env=env, cwd=tmp_path)
    assert text.returncode == 0
    assert "5 records in the dead-letter store" in text.stdout
    assert f"{junk_id}  fetch  {feed}:line 6" in text.stdout
    assert "failed to parse field [impact_factor] of type [float]" in text.stdout

    index_id = entry_id(str(feed), "line 7", Stage.INDEX)
    shown_text = run_cli("deadletter", "show", index_id, env=env, cwd=tmp_path)
    assert "reason: engine refused the document" in shown_text.stdout
    assert '"PeriodicalIF": 1e+300' in shown_text.stdout  # the raw record, as the source held it

    missing = one_line_error(run_cli("deadletter", "show", "0000", env=env, cwd=tmp_path))
    assert "no dead-letter entry 0000" in missing
    neither = one_line_error(run_cli("deadletter", "replay", env=env, cwd=tmp_path), code=2)
    assert "--all" in neither


def test_replay_removes_entries_whose_records_now_get_through(
    ingest, settings: Settings, es: Elasticsearch, tmp_path: Path
) -> None:
    """The engine refuses every write to the index for good (`index.blocks.write`, as an
    operator sets: 403, not retried); once the block is lifted, replay indexes the records and
    empties the store."""
    index = ensure_live_index(es, settings.alias)
    es.indices.put_settings(index=index, settings={"index.blocks.write": True})
    feed = tmp_path / "feed.txt"
    feed.write_text(
        json.dumps({"title": "标题一", "doi": "10.1000/r.1"}, ensure_ascii=False)
        + "\nTitle one\nAbstract one\n"
        + json.dumps({"title": "Title two", "doi": "10.1000/r.2"})
        + "\n\n\n"
        + json.dumps({"abstract": "no title", "doi": "10.1000/r.3"})
        + "\n",
        encoding="utf-8",
    )
    summary = ingest(feed)
    assert summary.outcomes[Outcome.REJECTED] == 3
    (blocked,) = [r for (s, r) in summary.rejections if s == "index"]
    assert blocked == (
        f"engine refused the document: cluster_block_exception: index [{index}] blocked by: "
        "[FORBIDDEN/8/index write (api)];"
    )

    es.indices.put_settings(index=index, settings={"index.blocks.write": False})
    result = replay(settings, None, batch_size=2)
    assert (result.entries, result.records, result.resolved) == (3, 3, 2)
    assert result.outcomes[Outcome.INDEXED] == 2 and result.outcomes[Outcome.REJECTED] == 1
    assert dict(result.still_failing) == {("decode", "no title in any language"): 1}

    es.indices.refresh(index=index)
    doc = es.get(index=index, id="10.1000/r.1")["_source"]
    assert (doc["title_en"], doc["abstract_en"]) == ("Title one", "Abstract one")  # side-cars kept
    store = DeadLetterStore(es)
    page = store.page()
    assert page.total == 1
    assert page.entries[0]["id"] == entry_id(str(feed), "line 7", Stage.DECODE)
    assert page.entries[0]["run_id"] == result.run_id


def test_replay_reads_a_fetch_entry_again_from_its_exact_bytes(
    settings: Settings, es: Elasticsearch
) -> None:
    """An entry written by a reader that could not decode GB18030 (it had no encoding
    detection) gets through once replayed by today's reader."""
    line = json.dumps({"title": "统计学习方法", "doi": "10.1000/gb.2"}, ensure_ascii=False)
    record = RawRecord(
        "old.jsonl",
        "line 9",
        raw=line.encode("gb18030").decode("utf-8", "replace"),
        raw_bytes=line.encode("gb18030"),
        error="not valid UTF-8",
    )
    rejection = Rejection(Stage.FETCH, "not valid UTF-8", "old.jsonl", "line 9", record.raw)
    store = DeadLetterStore(es)
    assert store.add([rejection], [record], "old-run") == 1
    store.refresh()

    result = replay(settings, [entry_id("old.jsonl", "line 9", Stage.FETCH), "nope"], 10)
    assert result.missing == ["nope"]
    assert (result.resolved, result.outcomes[Outcome.INDEXED]) == (1, 1)
    es.indices.refresh(index=settings.alias)
    doc = es.get(index=settings.alias, id="10.1000/gb.2")["_source"]
    assert doc["title_zh"] == "统计学习方法" and "encoding_gb18030" in doc["flags"]
    assert es.count(index=DEADLETTER_INDEX)["count"] == 0


def test_replay_through_the_cli_by_id(
    cli_env: dict[str, str], settings: Settings, es: Elasticsearch, tmp_path: Path
) -> None:
    record = RawRecord("feed.jsonl", "line 1", payload={"title": "Replayed", "doi": "10.1000/z"})
    rejection = Rejection(Stage.INDEX, "engine busy", "feed.jsonl", "line 1")
    store = DeadLetterStore(es)
    store.add([rejection], [record], "old-run")
    store.refresh()
    key = entry_id("feed.jsonl", "line 1", Stage.INDEX)

    done = run_cli("deadletter", "replay", key, env=cli_env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "replayed 1 entries (1 records): 1 indexed" in done.stdout
    assert "1 entries removed, 0 still failing" in done.stdout
    assert store.get([key]) == {}
    again = run_cli("deadletter", "replay", key, "--json", env=cli_env, cwd=tmp_path)
    assert again.returncode == 0 and json.loads(again.stdout)["missing"] == [key]


FLOOD_STAGE = {"index.blocks.read_only_allow_delete": True}
LIFTED = {"index.blocks.read_only_allow_delete": None}


def flood_feed(path: Path, count: int) -> Path:
    records = (
        {"title": f"Flooded paper {n} on leukopenia", "doi": f"10.1000/flood.{n}"}
        for n in range(count)
    )
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_flood_stage_block_dead_letters_the_records_and_replay_indexes_them_once_lifted(
    cli_env: dict[str, str], prefect_api_url: str, es: Elasticsearch, settings: Settings,
    tmp_path: Path,
) -> None:  # fmt: skip
    """The block a full disk puts on an index (`read_only_allow_delete`, answered with 429):
    each record is tried again, then dead-lettered with a reason naming the block; nothing is
    lost, nothing prints a traceback, and `deadletter replay --all` indexes every record once
    the block is lifted."""
    # Backoff from 0.01 s: from the default 1 s, the five attempts take about 15 s.
    env = {**cli_env, "PREFECT_API_URL": prefect_api_url, "SCHOLARFLOW_BULK_BACKOFF": "0.01"}
    index = ensure_live_index(es, settings.alias)
    es.indices.put_settings(index=index, settings=FLOOD_STAGE)
    feed = flood_feed(tmp_path / "feed.jsonl", 12)

    result = run_cli("ingest", str(feed), "--json", env=env, cwd=tmp_path)
    assert "Traceback" not in result.stderr
    summary = json_out(result)
    assert_accounted_json(summary)
    reason = (
        "engine still refusing after 5 attempts: 429 cluster_block_exception: index "
        f"[{index}] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage "
        "watermark, index has read-only-allow-delete block];"
    )
    assert summary["rejected_by_stage"] == {"index": {"count": 12, "reasons": {reason: 12}}}
    listed = json_out(run_cli("deadletter", "list", "--json", env=env, cwd=tmp_path))
    assert (listed["total"], listed["by_stage"]) == (12, {"index": {reason: 12}})
    assert es.count(index=index)["count"] == 0

    es.indices.put_settings(index=index, settings=LIFTED)
    replayed = json_out(run_cli("deadletter", "replay", "--all", "--json", env=env, cwd=tmp_path))
    assert (replayed["entries"], replayed["indexed"], replayed["resolved"]) == (12, 12, 12)
    assert replayed["still_failing"] == 0
    status = json_out(run_cli("status", "--json", env=env, cwd=tmp_path))
    assert (status["documents"], status["dead_letters"]) == (12, 0)
    found = json_out(run_cli("search", "leukopenia", "--json", env=env, cwd=tmp_path))
    assert found["total"] == 12


def test_a_full_disk_under_every_index_fails_the_run_in_one_line_and_loses_nothing(
    cli_env: dict[str, str], prefect_api_url: str, es: Elasticsearch, tmp_path: Path
) -> None:
    """A single node whose disk is full blocks every index, the lock and the dead-letter store
    too: the run cannot keep anything, so it stops in one line before reading a record, and
    the same command ingests everything once the disk is freed."""
    env = {**cli_env, "PREFECT_API_URL": prefect_api_url, "SCHOLARFLOW_BULK_BACKOFF": "0.01"}
    feed = flood_feed(tmp_path / "feed.jsonl", 3)
    first = json_out(run_cli("ingest", str(feed), "--json", env=env, cwd=tmp_path))
    assert_accounted_json(first)
    assert first["indexed"] == 3  # the lock, manifest and source indices exist now
    more = flood_feed(tmp_path / "more.jsonl", 6)
    es.indices.put_settings(index="*", settings=FLOOD_STAGE)
    try:
        line = one_line_error(run_cli("ingest", str(more), env=env, cwd=tmp_path))
    finally:
        es.indices.put_settings(index="*", settings=LIFTED)
    assert line.startswith("error: the engine answered 429: cluster_block_exception")

    again = json_out(run_cli("ingest", str(more), "--json", env=env, cwd=tmp_path))
    assert_accounted_json(again)
    assert (again["records_read"], again["indexed"], again["unchanged"]) == (6, 3, 3)
    assert again["rejected"] == 0
