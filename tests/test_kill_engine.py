"""A run that dies half-way is simply run again: kill the embedded OpenSearch (SIGKILL) in the
middle of a bulk load, and the same command restarts it and ends with every record accounted for,
no duplicate, no loss.

The engine is durable by itself: every acknowledged write is in its translog (fsynced before
the bulk answer), which it replays when it starts again. So the killed run's documents, and the
manifest entries of the files it finished, are still there: the re-run skips those files and
finds the rest of what it wrote unchanged.
"""

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

from scholarflow.engine import EmbeddedEngine, EngineKind
from scholarflow.engine.transport import EngineNode
from scholarflow.stores.bulk import BULK_CHUNK_DOCS, BULK_IN_FLIGHT
from scholarflow.stores.deadletters import DEADLETTER_INDEX
from tests.cli_helpers import SCHOLARFLOW, json_out, one_line_error, run_cli
from tests.conftest import assert_accounted_json

FILES = 4
PER_FILE = 6000


def write_corpus(folder: Path) -> tuple[set[str], set[tuple[str, str]], int]:
    """(distinct DOIs, where the bad lines are, records in the first file). Every 50th record
    repeats the previous DOI (a duplicate to merge); every 997th line is broken JSON."""
    dois: set[str] = set()
    bad: set[tuple[str, str]] = set()
    for part in range(FILES):
        path = folder / f"part-{part}.jsonl"
        with path.open("w") as out:
            for n in range(PER_FILE):
                line_no = part * PER_FILE + n
                if line_no % 997 == 996:
                    out.write('{"title": "broken", "doi": \n')
                    bad.add((str(path), f"line {n + 1}"))
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


def indexed(url: str, index: str) -> int:
    """Documents the engine has indexed into `index` since it started, searchable or not (a
    load refreshes the index itself, a few thousand documents at a time)."""
    try:
        stats = httpx.get(f"{url}/{index}/_stats/indexing", timeout=2).json()
        return int(stats["_all"]["primaries"]["indexing"]["index_total"])
    except (httpx.HTTPError, ValueError, KeyError):
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
        "SCHOLARFLOW_ENGINE": "opensearch",  # never the in-memory fallback
        "SCHOLARFLOW_DOI_LOOKUP": "off",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": prefect_api_url,
    }
    engine = EmbeddedEngine(home, kind=EngineKind.OPENSEARCH)
    try:
        # One file ingested completely before the crash.
        first = json_out(
            run_cli("ingest", str(corpus / "part-0.jsonl"), "--json", env=env, cwd=tmp_path)
        )
        assert_accounted_json(first)
        assert first["records_read"] == first_file
        state = engine.status()
        assert state is not None and state.kind == EngineKind.OPENSEARCH
        before = indexed(state.url, "papers")

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
                seen = indexed(state.url, "papers")
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

        # The same command again. It finds the engine started again (by the dying run's next
        # batch, which connects anew, or else by itself), having replayed its translog.
        rerun = json_out(run_cli("ingest", str(corpus), "--json", env=env, cwd=tmp_path))
        assert_accounted_json(rerun)
        # The file ingested before, and any the killed run finished, are skipped; the file it
        # was loading when it died is read again.
        assert rerun["sources_skipped"] >= 1 and rerun["sources_read"] >= 1
        assert rerun["sources_skipped"] + rerun["sources_read"] == FILES
        assert rerun["records_read"] == rerun["sources_read"] * PER_FILE
        assert rerun["rejected"] == rerun["rejected_by_stage"]["fetch"]["count"]

        restarted = engine.status()
        assert restarted is not None and restarted.pid != state.pid
        client = Elasticsearch(restarted.url, node_class=EngineNode)
        client.indices.refresh(index="papers")
        ids = [hit["_id"] for hit in helpers.scan(client, index="papers", _source=False)]
        assert len(ids) == len(set(ids)) == len(dois)  # no duplicate, no loss
        assert set(ids) == dois
        # What the killed run had written survived it: the re-run created only the rest. All
        # it had acknowledged is durable; only the bulk requests in flight may be gone.
        recovered = len(dois) - rerun["indexed"]
        assert recovered >= killed_at[0] - BULK_IN_FLIGHT * BULK_CHUNK_DOCS > before
        client.indices.refresh(index=DEADLETTER_INDEX)
        letters = helpers.scan(client, index=DEADLETTER_INDEX, _source=["source", "location"])
        where = [(hit["_source"]["source"], hit["_source"]["location"]) for hit in letters]
        assert len(where) == len(set(where)) and set(where) == bad  # each bad line once

        settled = json_out(run_cli("ingest", str(corpus), "--json", env=env, cwd=tmp_path))
        assert_accounted_json(settled)
        assert (settled["sources_skipped"], settled["records_read"]) == (FILES, 0)
    finally:
        engine.stop()
