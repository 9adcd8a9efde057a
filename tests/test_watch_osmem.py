"""Saved searches on the in-memory fallback engine (osmem), which has no percolator: an ingest
indexes every record all the same, and the ingest summary, the `watch` commands and `status`
each say in one line that saved searches cannot be matched there. Runs on a real osmem
process started in the test's own home (`SCHOLARFLOW_ENGINE=osmem`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scholarflow.alerts.percolator import UNMATCHED
from scholarflow.engine import EmbeddedEngine
from scholarflow.settings import EngineKind
from tests.cli_helpers import json_out, run_cli
from tests.conftest import SEED_RECORDS, assert_accounted_json

NOTE = f"note: {UNMATCHED}: the in-memory fallback engine osmem has no percolator"


@pytest.fixture
def osmem_env(tmp_path: Path, prefect_api_url: str) -> Iterator[dict[str, str]]:
    """The environment of an operator whose engine is the fallback (started once here, so
    each command finds it running)."""
    home = tmp_path / "home"
    state = EmbeddedEngine(home, kind=EngineKind.OSMEM).ensure()
    assert state.kind == "osmem"
    yield {
        "SCHOLARFLOW_HOME": str(home),
        "SCHOLARFLOW_ENGINE": "osmem",
        "SCHOLARFLOW_DOI_LOOKUP": "off",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": prefect_api_url,
    }
    EmbeddedEngine(home).stop()


def _notes(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if UNMATCHED in line]


def test_on_the_fallback_engine_everything_is_indexed_and_each_command_says_alerts_are_off(
    osmem_env: dict[str, str], tmp_path: Path
):
    def cli(*args: str):
        result = run_cli(*args, env=osmem_env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return result

    added = cli("watch", "add", "lupus", "系統性紅斑狼瘡")
    assert added.stdout.startswith("saved search lupus added: 系統性紅斑狼瘡 (0 papers")
    assert "each ingest announces" not in added.stdout  # it would not
    assert _notes(added.stdout) == [NOTE + " (papers are indexed; alerts need OpenSearch or "
                                    "Elasticsearch)"]  # fmt: skip

    summary = json_out(run_cli("ingest", str(SEED_RECORDS), "--json", env=osmem_env, cwd=tmp_path))
    assert_accounted_json(summary)
    assert (summary["indexed"], summary["duplicates_merged"], summary["rejected"]) == (32, 1, 0)
    assert summary["watches"]["searches"] == 1 and summary["watches"]["matches"] == 0
    assert summary["watches"]["error"].startswith(f"{UNMATCHED}: the in-memory fallback")

    again = cli("ingest", str(SEED_RECORDS), "--full")
    assert "33 records read → 0 indexed, 1 merged duplicates, 32 unchanged" in again.stdout
    assert len(_notes(again.stdout)) == 1  # one line, in place of the matches

    assert len(_notes(cli("watch", "list").stdout)) == 1
    shown = json_out(run_cli("watch", "show", "lupus", "--json", env=osmem_env, cwd=tmp_path))
    assert shown["runs"] == [] and shown["warning"].startswith(UNMATCHED)
    status = json_out(run_cli("status", "--json", env=osmem_env, cwd=tmp_path))
    assert status["documents"] == 32 and status["saved_searches"] == 1
    assert status["alerts"].startswith(f"{UNMATCHED}: the in-memory fallback engine osmem")
    assert len(_notes(cli("status").stdout)) == 1
