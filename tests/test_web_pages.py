"""The search pages over the real engine: hostile titles, queries and links escaped everywhere,
correction badges, Highwire meta tags, both interface languages, counts that agree in number
(in the page and the CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import httpx
import pytest
from bs4 import BeautifulSoup
from typer.testing import CliRunner

from cli import app
from scholarflow.engine.client import connect
from scholarflow.paper.models import (
    Author,
    CorrectionStatus,
    Journal,
    Paper,
    Precision,
    PublishedDate,
)
from scholarflow.settings import Settings, get_settings
from scholarflow.stores.indices import ensure_live_index
from tasks.index import index_papers
from tests.test_retraction_search import correction
from tests.web_service import WebService
from web import words

HOSTILE = "10.5555/hostile-1"
RETRACTED = "10.5555/lizards-retracted"
SCRIPT = '<script>alert("title")</script>'
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
RLO = "\u202e"  # right-to-left override


@pytest.fixture
def indexed(settings: Settings) -> Settings:
    client = connect(settings)
    index = ensure_live_index(client, settings.alias)
    hostile = Paper(
        id=HOSTILE,
        doi=HOSTILE,
        title_en=f"Lizards {SCRIPT} and {ATTRIBUTE} in the desert {RLO}gnp.exe",
        title_zh=f"荒漠蜥蜴{RLO}研究 {SCRIPT}",
        abstract_en=f"Desert lizards {ATTRIBUTE} tolerate heat. {{unbalanced brace",
        authors=[Author(name=f"Eve {SCRIPT}"), Author(name="林业杰")],
        journal=Journal(name=f"Journal of {ATTRIBUTE}", volume="7", pages="10-20"),
        published=PublishedDate(value=date(2021, 6, 1), precision=Precision.DAY),
        languages=["en", "zh"],
        pdf_url="javascript:alert(3)",
    )
    retracted = Paper(
        id=RETRACTED,
        doi=RETRACTED,
        title_en="Thermal tolerance of desert lizards",
        published=PublishedDate(value=date(2019, 1, 1), precision=Precision.YEAR),
        languages=["en"],
        correction=correction(CorrectionStatus.RETRACTED, RETRACTED + ".notice", "2019-05"),
    )
    index_papers(client, index, [hostile, retracted], "test-run")
    client.indices.refresh(index=index)
    return settings


@pytest.fixture
def http(indexed: Settings) -> Iterator[httpx.Client]:
    with WebService(indexed) as service, service.client() as client:
        yield client


def assert_inert(html: str) -> BeautifulSoup:
    """No script but the page's own, no event-handler attribute, no javascript: link."""
    soup = BeautifulSoup(html, "html.parser")
    assert [s.get("src") for s in soup.find_all("script")] == ["/static/suggest.js"]
    for element in soup.find_all(True):
        assert not [a for a in element.attrs if a.lower().startswith("on")], element
        for name in ("href", "src", "action"):
            assert not str(element.get(name, "")).lower().startswith("javascript:"), element
    assert "<script>alert" not in html and "<img src=x" not in html
    return soup


def test_hostile_titles_and_queries_are_shown_as_text(http: httpx.Client):
    page = http.get("/", params={"q": f"lizards {SCRIPT}{ATTRIBUTE}", "hl": "en"})
    assert page.status_code == 200
    soup = assert_inert(page.text)
    assert soup.find("input", id="q")["value"] == f"lizards {SCRIPT}{ATTRIBUTE}"
    titles = [h.get_text() for h in soup.select(".hit .title")]
    assert any(SCRIPT in t and ATTRIBUTE in t for t in titles), titles  # every character shown
    for text in soup.find_all(string=lambda s: RLO in s):
        assert text.parent.name == "bdi" or text.find_parent("bdi"), text.parent
    paper = http.get(f"/papers/{HOSTILE}")
    soup = assert_inert(paper.text)
    assert soup.find("h1").get_text().count(SCRIPT) == 1
    assert soup.find("meta", attrs={"name": "citation_title"})["content"].startswith("Lizards <")
    assert "javascript:" not in str(soup.find("dl", class_="ids"))  # the PDF link is left out


