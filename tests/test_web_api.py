"""The search service's JSON API over the seeds on the real engine, each answer checked against
the OpenAPI schema the service itself serves; its bounds, errors and read-only promises."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import bibtexparser
import httpx
import pytest
import rispy
from jsonschema import Draft202012Validator

from scholarflow.engine.client import connect
from scholarflow.settings import Settings
from tests.web_service import WebService
from web.searching import read_query, search_page

LUPUS_DOI = "10.1080/25785826.2025.2563427"


@pytest.fixture
def web(seeded_settings: Settings) -> Iterator[tuple[WebService, httpx.Client, dict[str, Any]]]:
    with WebService(seeded_settings) as service, service.client() as http:
        schema = http.get("/api/openapi.json").json()
        yield service, http, schema


def conforms(schema: dict[str, Any], path: str, response: httpx.Response) -> Any:
    """The answer's JSON, after checking it against the served schema for its status."""
    operation = schema["paths"][path]["get"]
    declared = operation["responses"][str(response.status_code)]
    body_schema = declared["content"]["application/json"]["schema"]
    Draft202012Validator({**body_schema, "components": schema["components"]}).validate(
        response.json()
    )
    return response.json()


def test_search_answers_as_the_cli_does_in_both_languages(web):
    _, http, schema = web
    found = conforms(schema, "/api/search", http.get("/api/search", params={"q": "白细胞减少"}))
    assert found["total"] == 1 and found["hits"][0]["id"] == LUPUS_DOI
    assert "«白细胞减少»" in found["hits"][0]["highlight"][0]
    assert found["hits"][0]["matched_by"] == ["words"]
    assert found["hits"][0]["across_languages"] is False
    folded = http.get("/api/search", params={"q": "系統性紅斑狼瘡"}).json()  # Traditional
    assert [h["id"] for h in folded["hits"]] == [LUPUS_DOI]
    english = http.get("/api/search", params={"q": "leukopenia rituximab", "facets": "true"})
    body = conforms(schema, "/api/search", english)
    assert body["hits"][0]["id"] == LUPUS_DOI
    assert {"value": 2025, "count": 1} in body["facets"]["year"]


def test_filters_narrow_the_results(web):
    _, http, schema = web
    everything = http.get("/api/search", params={"q": "cells", "facets": "true"}).json()
    year = everything["facets"]["year"][0]
    narrowed = conforms(
        schema,
        "/api/search",
        http.get("/api/search", params={"q": "cells", "year": str(year["value"])}),
    )
    assert narrowed["total"] == year["count"] < everything["total"]
    assert all(hit["year"] == year["value"] for hit in narrowed["hits"])
    corrected = http.get("/api/search", params={"q": "mice", "correction": "corrected"}).json()
    assert corrected["hits"] and all(
        h["correction"]["status"] == "corrected" for h in corrected["hits"]
    )


def test_bounds_are_clear_400s(web):
    _, http, schema = web
    cases = {
        "q": {"q": "x" * 301},
        "size": {"q": "cells", "size": "51"},
        "page": {"q": "cells", "page": "11"},  # past the numbered pages, without a cursor
        "cursor": {"q": "cells", "cursor": "bm90IGEgY3Vyc29y"},
        "year": {"q": "cells", "year": "2025-2020"},
        "lang": {"q": "cells", "lang": "fr"},
        "correction": {"q": "cells", "correction": "lost"},
    }
    for name, params in cases.items():
        response = http.get("/api/search", params=params)
        assert response.status_code == 400, (name, response.text)
        problem = conforms(schema, "/api/search", response)
        assert problem["error"].startswith(name), problem
        assert "\n" not in problem["error"] and "Traceback" not in response.text
    window = http.get("/api/search", params={"q": "cells", "size": "50", "page": "201"})
    assert window.status_code == 400 and "10,000" in window.json()["error"]


