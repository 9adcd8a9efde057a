"""Elasticsearch credentials for flows: from the environment, or from a Prefect Secret block.

A served or worker-run flow reads its settings from the environment; an operator who would
rather not put credentials there names a Secret block (`SCHOLARFLOW_ES_SECRET_BLOCK`) and the
flow loads it when it starts. Values stay `SecretStr` from here on, so they print as `**********`.
"""

from __future__ import annotations

from typing import Any

import orjson
from prefect.blocks.system import Secret
from pydantic import SecretStr

from scholarflow.engine.client import EngineError
from scholarflow.redact import install_log_redaction, remember, remember_basic
from scholarflow.settings import Settings, get_settings


def flow_settings() -> Settings:
    """The process settings, with credentials from the Secret block when one is named; a flow
    run's log records are redacted from here on (a served or worker-run flow has no CLI that
    would have done it)."""
    install_log_redaction()
    return with_block_credentials(get_settings())


def with_block_credentials(settings: Settings) -> Settings:
    """`settings` with the named Secret block's credentials; credentials set in the
    environment win, so an operator can override the block for one run."""
    name = settings.es_secret_block
    if not name or settings.es_api_key or (settings.es_username and settings.es_password):
        return settings
    try:
        value = Secret.load(name).get()
    except ValueError as exc:
        raise EngineError(f"cannot load the Prefect Secret block {name!r}: {exc}") from exc
    return settings.model_copy(update=_credentials(name, value))


def _credentials(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str) and value.lstrip().startswith("{"):
        value = orjson.loads(value)
    if isinstance(value, str) and value.strip():
        remember(value.strip())
        return {"es_api_key": SecretStr(value.strip())}
    if isinstance(value, dict):
        if value.get("api_key"):
            remember(str(value["api_key"]))
            return {"es_api_key": SecretStr(str(value["api_key"]))}
        if value.get("username") and value.get("password"):
            remember_basic(str(value["username"]), str(value["password"]))
            return {
                "es_username": str(value["username"]),
                "es_password": SecretStr(str(value["password"])),
            }
    raise EngineError(
        f"the Prefect Secret block {name!r} holds neither an API key nor a username and password"
    )