def test_hostile_text_cannot_break_a_bibtex_entry(http: httpx.Client):
    import bibtexparser

    bib = http.get(f"/api/papers/{HOSTILE}/cite", params={"format": "bibtex"}).text
    library = bibtexparser.parse_string(bib)
    assert not library.failed_blocks and len(library.entries) == 1
    assert "unbalanced brace" in library.entries[0].fields_dict["abstract"].value


def test_retracted_papers_carry_their_badge_and_notice(http: httpx.Client):
    soup = BeautifulSoup(
        http.get("/", params={"q": "thermal tolerance", "hl": "zh"}).text, "html.parser"
    )
    badge = soup.select_one(".hit .badge-retracted")
    assert badge is not None and badge.get_text() == "已撤稿"
    paper = BeautifulSoup(http.get(f"/papers/{RETRACTED}", params={"hl": "en"}).text, "html.parser")
    notice = paper.select_one(".notice").get_text(" ", strip=True)
    assert "Retracted" in notice and RETRACTED + ".notice" in notice and "May 2019" in notice


def test_interface_languages_and_lang_attributes(http: httpx.Client):
    english = BeautifulSoup(http.get("/", params={"q": "lizards"}).text, "html.parser")
    assert english.html["lang"] == "en"
    assert english.select_one("h1.count").get_text() == "2 papers match"
    switch = english.select_one("a.switch")
    assert switch.get_text() == "中文" and "hl=zh" in switch["href"] and switch["lang"] == "zh-Hans"
    chinese = BeautifulSoup(
        http.get("/", params={"q": "lizards"}, headers={"accept-language": "zh-CN,zh;q=0.9"}).text,
        "html.parser",
    )
    assert chinese.html["lang"] == "zh-Hans"
    assert chinese.select_one("h1.count").get_text() == "找到 2 篇论文"
    assert chinese.select_one("label[for=q]").get_text() == "检索论文"
    zh_title = chinese.select_one(".hit .title2 bdi")
    assert zh_title["lang"] == "zh-Hans" and zh_title.get_text().startswith("荒漠蜥蜴")
    one = BeautifulSoup(http.get("/", params={"q": "thermal", "hl": "en"}).text, "html.parser")
    assert one.select_one("h1.count").get_text() == "1 paper matches"


def test_counts_dates_and_numbers_in_the_readers_convention():
    assert words.papers_found(1, "en") == "1 paper matches"
    assert words.papers_found(12345, "en") == "12,345 papers match"
    assert words.papers_found(1, "zh") == "找到 1 篇论文"
    assert words.cited_by(1, "en") == "cited 1 time"
    assert words.date({"value": "2012-03-21"}, 2012, "en") == "21 March 2012"
    assert words.date({"value": "2012-03-21"}, 2012, "zh") == "2012年3月21日"
    assert words.date({"value": "2019-05"}, None, "zh") == "2019年5月"
    assert words.date(None, 2020, "en") == "2020"
    assert words.reader_language(None, "fr-FR,zh-TW;q=0.8") == "zh"
    assert words.reader_language("en", "zh-CN") == "en"


def test_the_cli_count_agrees_in_number(indexed: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SCHOLARFLOW_ES_URL", indexed.es_url or "")
    monkeypatch.setenv("SCHOLARFLOW_HOME", str(indexed.home))
    get_settings.cache_clear()
    try:
        one = CliRunner().invoke(app, ["search", "thermal"], env={"COLUMNS": "200"})
        two = CliRunner().invoke(app, ["search", "lizards"], env={"COLUMNS": "200"})
    finally:
        get_settings.cache_clear()
    assert one.exit_code == 0 and "1 paper matches thermal" in one.output
    assert two.exit_code == 0 and "2 papers match lizards" in two.output