def test_pages_past_the_numbered_ones_follow_the_cursor_without_gaps_or_repeats(
    seeded_settings: Settings,
):
    client = connect(seeded_settings)
    alias = seeded_settings.alias
    text = "2000-2025"  # years alone: every paper of those years, many with equal scores
    whole = search_page(client, alias, read_query(text, size=50), None)
    assert whole["total"] > 12
    seen: list[str] = []
    for page in (1, 2):
        query = read_query(text, size=3, page=page, numbered_depth=6)
        result = search_page(client, alias, query, None)
        seen += [hit["id"] for hit in result["hits"]]
    cursor = result["next_cursor"]
    assert cursor and result["numbered_pages"] == 2
    while cursor:
        query = read_query(text, size=3, cursor=cursor, numbered_depth=6)
        result = search_page(client, alias, query, None)
        assert result["total"] == whole["total"]
        seen += [hit["id"] for hit in result["hits"]]
        cursor = result["next_cursor"]
    assert seen == [hit["id"] for hit in whole["hits"]]


def test_suggest_and_papers_by_id_or_doi(web):
    _, http, schema = web
    suggested = conforms(schema, "/api/suggest", http.get("/api/suggest", params={"q": "利妥"}))
    assert suggested["suggestions"][0]["id"] == LUPUS_DOI
    for spelling in (LUPUS_DOI, f"https://doi.org/{LUPUS_DOI.upper()}", f"doi:{LUPUS_DOI}"):
        paper = http.get(f"/api/papers/{spelling}")
        assert paper.status_code == 200, spelling
        assert conforms(schema, "/api/papers/{paper_id}", paper)["doi"] == LUPUS_DOI
    body = paper.json()
    assert body["title_zh"].startswith("利妥昔单抗") and body["authors"]
    assert "provenance" not in body and "record_hashes" not in body  # no server paths
    missing = http.get("/api/papers/10.9999/nothing-here")
    assert missing.status_code == 404
    assert conforms(schema, "/api/papers/{paper_id}", missing)["error"]


def test_a_moved_id_redirects_to_the_current_one(web, seeded_settings: Settings):
    _, http, _ = web
    client = connect(seeded_settings)
    client.update(
        index=seeded_settings.alias,
        id=LUPUS_DOI,
        doc={"former_ids": ["t-life-threatening-leukopenia-2025"]},
        refresh=True,
    )
    moved = http.get("/api/papers/t-life-threatening-leukopenia-2025")
    assert moved.status_code == 308
    assert moved.headers["location"] == f"/api/papers/{LUPUS_DOI}"
    cite = http.get("/api/papers/t-life-threatening-leukopenia-2025/cite?format=bibtex")
    assert cite.status_code == 308
    assert cite.headers["location"] == f"/api/papers/{LUPUS_DOI}/cite?format=bibtex"
    page = http.get("/papers/t-life-threatening-leukopenia-2025?hl=zh")
    assert page.status_code == 308 and page.headers["location"] == f"/papers/{LUPUS_DOI}?hl=zh"


def test_citations_read_back_with_rispy_and_bibtexparser(web):
    _, http, _ = web
    ris = http.get(f"/api/papers/{LUPUS_DOI}/cite", params={"format": "ris"})
    assert ris.headers["content-type"].startswith("application/x-research-info-systems")
    assert "attachment" in ris.headers["content-disposition"]
    [entry] = rispy.loads(ris.text)
    assert entry["doi"] == LUPUS_DOI and entry["type_of_reference"] == "JOUR"
    assert entry["title"].startswith("Life-threatening refractory leukopenia")
    assert entry["translated_title"].startswith("利妥昔单抗")
    assert entry["year"] == "2025" and entry["authors"]
    bib = http.get(f"/api/papers/{LUPUS_DOI}/cite", params={"format": "bibtex"})
    library = bibtexparser.parse_string(bib.text)
    assert not library.failed_blocks
    [article] = library.entries
    assert article.entry_type == "article"
    assert article.fields_dict["doi"].value == LUPUS_DOI
    assert article.fields_dict["journal"].value == "Immunological Medicine"
    csl = http.get(f"/api/papers/{LUPUS_DOI}/cite", params={"format": "csl-json"}).json()
    assert csl[0]["DOI"] == LUPUS_DOI and csl[0]["issued"]["date-parts"][0][0] == 2025
    assert http.get(f"/api/papers/{LUPUS_DOI}/cite", params={"format": "pdf"}).status_code == 400


