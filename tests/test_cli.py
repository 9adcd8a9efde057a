"""The command line as an operator sees it: a real subprocess, stdout and stderr, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scholarflow.settings import Settings
from tests.conftest import SEED_CACHE, SEED_RECORDS

SCHOLARFLOW = str(Path(sys.executable).parent / "scholarflow")


def run(settings: Settings | None, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SCHOLARFLOW_")}
    if settings is not None:
        environment |= {
            "SCHOLARFLOW_ES_URL": settings.es_url,
            "SCHOLARFLOW_HOME": str(settings.home),
            "SCHOLARFLOW_DOI_LOOKUP": "cache-only",
        }
    environment |= env
    return subprocess.run(
        [SCHOLARFLOW, *args], capture_output=True, text=True, env=environment, timeout=300
    )


@pytest.fixture
def prefect_api(prefect_harness: None) -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def test_ingest_search_status_as_json(settings: Settings, prefect_api: str) -> None:
    imported = run(settings, "cache", "import", str(SEED_CACHE))
    assert imported.returncode == 0, imported.stderr

    started = datetime.now(UTC)
    ingest = run(settings, "ingest", str(SEED_RECORDS), "--json", PREFECT_API_URL=prefect_api)
    assert ingest.returncode == 0, ingest.stderr
    summary = json.loads(ingest.stdout)  # stdout holds exactly one JSON object
    assert {"records_read", "indexed", "duplicates_merged", "rejected", "index", "alias"} <= set(
        summary
    )
    assert (summary["records_read"], summary["indexed"], summary["alias"]) == (33, 32, "papers")

    search = run(settings, "search", "白细胞减少", "--json")
    result = json.loads(search.stdout)
    assert result["total"] >= 1
    top = result["hits"][0]
    assert set(top) >= {"id", "doi", "title_en", "title_zh", "score", "highlight"}
    assert top["doi"] == "10.1080/25785826.2025.2563427"

    by_doi = json.loads(
        run(settings, "search", "https://doi.org/10.1038/SREP16696", "--json").stdout
    )
    assert [h["id"] for h in by_doi["hits"]] == ["10.1038/srep16696"]

    status = json.loads(run(settings, "status", "--json").stdout)
    assert status["alias"] == "papers" and status["index"] == "papers-000001"
    assert status["documents"] == 32 and status["engine"]
    assert sum(status["enrichment"].values()) == 32  # the 33 records' statuses, one merged
    assert set(status["enrichment"]) == set(summary["enrichment"])
    assert started <= datetime.fromisoformat(status["last_indexed"]) <= datetime.now(UTC)
    assert status["writer_lock"] == "free" and status["dead_letters"] == 0

    text = run(settings, "status").stdout.splitlines()
    assert "     writer_lock: free" in text and "    dead_letters: 0" in text
    enrichment = ", ".join(f"{k} {v}" for k, v in status["enrichment"].items())
    assert f"      enrichment: {enrichment}" in text


def test_missing_input_is_one_line_and_non_zero(settings: Settings) -> None:
    result = run(settings, "ingest", "/nonexistent/records.jsonl", "--json")
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.strip() == "error: /nonexistent/records.jsonl: no such file or directory"


def test_unreachable_engine_is_one_line_and_non_zero(tmp_path: Path) -> None:
    result = run(
        None,
        "status",
        "--json",
        SCHOLARFLOW_ES_URL="http://127.0.0.1:9",
        SCHOLARFLOW_HOME=str(tmp_path),
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the engine" in lines[0]
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run(
        None,
        "--debug",
        "status",
        SCHOLARFLOW_ES_URL="http://127.0.0.1:9",
        SCHOLARFLOW_HOME=str(tmp_path),
    )
    assert result.returncode != 0 and "Traceback" in result.stderr
