"""A run that dies half-way is simply run again: kill the embedded engine (SIGKILL) in the middle
of a bulk load, and the re-run ends with every record accounted for, no duplicate, no loss."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from elasticsearch import Elasticsearch, helpers

from scholarflow.deadletter import DEADLETTER_INDEX
from scholarflow.engine import EmbeddedEngine
from scholarflow.search_client import PlainJsonNode
from tests.cli_helpers import SCHOLARFLOW, json_out, one_line_error, run_cli
from tests.conftest import assert_accounted_json

FILES = 4
PER_FILE = 6000


def write_corpus(folder: Path) -> tuple[set[str], int, int]:
    """(distinct DOIs, bad lines, records in the first file). Every 50th record repeats the
    previous DOI (a duplicate to merge); every 997th line is broken JSON."""
    dois: set[str] = set()
    bad = 0
    for part in range(FILES):
        with (folder / f"part-{part}.jsonl").open("w") as out:
            for n in range(PER_FILE):
                line_no = part * PER_FILE + n
                if line_no % 997 == 996:
                    out.write('{"title": "broken", "doi": \n')
                    bad += 1
                    continue
                doi = f"10.5555/kill.{line_no - 1 if line_no % 50 == 49 else line_no}"
                dois.add(doi)
                record = {
                    "title": f"Record {line_no} on leukopenia",
                    "doi": doi,
                    "authors": "Li Wei, Zhang San",
                    "abstract": "<p>Rituximab " + "and leukocyte recovery " * 20 + "</p>",
                    "publicationDate": "2025-09",
                }
                out.write(json.dumps(record) + "\n")
    return dois, bad, PER_FILE


def count(url: str, index: str) -> int:
    try:
        return httpx.get(f"{url}/{index}/_count", timeout=2).json().get("count", 0)
    except (httpx.HTTPError, ValueError):
        return -1


@pytest.mark.slow
def test_engine_killed_mid_bulk_load_then_rerun_loses_nothing(
    prefect_api_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    dois, bad, first_file = write_corpus(corpus)
    env = {
        "SCHOLARFLOW_HOME": str(home),
        "SCHOLARFLOW_DOI_LOOKUP": "off",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": prefect_api_url,
    }
    engine = EmbeddedEngine(home)
    try:
        # One file ingested completely (and persisted) before the crash.
        first = json_out(
            run_cli("ingest", str(corpus / "part-0.jsonl"), "--json", env=env, cwd=tmp_path)
        )
        assert_accounted_json(first)
        assert first["records_read"] == first_file
        state = engine.status()
        assert state is not None
        before = count(state.url, "papers")

        process = subprocess.Popen(
            [str(SCHOLARFLOW), "ingest", str(corpus), "--json"],
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("SCHOLARFLOW_")},
                **env,
            },
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        killed_at: list[int] = []

        def kill_mid_load() -> None:
            deadline = time.monotonic() + 280
            while time.monotonic() < deadline and process.poll() is None:
                seen = count(state.url, "papers")
                if seen >= before + 1500:  # the bulk load of the other files is under way
                    os.kill(state.pid, signal.SIGKILL)
                    killed_at.append(seen)
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_mid_load)
        killer.start()
        stdout, stderr = process.communicate(timeout=300)
        killer.join()
        assert killed_at, f"the run ended before the engine was killed: {stderr}"
        assert killed_at[0] < len(dois)  # killed half-way, not after the end
        crashed = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        line = one_line_error(crashed)
        assert line.startswith("error: lost the engine (")
        assert "run the same command again" in line

        # The same command again: it restarts the engine from the last snapshot and resumes.
        rerun = json_out(run_cli("ingest", str(corpus), "--json", env=env, cwd=tmp_path))
        assert_accounted_json(rerun)
        assert rerun["sources_skipped"] == 1 and rerun["sources_read"] == FILES - 1
        assert rerun["records_read"] == (FILES - 1) * PER_FILE
        assert rerun["rejected"] == rerun["rejected_by_stage"]["fetch"]["count"]

        state = engine.status()
        assert state is not None
        client = Elasticsearch(state.url, node_class=PlainJsonNode)
        client.indices.refresh(index="papers")
        ids = [hit["_id"] for hit in helpers.scan(client, index="papers", _source=False)]
        assert len(ids) == len(set(ids)) == len(dois)  # no duplicate, no loss
        assert set(ids) == dois
        client.indices.refresh(index=DEADLETTER_INDEX)
        assert client.count(index=DEADLETTER_INDEX)["count"] == bad  # each bad line once

        settled = json_out(run_cli("ingest", str(corpus), "--json", env=env, cwd=tmp_path))
        assert_accounted_json(settled)
        assert (settled["sources_skipped"], settled["records_read"]) == (FILES, 0)
    finally:
        engine.stop()