def test_status_is_read_only_and_names_no_address(web, seeded_settings: Settings):
    _, http, schema = web
    status = conforms(schema, "/api/status", http.get("/api/status"))
    assert status["documents"] == 32 and status["index"] == "papers-000001"
    assert status["engine"].startswith("opensearch 2.19.6")
    port = seeded_settings.es_url.rsplit(":", 1)[1]  # type: ignore[union-attr]
    assert "127.0.0.1" not in http.get("/api/status").text and port not in status["engine"]
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in ("/api/search?q=x", f"/api/papers/{LUPUS_DOI}", "/api/status"):
            assert http.request(method, path).status_code == 405, (method, path)
    assert set(schema["paths"]) == {
        "/api/search",
        "/api/suggest",
        "/api/papers/{paper_id}",
        "/api/papers/{paper_id}/cite",
        "/api/status",
    }
    assert all(set(ops) == {"get"} for ops in schema["paths"].values())


def test_an_engine_that_is_down_gives_503_in_one_line(seeded_settings: Settings):
    gone = seeded_settings.model_copy(update={"es_url": "http://127.0.0.1:9", "es_timeout": 2})
    with WebService(gone) as service, service.client() as http:
        for path in ("/api/search?q=lupus", "/api/status", f"/api/papers/{LUPUS_DOI}"):
            response = http.get(path)
            assert response.status_code == 503, path
            assert response.json() == {
                "error": "the search engine is not answering; try again in a moment"
            }
        page = http.get("/?q=lupus")
        assert page.status_code == 503 and "Traceback" not in page.text
        assert "127.0.0.1:9" not in page.text and "not answering" in page.text


def test_request_rate_is_bounded_per_address(seeded_settings: Settings):
    slow = seeded_settings.model_copy(update={"web_rate_per_minute": 8})
    with WebService(slow) as service, service.client() as http:
        codes = [http.get("/api/suggest", params={"q": "lu"}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]  # a burst of a quarter of the minute's 8
        limited = http.get("/api/suggest", params={"q": "lu"})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"].startswith("too many requests")


def test_cors_is_off_unless_origins_are_configured(web, seeded_settings: Settings):
    _, http, _ = web
    asked = {"origin": "https://elsewhere.example"}
    assert "access-control-allow-origin" not in http.get("/api/status", headers=asked).headers
    allowed = seeded_settings.model_copy(update={"web_cors_origins": ["https://lab.example"]})
    with WebService(allowed) as service, service.client() as other:
        answer = other.get("/api/status", headers={"origin": "https://lab.example"})
        assert answer.headers["access-control-allow-origin"] == "https://lab.example"
        refused = other.get("/api/status", headers=asked)
        assert "access-control-allow-origin" not in refused.headers


def test_the_web_command_serves_on_this_machine_until_stopped(seeded_settings: Settings, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.ops import wait_for
    from tests.serving import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHOLARFLOW_")}
    env |= {"SCHOLARFLOW_ES_URL": seeded_settings.es_url or "", "SCHOLARFLOW_HOME": str(tmp_path)}
    command = [str(Path(sys.executable).with_name("scholarflow")), "web", "--port", str(port)]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.startswith(f"search page: http://127.0.0.1:{port}/"), first

        def answered() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5)
            except httpx.TransportError:
                return None

        status = wait_for(answered, 60, "the search service to answer")
        assert status.status_code == 200 and status.json()["documents"] == 32
    finally:
        child.terminate()
        # uvicorn shuts down, then raises the signal it caught again, as its parent expects
        assert child.wait(timeout=30) in (0, -15)
