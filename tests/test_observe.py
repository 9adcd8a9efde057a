"""Run visibility: the progress artifact, the summary table artifact, structured log lines."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter

from flows.ingest import ingest
from flows.running import observe
from flows.running.observe import SourceProgress, log_event
from scholarflow.paper.models import RawRecord
from scholarflow.settings import Settings
from tests.conftest import SEED_RECORDS


def test_inbox_accepts_path_separators_json_lists_and_urls(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SCHOLARFLOW_INBOX", "/data/a: https://example.org/b.jsonl :/data/*.gz")
    assert Settings(_env_file=None).inbox == [
        "/data/a",
        "https://example.org/b.jsonl",
        "/data/*.gz",
    ]
    monkeypatch.setenv("SCHOLARFLOW_INBOX", '["/x:y", "/z"]')
    assert Settings(_env_file=None).inbox == ["/x:y", "/z"]
    monkeypatch.delenv("SCHOLARFLOW_INBOX")
    assert Settings(_env_file=None).inbox == []


def test_log_event_writes_key_values_and_passes_fields_as_extra(caplog: pytest.LogCaptureFixture):
    logger = logging.getLogger("scholarflow.test")
    with caplog.at_level(logging.INFO, logger="scholarflow.test"):
        log_event(logger, "batch done", read=500, reason="invalid JSON: x", empty="")
    record = caplog.records[-1]
    assert record.getMessage() == 'batch done read=500 reason="invalid JSON: x" empty=""'
    assert record.event == "batch done"
    assert record.fields == {"read": 500, "reason": "invalid JSON: x", "empty": ""}


def test_source_progress_weighs_files_by_size_and_lines(tmp_path: Path):
    small = tmp_path / "a.jsonl"
    small.write_text("{}\n" * 10)  # 30 bytes
    big = tmp_path / "b.jsonl"
    big.write_text("{}\n" * 30)  # 90 bytes
    progress = SourceProgress([str(tmp_path)])
    assert len(progress) == 2
    assert progress.percent(RawRecord(str(small), "line 5")) == pytest.approx(12.5)
    assert progress.percent(RawRecord(str(small), "line 10")) == pytest.approx(25.0)
    assert progress.percent(RawRecord(str(big), "line 15")) == pytest.approx(62.5)
    assert progress.percent(RawRecord(str(big), "line 30")) == pytest.approx(100.0)
    assert progress.percent(RawRecord("elsewhere.jsonl", "line 1")) is None


@pytest.mark.usefixtures("prefect_harness")
def test_ingest_publishes_progress_summary_and_structured_logs(
    flow_env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    published: list[tuple[float, str]] = []
    real_update = observe.update_progress_artifact

    def spy(artifact_id, progress, description=None):
        published.append((progress, description))
        return real_update(artifact_id, progress, description)

    monkeypatch.setattr(observe, "update_progress_artifact", spy)
    monkeypatch.setattr(observe, "MIN_UPDATE_SECONDS", 0.0)  # every batch
    flow_env(batch_size=4)
    with caplog.at_level(logging.DEBUG, logger="prefect.flow_runs"):
        state = ingest(paths=[str(SEED_RECORDS)], return_state=True)
    summary = state.result()
    assert summary["records_read"] == 33

    # one update per batch (33 records in batches of 4) plus the final one, never going back
    percents = [p for p, _ in published]
    assert len(percents) == 9 + 1
    assert percents == sorted(percents)
    assert 0 < percents[0] < 100 and percents[-1] == 100
    assert published[-1][1].endswith("33 records read, 33 accounted for")

    with get_client(sync_client=True) as client:
        run_filter = FlowRunFilter(id={"any_": [state.state_details.flow_run_id]})
        artifacts = {
            a.key: a
            for a in client.read_artifacts(
                flow_run_filter=run_filter,
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=["ingest-progress", "ingest-summary"])
                ),
            )
        }
    assert artifacts["ingest-progress"].data == 100
    table = artifacts["ingest-summary"].data
    rows = {
        r["measure"]: r["value"] for r in (orjson.loads(table) if isinstance(table, str) else table)
    }
    assert rows["records_read"] == 33
    assert rows["indexed"] + rows["duplicates_merged"] + rows["unchanged"] + rows["rejected"] == 33
    assert rows["enrichment disabled"] + rows["enrichment no_doi"] == 33 - rows["rejected"]
    assert {"seconds fetch", "seconds decode", "seconds enrich", "seconds index"} <= set(rows)

    finished = [r for r in caplog.records if getattr(r, "event", None) == "ingest finished"]
    assert len(finished) == 1
    assert finished[0].fields["read"] == 33
    assert f"indexed={summary['indexed']}" in finished[0].getMessage()
    batches = [r for r in caplog.records if getattr(r, "event", None) == "batch done"]
    assert len(batches) == 9
