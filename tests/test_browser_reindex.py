"""A re-index started from the Prefect UI, in a real browser (Debian's Chromium driven by
Playwright), against `scholarflow serve` as an operator runs it: the seeds are ingested through
the served `ingest` deployment, then the `reindex` deployment is opened in the UI, a custom run
is started with the mode changed in its form, and the alias must end on a new index.

A screenshot of the finished run is saved under tests/artifacts/ (git-ignored)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scholarflow.engine import EmbeddedEngine
from scholarflow.engine.client import connect
from scholarflow.settings import Settings
from scholarflow.stores.indices import live_index
from tests.conftest import REPO, SEED_RECORDS
from tests.ops import wait_for
from tests.serving import PrefectApi, ServeProcess, free_port, wait_until_down
from tests.system_packages import require_binary

pytestmark = pytest.mark.slow

ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The nearest enclosing form property of a label in Prefect's schema form.
PROPERTY = "xpath=ancestor::div[contains(concat(' ', @class, ' '), ' schema-form-property ')][1]"


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_binary("chromium", "chromium")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServeProcess, PrefectApi, int]]:
    port = free_port()
    serve = ServeProcess(tmp_path / "home", "--port", str(port))
    try:
        serve.wait_for_line("serving:", timeout=240)
        api = PrefectApi(f"http://127.0.0.1:{port}/api")
        yield serve, api, port
    finally:
        serve.stop()


def _ingest_seeds(serve: ServeProcess, api: PrefectApi) -> None:
    deployment = _wait_deployment(serve, api, "ingest", "ingest")
    run_id = api.run_deployment(deployment["id"], {"paths": [str(SEED_RECORDS)]})
    run = api.wait_final(run_id, timeout=180, serve=serve)
    assert run["state_type"] == "COMPLETED", serve.tail()


def _wait_deployment(serve: ServeProcess, api: PrefectApi, flow: str, name: str) -> dict:
    return wait_for(lambda: api.deployment(flow, name), 60, f"deployment {flow}/{name}")


def _start_custom_reindex(page, api: PrefectApi, base_url: str, run_name: str) -> None:
    """Deployments → reindex → Run → Custom run; mode: copy → replay; Submit; open the run.

    The run is opened by its address once the API has it: the UI's "submitted" notice, whose
    link leads there, is sometimes replaced by a generic error notice although the run was
    created (the create call answered 201)."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/deployments")
    page.get_by_role("link", name="reindex", exact=True).first.click()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run", exact=True).click()
    page.locator(".flow-run-name-input input").fill(run_name)

    mode = page.get_by_text("Mode (Optional)", exact=True).locator(PROPERTY)
    control = mode.locator(".p-select-button__control")
    expect(control).to_have_text("copy")
    control.focus()
    page.keyboard.press("ArrowDown")  # opens the dropdown's options
    page.get_by_role("listbox").get_by_text("replay", exact=True).click()
    expect(control).to_have_text("replay")

    _submit(page)
    run = wait_for(lambda: api.flow_run_named(run_name), 60, f"flow run {run_name}")
    page.goto(f"{base_url}/runs/flow-run/{run['id']}")


def _submit(page, attempts: int = 3) -> None:
    """Submit the run form, again after a 503, as an operator would.

    Prefect answers 503 ("retry") when its SQLite database stayed locked past the server's
    timeout; its Python client retries that, its UI leaves it to the person at the form."""
    for _ in range(attempts):
        with page.expect_response(lambda r: r.url.endswith("/create_flow_run")) as created:
            page.get_by_role("button", name="Submit", exact=True).click()
        if created.value.status != 503:
            return
    raise AssertionError(f"create_flow_run answered 503 {attempts} times")


def _note_failed_response(trouble: list[str], response) -> None:
    if response.status >= 400:
        trouble.append(f"{response.status} {response.request.method} {response.url}")


def test_reindex_started_from_the_prefect_ui_moves_the_alias(chromium: str, served):
    from playwright.sync_api import sync_playwright

    serve, api, port = served
    ui_line = serve.wait_for_line("Prefect UI:", timeout=5)
    base_url = ui_line.split(":", 1)[1].strip()
    assert base_url == f"http://127.0.0.1:{port}"
    _ingest_seeds(serve, api)
    settings = Settings(_env_file=None, home=serve.home)
    client = connect(settings, start=False)
    before = live_index(client, settings.alias)
    assert before == "papers-000001"
    _wait_deployment(serve, api, "reindex", "reindex")

    ARTIFACTS.mkdir(exist_ok=True)
    run_name = "reindex-from-the-ui"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        trouble: list[str] = []  # what went wrong in the page, for the failure message
        page.on("response", lambda r: _note_failed_response(trouble, r))
        page.on("requestfailed", lambda r: trouble.append(f"{r.method} {r.url}: {r.failure}"))
        page.on("pageerror", lambda error: trouble.append(f"page error: {error}"))
        page.on(
            "console",
            lambda m: (
                trouble.append(f"console: {m.text} at {m.location}") if m.type == "error" else None
            ),
        )
        try:
            _start_custom_reindex(page, api, base_url, run_name)
            run_id = page.url.rstrip("/").rsplit("/", 1)[-1]
            run = api.wait_final(run_id, timeout=180, serve=serve)
            badge = page.locator(".page-heading-flow-run__meta .state-badge")
            badge.filter(has_text="Completed").wait_for(timeout=30_000)
            page.get_by_text("Finished in state Completed").first.wait_for(timeout=30_000)
            page.screenshot(path=ARTIFACTS / "reindex-run.png", full_page=True)
        except Exception as exc:
            page.screenshot(path=ARTIFACTS / "reindex-failure.png", full_page=True)
            server_log = (serve.home / "prefect" / "server.log").read_text(errors="replace")
            raise AssertionError(
                f"{exc}\nin the page: {trouble}\nserver log:\n{server_log[-4000:]}"
            ) from exc
        finally:
            browser.close()

    assert run["name"] == run_name
    assert run["state_type"] == "COMPLETED", serve.tail()
    assert run["parameters"]["parameters"]["mode"] == "replay"  # what the form sent
    after = live_index(client, settings.alias)
    assert after == "papers-000002" and after != before
    assert client.count(index=settings.alias)["count"] == client.count(index=before)["count"]
    assert (ARTIFACTS / "reindex-run.png").stat().st_size > 10_000

    assert serve.stop() == 0
    assert "stopped" in serve.text()
    wait_until_down(port)
    assert EmbeddedEngine(serve.home).status() is None, "serve started the engine: it stops it"
