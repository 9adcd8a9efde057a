"""Addresses are shown without user-info or secret query values, and no credential appears in any
output channel: stdout, stderr (with `--debug` too), log records, the Prefect API's logs,
artifacts and parameters, dead-letter details. A secret is planted in every credential setting
and each failure mode is run against real servers on 127.0.0.1: nothing listening, a 401, a TLS
handshake with a plain-HTTP port, a refused bulk item, a flow run that fails. And a request the
engine does not answer in time is named, with the time waited and the setting to raise."""

from __future__ import annotations

import base64
import re
import secrets
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.logging.handlers import APILogHandler
from pydantic import SecretStr

from flows.ingest import ingest
from scholarflow.engine.client import EngineError, RequestTimeout, check, connect
from scholarflow.paper.models import RawRecord
from scholarflow.redact import redact_text, redact_url, remember
from scholarflow.settings import Settings
from scholarflow.stores.bulk import BulkRetry
from tasks.decode import decode_record
from tasks.index import index_papers
from tests.auth_proxy import AuthProxy
from tests.bulk_server import BulkServer
from tests.cli_helpers import one_line_error, run_cli
from tests.conftest import SEED_RECORDS
from tests.local_http import LocalHttpServer, QuietHandler
from tests.test_secrets import _assert_nowhere, debug_logs  # noqa: F401 (a fixture)

BLOCK = "es-redaction-creds"


def _secret(prefix: str) -> str:
    return f"{prefix}-{secrets.token_urlsafe(18)}"


def test_an_address_loses_its_user_info_and_secret_query_values() -> None:
    assert redact_url("https://bob:s3cret@es.example.org:9243/p") == "https://es.example.org:9243/p"
    assert redact_url("http://127.0.0.1:9/?api_key=k&x=1&Access-Token=t") == (
        "http://127.0.0.1:9/?api_key=***&x=1&Access-Token=***"
    )
    assert redact_url("embedded engine") == "embedded engine"
    text = "error: http://bob:s3cret@127.0.0.1:9: refused; see https://h/a?token=zz."
    assert redact_text(text) == "error: http://127.0.0.1:9: refused; see https://h/a?token=***."
    # A password the address pattern stops short of, and a remembered key outside any address.
    assert redact_text("at http://u:pa(ss@h:1/") == "at http://h:1/"
    key = _secret("k")
    remember(key)
    assert redact_text(f"engine said: bad key {key}") == "engine said: bad key ***"


def test_user_info_in_the_url_is_sent_as_basic_credentials(settings: Settings) -> None:
    password = _secret("p") + "@/:"  # characters that must be percent-encoded in a URL
    basic = base64.b64encode(f"bob:{password}".encode()).decode()
    with AuthProxy(settings.es_url, f"Basic {basic}") as proxy:
        url = proxy.url.replace("://", f"://bob:{quote(password, safe='')}@")
        client = connect(settings.model_copy(update={"es_url": url}))
        assert check(client, url)["version"]["number"]
        # Credentials set explicitly win over the URL's.
        other = settings.model_copy(
            update={"es_url": url, "es_username": "bob", "es_password": SecretStr("wrong-one")}
        )
        with pytest.raises(EngineError, match=r"^http://127\.0\.0\.1:\d+: .*\(401\)$"):
            check(connect(other), url)
    assert proxy.accepted == 1 and proxy.refused == 1
    assert all(password not in repr(node) for node in client.transport.node_pool.all())


@pytest.fixture
def planted(tmp_path: Path, prefect_api_url: str) -> dict[str, str]:
    """A secret in every credential setting: the URL's user-info and query, the user and
    password, the API key, and a Prefect Secret block."""
    values = {name: _secret(name) for name in ("url", "query", "password", "key", "block")}
    Secret(value={"username": "ingest", "password": values["block"]}).save(BLOCK, overwrite=True)
    return values


def _env(planted: dict[str, str], url: str, tmp_path: Path, api: str) -> dict[str, str]:
    host = url.replace("://", f"://bob:{planted['url']}@") + f"/?api_key={planted['query']}"
    return {
        "SCHOLARFLOW_ES_URL": host,
        "SCHOLARFLOW_ES_USERNAME": "bob",
        "SCHOLARFLOW_ES_PASSWORD": planted["password"],
        "SCHOLARFLOW_ES_API_KEY": planted["key"],
        "SCHOLARFLOW_ES_SECRET_BLOCK": BLOCK,
        "SCHOLARFLOW_HOME": str(tmp_path / "home"),
        "SCHOLARFLOW_DOI_LOOKUP": "off",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": api,
    }


def _prefect_texts() -> list[str]:
    """Every log and artifact the Prefect API holds, from every run so far."""
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs()
        artifacts = client.read_artifacts()
    return [log.message for log in logs] + [f"{a.description} {a.data}" for a in artifacts]


def _failure_modes(settings: Settings, planted: dict[str, str], tmp_path: Path, api: str):
    """(name, env, the error line's expected words) for each way the engine cannot be used."""
    with AuthProxy(settings.es_url, "Basic never-this") as proxy:
        plain = proxy.url
        yield "unreachable", _env(planted, "http://127.0.0.1:9", tmp_path, api), "cannot reach"
        yield "refused", _env(planted, plain, tmp_path, api), r"refused the credentials \(401\)"
        tls = plain.replace("http://", "https://")
        yield "tls", _env(planted, tls, tmp_path, api), "cannot reach the engine"
        assert proxy.refused >= 2  # the 401s came from the proxy (ingest and status)


