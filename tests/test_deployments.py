"""The deployments (schedules, one run at a time, the re-index form) and `scholarflow serve`
against an existing Prefect server: schedules stay active when it stops."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from flows.serving.deployments import build_deployments
from scholarflow.settings import Settings
from tests.conftest import SEED_RECORDS
from tests.ops import wait_for
from tests.serving import PrefectApi, ServeProcess

NAMES = ["ingest", "embed", "reenrich", "reindex"]


def _settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_each_deployment_runs_one_at_a_time_from_the_installed_flows():
    deployments = build_deployments(_settings())
    assert [d.name for d in deployments] == NAMES
    for deployment in deployments:
        assert deployment.concurrency_limit == 1
        assert deployment.entrypoint == f"flows.{deployment.name}.{deployment.name}"
        assert deployment.flow_name == deployment.name


def test_schedules_come_from_the_settings():
    settings = _settings(
        inbox=["/srv/inbox", "https://example.org/feed.jsonl"],
        ingest_cron="5 * * * *",
        reenrich_cron="0 3 * * *",
        embed_cron="20 * * * *",
        schedule_timezone="Asia/Shanghai",
    )
    ingest, embed, reenrich, reindex = build_deployments(settings)
    (schedule,) = ingest.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("5 * * * *", "Asia/Shanghai")
    assert schedule.active
    assert ingest.parameters == {"paths": settings.inbox}
    (nightly,) = reenrich.schedules
    assert (nightly.schedule.cron, nightly.active) == ("0 3 * * *", True)
    (vectors,) = embed.schedules  # after each ingest, whether or not an inbox is set
    assert (vectors.schedule.cron, vectors.schedule.timezone) == ("20 * * * *", "Asia/Shanghai")
    assert vectors.active
    assert reindex.schedules == []


def test_without_an_inbox_the_ingest_schedule_is_off():
    ingest = build_deployments(_settings())[0]
    assert [s.active for s in ingest.schedules] == [False]
    assert ingest.parameters == {"paths": []}


def test_reindex_parameters_render_as_a_form_with_a_mode_dropdown():
    reindex = build_deployments(_settings())[3]
    schema = reindex._parameter_openapi_schema.model_dump()
    ref = schema["properties"]["parameters"]["$ref"].rsplit("/", 1)[-1]
    form = schema["definitions"][ref]["properties"]
    assert form["mode"]["enum"] == ["copy", "replay"]
    assert form["dry_run"]["type"] == "boolean"
    assert (form["keep"]["minimum"], form["keep"]["maximum"]) == (0, 20)
    assert reindex.enforce_parameter_schema


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_serve_on_an_existing_server_leaves_schedules_active_when_stopped(tmp_path: Path):
    api_url = PREFECT_API_URL.value()
    serve = ServeProcess(
        tmp_path / "home",
        "--api-url",
        api_url,
        SCHOLARFLOW_INBOX=str(SEED_RECORDS),
        SCHOLARFLOW_INGEST_CRON="0 4 * * *",
    )
    api = PrefectApi(api_url)
    try:
        serve.wait_for_line("serving:", timeout=120)
        for name in NAMES:
            wait_for(lambda n=name: api.deployment(n, n), 60, f"deployment {name}")
    finally:
        code = serve.stop()
    assert code == 0, serve.tail()
    assert "starting the Prefect server" not in serve.text()  # it used the one it was given
    ingest = api.deployment("ingest", "ingest")
    assert ingest["paused"] is False
    assert ingest["parameters"] == {"paths": [str(SEED_RECORDS)]}
    assert [(s["schedule"]["cron"], s["active"]) for s in ingest["schedules"]] == [
        ("0 4 * * *", True)
    ]
    reenrich = api.deployment("reenrich", "reenrich")
    assert reenrich["paused"] is False and all(s["active"] for s in reenrich["schedules"])
    assert all(api.deployment(n, n)["global_concurrency_limit"]["limit"] == 1 for n in NAMES)
