"""The search, suggest, eval, reindex --dry-run and rollback commands, end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from cli import app
from scholarflow.engine.client import connect
from scholarflow.settings import Settings, get_settings

runner = CliRunner()


@pytest.fixture
def cli_settings(seeded_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("SCHOLARFLOW_ES_URL", seeded_settings.es_url or "")
    monkeypatch.setenv("SCHOLARFLOW_HOME", str(seeded_settings.home))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def run_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_search_with_filters_and_facets(cli_settings: Settings) -> None:
    result = run_json(
        "search", "spider", "--year", "2021", "--journal", "蛛形學報", "--lang", "zh", "--facets"
    )
    assert {"total", "hits", "facets"} <= set(result)
    assert result["total"] > 0
    assert [b["value"] for b in result["facets"]["year"]] == [2021]
    assert all(hit["year"] == 2021 for hit in result["hits"])
    none = run_json("search", "spider", "--quartile", "Q1", "--open-access")
    assert none == {"total": 0, "hits": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--year", "20x1"], "not a year"),
        (["--lang", "fr"], "'fr'"),
        (["--quartile", "Q5"], "'Q5'"),
    ],
)
def test_bad_filters_are_usage_errors(
    cli_settings: Settings, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["search", "spider", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_suggest_and_eval(cli_settings: Settings) -> None:
    suggestions = run_json("suggest", "Life-threat")["suggestions"]
    assert suggestions[0]["id"] == "10.1080/25785826.2025.2563427"
    report = run_json("eval")
    assert report["k"] == 10 and report["groups"]["all"]["queries"] >= 40
    table = runner.invoke(app, ["eval"]).stdout
    assert "| Traditional Chinese |" in table and "MRR@10" in table


def test_reindex_dry_run_and_rollback_without_a_previous_index(cli_settings: Settings) -> None:
    client = connect(cli_settings)
    before = client.indices.get(index="*").body
    plan = run_json("reindex", "--dry-run", "--mode", "replay", "--keep", "1")
    assert (plan["dry_run"], plan["live"], plan["target"]) == (
        True,
        "papers-000001",
        "papers-000002",
    )
    assert client.indices.get(index="*").body == before
    result = runner.invoke(app, ["rollback"])
    assert result.exit_code == 1
    assert "nothing to roll back to" in result.stderr and "Traceback" not in result.output