@pytest.mark.parametrize("command", ["ingest", "status"])
def test_no_failure_shows_a_credential_on_any_channel(
    command: str,
    settings: Settings,
    planted: dict[str, str],
    prefect_api_url: str,
    tmp_path: Path,
) -> None:
    args = [command, str(SEED_RECORDS)] if command == "ingest" else [command]
    seen = []
    for name, env, words in _failure_modes(settings, planted, tmp_path, prefect_api_url):
        line = one_line_error(run_cli(*args, env=env, cwd=tmp_path))
        assert re.search(words, line), (name, line)
        host = env["SCHOLARFLOW_ES_URL"].split("@")[1].split("/")[0]
        assert f"://{host}/?api_key=***" in line, (name, line)  # the address, shown redacted
        debug = run_cli("--debug", *args, env=env, cwd=tmp_path)
        assert debug.returncode != 0 and "Traceback" in debug.stderr, (name, debug.stderr)
        seen += [line, debug.stdout, debug.stderr]
    seen += _prefect_texts()
    for secret in planted.values():
        assert not any(secret in text for text in seen), "a credential leaked"
    assert not any("bob:" in text for text in seen), "an address kept its user-info"


def test_a_refused_bulk_item_is_dead_lettered_without_a_credential(tmp_path: Path) -> None:
    password = _secret("p")
    payload = {"title": "Paper a", "doi": "10.1000/a"}
    papers = [decode_record(RawRecord("feed.jsonl", "line 1", payload=payload))]
    with BulkServer({"10.1000/a": [400]}) as server:
        url = server.url.replace("://", f"://bob:{password}@")
        client = connect(Settings(_env_file=None, es_url=url, home=tmp_path))
        result = index_papers(client, "papers-1", papers, "run", BulkRetry(1, 0))
    [rejection] = result.rejections
    assert "failed to parse field [year]" in rejection.detail  # the engine's own words, kept
    assert password not in repr(rejection) and "bob" not in repr(rejection)


@pytest.mark.usefixtures("prefect_harness")
def test_a_failed_flow_run_with_block_credentials_leaks_nothing(
    settings: Settings,
    flow_env,
    debug_logs,  # noqa: F811
) -> None:
    url_password, block_password = _secret("u"), _secret("b")
    Secret(value={"username": "ingest", "password": block_password}).save(BLOCK, overwrite=True)
    with AuthProxy(settings.es_url, "Basic the-right-one") as proxy:
        flow_env(es_url=proxy.url.replace("://", f"://bob:{url_password}@"), es_secret_block=BLOCK)
        state = ingest(paths=[str(SEED_RECORDS)], return_state=True)
    assert state.is_failed() and proxy.refused >= 1 and proxy.accepted == 0
    with pytest.raises(EngineError, match=r"^http://127\.0\.0\.1:\d+: the engine refused"):
        state.result()
    basic = base64.b64encode(f"ingest:{block_password}".encode()).decode()
    _assert_nowhere(
        [url_password, block_password, basic], debug_logs, state.state_details.flow_run_id
    )


class SlowEngine(LocalHttpServer):
    """Answers `GET /` at once and holds every other request until released: an engine too
    busy to answer in time."""

    INFO = b'{"version": {"number": "2.19.6", "distribution": "opensearch"}, "tagline": "x"}'

    def __init__(self) -> None:
        self.release = threading.Event()
        self.held: list[str] = []
        engine = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path != "/":
                    engine.held.append(self.path)
                    engine.release.wait(30)
                self.send_reply(200, engine.INFO, {"Content-Type": "application/json"})

            do_POST = do_PUT = do_GET

        super().__init__(Handler)

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        super().__exit__(*exc)


def test_a_timeout_names_the_request_the_wait_and_the_setting(tmp_path: Path) -> None:
    with SlowEngine() as slow:
        settings = Settings(_env_file=None, es_url=slow.url, home=tmp_path, es_timeout=0.2)
        with pytest.raises(RequestTimeout) as caught:
            connect(settings).indices.refresh(index="papers-1")
        # A refresh waits ten times the setting; an ordinary request the setting itself.
        assert caught.value.message.startswith("POST /papers-1/_refresh got no answer within 2 s")
        env = {"SCHOLARFLOW_ES_URL": slow.url, "SCHOLARFLOW_ES_TIMEOUT": "0.2"}
        line = one_line_error(run_cli("status", env=env, cwd=tmp_path))
    assert line.startswith("error: the engine did not answer in time: GET /_alias/papers"), line
    assert "within 0.2 s (raise SCHOLARFLOW_ES_TIMEOUT" in line, line
    assert "/papers-1/_refresh" in slow.held


def test_a_bulk_request_waits_longer_the_more_it_sends(tmp_path: Path) -> None:
    with SlowEngine() as slow:
        client = connect(Settings(_env_file=None, es_url=slow.url, home=tmp_path, es_timeout=0.1))
        lines = [
            {"index": {"_index": "p", "_id": str(n)}} if n % 2 else {"n": n} for n in range(50)
        ]
        with pytest.raises(RequestTimeout, match=r"^PUT /_bulk got no answer within 1.1 s"):
            client.bulk(operations=lines)


def test_settings_never_show_the_url_user_info_in_their_repr() -> None:
    shown = repr(Settings(_env_file=None, es_url="http://bob:s3cret@127.0.0.1:9"))
    assert "es_url='http://127.0.0.1:9'" in shown and "s3cret" not in shown


def test_an_engine_refusal_that_quotes_an_address_is_kept_without_its_user_info() -> None:
    from scholarflow.stores.bulk import item_error

    quoted = {
        "type": "illegal_argument_exception",
        "reason": "no route to http://bob:s3cret@es:9200/x",
    }
    status, reason, detail = item_error({"status": 400, "error": quoted})
    assert status == 400 and "s3cret" not in reason + detail
    assert "http://es:9200/x" in reason and "http://es:9200/x" in detail
