"""The search page in a real browser (Debian's Chromium driven by Playwright, as the Prefect UI
test runs it) over the seeds with their vectors: searches in Chinese, English and Traditional
Chinese, highlights, a facet filter, a paper's page, RIS and BibTeX exports read back with
`rispy` and `bibtexparser`, a cross-lingual hit, the keyboard, and the page without JavaScript.

Screenshots of the results page and a paper page are saved under tests/artifacts/
(git-ignored; docs/images/ holds copies of them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import bibtexparser
import pytest
import rispy

from scholarflow.settings import Settings
from tests.conftest import REPO
from tests.system_packages import require_binary
from tests.test_browser_reindex import CHROMIUM_ARGS
from tests.web_service import WebService

pytestmark = pytest.mark.slow

ARTIFACTS = REPO / "tests" / "artifacts"
LUPUS_DOI = "10.1080/25785826.2025.2563427"


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_binary("chromium", "chromium")


@pytest.fixture
def browser(chromium: str) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def search(page, text: str) -> None:
    box = page.locator("#q")
    box.fill(text)
    box.press("Enter")
    page.wait_for_load_state("domcontentloaded")


def test_a_reader_searches_filters_opens_a_paper_and_exports_it(
    browser, vector_settings: Settings, tmp_path: Path
):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    with WebService(vector_settings) as service:
        context = browser.new_context(
            viewport={"width": 1200, "height": 900}, accept_downloads=True, locale="zh-CN"
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(service.url + "/")
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")  # from the browser

        search(page, "白细胞减少")  # Simplified Chinese
        expect(page.locator("h1.count")).to_have_text("找到 1 篇论文")
        expect(page.locator(".hit mark").first).to_have_text("白细胞减少")

        search(page, "系統性紅斑狼瘡")  # Traditional, folded to Simplified
        expect(page.locator(".hit mark").first).to_have_text("系统性红斑狼疮")

        page.get_by_role("link", name="English").click()  # the interface switch
        expect(page.locator("html")).to_have_attribute("lang", "en")
        search(page, "leukopenia rituximab")
        expect(page.locator("h1.count")).to_have_text("1 paper matches")
        expect(page.locator(".hit mark").first).to_be_visible()

        search(page, "cells")
        before = int(page.locator("h1.count").inner_text().split()[0])
        year = page.locator(".facet[aria-label=Year] li a").first
        chosen = year.locator("bdi").inner_text()
        year.click()
        expect(page.locator(".facet[aria-label=Year] a.on")).to_contain_text(chosen)
        after = int(page.locator("h1.count").inner_text().split()[0])
        assert 0 < after < before
        for meta in page.locator(".hit .meta .year").all_inner_texts():
            assert meta == chosen

        page.goto(service.url + "/?hl=zh")
        search(page, "细胞")
        expect(page.locator(".hit mark").first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "web-results.png", full_page=True)
        search(page, "系统性红斑狼疮 白细胞减少")
        page.locator(".hit .title a").first.click()
        expect(page.locator("h1")).to_contain_text("Life-threatening refractory leukopenia")
        assert page.locator('meta[name="citation_doi"]').get_attribute("content") == LUPUS_DOI
        assert page.locator('meta[name="citation_author"]').count() >= 1
        page.screenshot(path=ARTIFACTS / "web-paper.png", full_page=True)

        with page.expect_download() as ris_download:
            page.get_by_role("link", name="RIS", exact=True).click()
        ris = Path(ris_download.value.path()).read_text(encoding="utf-8")
        [entry] = rispy.loads(ris)
        assert entry["doi"] == LUPUS_DOI and entry["translated_title"].startswith("利妥昔单抗")
        with page.expect_download() as bib_download:
            page.get_by_role("link", name="BibTeX", exact=True).click()
        library = bibtexparser.parse_string(Path(bib_download.value.path()).read_text())
        assert not library.failed_blocks
        assert library.entries[0].fields_dict["doi"].value == LUPUS_DOI

        page.goto(service.url + "/?hl=zh")
        search(page, "用户界面 选择架构")  # the paper has English text only
        across = page.locator(".hit", has=page.locator(".across"))
        expect(across.first.locator(".across")).to_have_text("跨语言语义匹配")
        expect(across.first.locator(".title")).to_contain_text("Choice Architecture")

        page.goto(service.url + "/?hl=en")
        page.keyboard.press("Tab")  # the first stop skips to the results
        assert page.evaluate("document.activeElement.className") == "skip"
        assert errors == []
        context.close()


def test_the_basics_work_without_javascript(browser, seeded_settings: Settings):
    from playwright.sync_api import expect

    with WebService(seeded_settings) as service:
        context = browser.new_context(
            java_script_enabled=False, viewport={"width": 390, "height": 844}
        )
        page = context.new_page()
        page.goto(service.url + "/?hl=en")
        search(page, "lizards")
        expect(page.locator("h1.count")).to_contain_text("match")
        count = page.locator(".hit").count()
        assert count > 0
        page.locator(".hit .title a").first.click()
        expect(page.locator(".export a")).to_have_count(3)
        context.close()
