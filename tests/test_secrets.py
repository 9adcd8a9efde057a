"""Elasticsearch credentials reach the engine, from the environment or a Prefect Secret block,
and never appear in logs (local or in the Prefect API), artifacts or flow-run parameters."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from uuid import UUID

import pytest
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogHandler

from flows.ingest import ingest
from flows.running.credentials import with_block_credentials
from scholarflow.engine.client import EngineError
from scholarflow.settings import Settings
from tests.auth_proxy import AuthProxy
from tests.conftest import SEED_RECORDS

pytestmark = pytest.mark.usefixtures("prefect_harness")
LOGGERS = ("", "prefect", "prefect.flow_runs", "prefect.task_runs", "elastic_transport", "urllib3")


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture everything, at DEBUG, from the loggers that see requests and their errors."""
    with ExitStack() as stack:
        for name in LOGGERS:
            stack.enter_context(caplog.at_level(logging.DEBUG, logger=name))
        yield caplog


def _run_texts(flow_run_id: UUID) -> list[str]:
    """Everything the Prefect API holds about a run: its logs, artifacts and parameters."""
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
        artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id={"any_": [flow_run_id]}))
    assert logs, "the run sent no logs to the API: nothing was checked"
    assert artifacts, "the run made no artifacts: nothing was checked"
    return (
        [str(run.parameters), str(run.state.message if run.state else "")]
        + [log.message for log in logs]
        + [f"{a.description} {a.data}" for a in artifacts]
    )


def _assert_nowhere(needles: list[str], caplog: pytest.LogCaptureFixture, run_id: UUID) -> None:
    haystacks = [caplog.text, *(str(r.__dict__) for r in caplog.records), *_run_texts(run_id)]
    assert len(caplog.records) > 20, "too few log records captured to prove anything"
    for needle in needles:
        assert not any(needle in text for text in haystacks), "a credential leaked"


def test_api_key_from_the_environment_is_used_and_never_logged(
    settings: Settings, flow_env, debug_logs
):
    key = f"sfk-{secrets.token_urlsafe(24)}"
    with AuthProxy(settings.es_url, f"ApiKey {key}") as proxy:
        flow_env(es_url=proxy.url, es_api_key=key)
        state = ingest(paths=[str(SEED_RECORDS)], return_state=True)
    assert state.is_completed()
    assert state.result()["records_read"] == 33
    assert proxy.accepted > 5 and proxy.refused == 0
    _assert_nowhere([key], debug_logs, state.state_details.flow_run_id)


def test_password_from_a_secret_block_is_used_and_never_logged(
    settings: Settings, flow_env, debug_logs
):
    password = f"pw-{secrets.token_urlsafe(24)}"
    Secret(value={"username": "ingest", "password": password}).save("es-test-creds", overwrite=True)
    basic = base64.b64encode(f"ingest:{password}".encode()).decode()
    with AuthProxy(settings.es_url, f"Basic {basic}") as proxy:
        flow_env(es_url=proxy.url, es_secret_block="es-test-creds")
        state = ingest(paths=[str(SEED_RECORDS)], return_state=True)
    assert state.is_completed()
    assert proxy.accepted > 5 and proxy.refused == 0
    _assert_nowhere([password, basic], debug_logs, state.state_details.flow_run_id)


def test_refused_credentials_fail_the_run_with_one_clear_line(
    settings: Settings, flow_env, debug_logs
):
    wrong = f"sfk-{secrets.token_urlsafe(24)}"
    with AuthProxy(settings.es_url, "ApiKey the-right-one") as proxy:
        flow_env(es_url=proxy.url, es_api_key=wrong)
        state = ingest(paths=[str(SEED_RECORDS)], return_state=True)
    assert state.is_failed()
    assert proxy.refused >= 1 and proxy.accepted == 0
    with pytest.raises(EngineError, match=r"refused the credentials \(401\)"):
        state.result()
    _assert_nowhere([wrong], debug_logs, state.state_details.flow_run_id)


def test_environment_credentials_win_over_the_block_and_a_bad_block_is_named(settings: Settings):
    Secret(value="block-key").save("es-test-key", overwrite=True)
    from_block = with_block_credentials(
        settings.model_copy(update={"es_secret_block": "es-test-key"})
    )
    assert from_block.es_api_key.get_secret_value() == "block-key"
    assert "block-key" not in repr(from_block)

    own = settings.model_copy(update={"es_secret_block": "es-test-key", "es_api_key": "env-key"})
    assert with_block_credentials(own).es_api_key == "env-key"

    Secret(value={"user": "x"}).save("es-test-bad", overwrite=True)
    with pytest.raises(EngineError, match="'es-test-bad' holds neither"):
        with_block_credentials(settings.model_copy(update={"es_secret_block": "es-test-bad"}))
    with pytest.raises(EngineError, match="cannot load the Prefect Secret block 'missing'"):
        with_block_credentials(settings.model_copy(update={"es_secret_block": "missing"}))
