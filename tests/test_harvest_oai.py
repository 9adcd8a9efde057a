"""OAI-PMH harvesting against a local repository that replays Zenodo's recorded pages: resumption
tokens, deleted headers, OAI errors, broken and hanging answers (no engine needed: the
connector's stream is read directly)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from scholarflow.paper.models import RawRecord
from scholarflow.registry import reset_limiters
from scholarflow.settings import Settings
from scholarflow.stores.harvest_sources import new_source
from tasks.decode import decode_record
from tasks.harvest import Deletion, Harvest
from tasks.harvest.http import HarvestHttp
from tasks.harvest.oai import OaiPmh
from tests.fixture_server import Reply
from tests.harvest_servers import OaiRepository, page, three_pages, token_of

UNTIL = datetime(2026, 8, 13, tzinfo=UTC)


@pytest.fixture
def repository():
    reset_limiters()
    with OaiRepository() as server:
        yield server


def _settings(**values) -> Settings:
    defaults = {"doi_rate": 1000, "doi_concurrency": 4, "harvest_timeout": 5.0}
    return Settings(_env_file=None, **(defaults | values))


def _read(repository: OaiRepository, settings: Settings | None = None, **source):
    settings = settings or _settings()
    oai = OaiPmh(
        new_source("zenodo", "oai-pmh", repository.base, **source), HarvestHttp(settings), settings
    )
    (window,) = oai.windows(full=False, until=UNTIL)
    harvest = Harvest(window)
    return harvest, list(oai.records(harvest))


def test_three_recorded_pages_give_their_records_and_the_deleted_header(repository):
    three_pages(repository)
    harvest, items = _read(repository)
    records = [i for i in items if isinstance(i, RawRecord)]
    deletions = [i for i in items if isinstance(i, Deletion)]
    assert harvest.failure is None and harvest.pages == 3
    assert len(records) == 8
    assert [d.ids for d in deletions] == [["oai:zenodo.org:8433364"]]
    assert "page 2" in deletions[0].location
    assert all(r.format == "oai_dc" and r.error is None for r in records)
    assert records[0].location == "oai:zenodo.org:8435696"
    # The first request asks for the window in the repository's granularity (seconds, per
    # Identify); the next ones carry only the token.
    first, second, third = (a for a in repository.asked if a["verb"] == "ListRecords")
    assert first == {
        "verb": "ListRecords",
        "metadataPrefix": "oai_dc",
        "until": "2026-08-13T00:00:00Z",
    }
    assert second == {
        "verb": "ListRecords",
        "resumptionToken": token_of("zenodo_listrecords_oai_dc_page1.xml"),
    }
    assert set(third) == {"verb", "resumptionToken"}


def test_zenodo_dublin_core_decodes_with_doi_authors_and_html_description(repository):
    three_pages(repository)
    _, items = _read(repository)
    papers = [decode_record(i) for i in items if isinstance(i, RawRecord)]
    first = papers[0]
    assert first.doi == "10.5281/zenodo.8435696"
    assert first.title_en == "PocketCoffea: a configuration layer for CMS analyses with Coffea"
    assert first.published is not None and first.published.year == 2023
    assert first.authors and first.provenance[0].location == "oai:zenodo.org:8435696"
    # Zenodo escapes its HTML descriptions once more: read as markup, no tag is left.
    assert first.abstract_en and "<p>" not in first.abstract_en and "&lt;" not in first.abstract_en


def test_a_plain_dublin_core_description_keeps_every_character():
    record = RawRecord(
        "repo",
        "oai:x:1",
        payload={
            "metadata": {"title": ["Values a<b and c>d"], "description": ["p</=0.3 kb & x<y"]}
        },
        format="oai_dc",
    )
    paper = decode_record(record)
    assert paper.title_en == "Values a<b and c>d"
    assert paper.abstract_en == "p</=0.3 kb & x<y"


def test_a_set_and_a_since_bound_are_asked_for(repository):
    repository.windows["2026-08-01T00:00:01Z"] = page("zenodo_listrecords_oai_dc_last_page.xml")
    settings = _settings()
    source = new_source("z", "oai-pmh", repository.base, set="software")
    source.harvested_until = "2026-08-01T00:00:00Z"
    oai = OaiPmh(source, HarvestHttp(settings), settings)
    (window,) = oai.windows(full=False, until=UNTIL)
    items = list(oai.records(Harvest(window)))
    assert len(items) == 3
    asked = next(a for a in repository.asked if a["verb"] == "ListRecords")
    assert asked["set"] == "software" and asked["from"] == "2026-08-01T00:00:01Z"


def test_no_records_match_is_an_empty_window(repository):
    harvest, items = _read(repository)
    assert items == [] and harvest.failure is None


def test_a_token_seen_twice_ends_the_window_instead_of_looping(repository):
    repository.windows[None] = page("zenodo_listrecords_oai_dc_page1.xml")
    token = token_of("zenodo_listrecords_oai_dc_page1.xml")
    repository.tokens[token] = [page("zenodo_listrecords_oai_dc_page1.xml")]
    harvest, items = _read(repository)
    assert harvest.failure and "came back twice" in harvest.failure
    assert "page 2" in harvest.failure
    failed = items[-1]
    assert failed.error and "came back twice" in failed.error
    assert len([a for a in repository.asked if a["verb"] == "ListRecords"]) == 2


def test_an_empty_page_with_a_token_ends_the_window(repository):
    repository.windows[None] = page("handwritten_empty_page_with_token.xml")
    harvest, items = _read(repository)
    assert harvest.failure and "empty page" in harvest.failure
    assert [i.error for i in items] == ["an empty page that still carries a resumptionToken"]


def test_a_bad_resumption_token_restarts_the_window_once_then_stops(repository):
    repository.windows[None] = page("zenodo_listrecords_oai_dc_page1.xml")  # its token: unknown
    harvest, items = _read(repository)
    assert harvest.failure and "badResumptionToken" in harvest.failure
    starts = [a for a in repository.asked if a.get("verb") == "ListRecords" and "until" in a]
    assert len(starts) == 2  # the window was asked for again once
    assert len([i for i in items if i.error is None]) == 6  # page 1 read twice


def test_a_wrong_metadata_prefix_is_one_clear_failure(repository):
    repository.windows[None] = page("sickle_cannotDisseminateFormat.xml")
    harvest, items = _read(repository, prefix="oai_dc")
    (failed,) = items
    assert failed.error == "OAI-PMH error cannotDisseminateFormat"
    assert "window the beginning..2026-08-13T00:00:00Z page 1" in failed.location
    assert harvest.failure.startswith(f"{repository.base} window")


def test_malformed_xml_names_the_page_and_the_position(repository):
    body = page("zenodo_listrecords_oai_dc_page1.xml").body
    repository.windows[None] = Reply(200, body[: len(body) // 2], {"content-type": "text/xml"})
    _harvest, items = _read(repository)
    (failed,) = items
    assert failed.error == "malformed XML"
    assert failed.detail.startswith("line ") and "column" in failed.detail
    assert failed.raw  # the page as it came, for the dead-letter store


def test_an_html_page_instead_of_xml(repository):
    repository.windows[None] = Reply(
        200, page("httpbun_html_not_oai.html").body, {"content-type": "text/html"}
    )
    _harvest, items = _read(repository)
    assert [i.error for i in items] == ["an HTML page, not OAI-PMH XML"]


def test_a_hanging_repository_times_out_in_bounded_time(repository):
    repository.windows[None] = Reply(
        200, page("zenodo_listrecords_oai_dc_page1.xml").body, {}, delay=3
    )
    settings = _settings(harvest_timeout=0.3, harvest_attempts=2)
    begun = time.monotonic()
    harvest, items = _read(repository, settings)
    assert time.monotonic() - begun < 2.5
    assert [i.error for i in items] == ["no answer in time"]
    assert "0.3 s, 2 attempts" in harvest.failure


def _busy_first(repository: OaiRepository, busy: Reply) -> None:
    """The repository answers the first ListRecords with `busy`, then as recorded."""
    answered = {"busy": False}
    recorded = repository._answer

    def answer(query: str) -> Reply:
        if "ListRecords" in query and not answered["busy"]:
            answered["busy"] = True
            return busy
        return recorded(query)

    repository.respond("/oai", answer)


def test_503_with_retry_after_is_honoured(repository):
    repository.windows[None] = page("zenodo_listrecords_oai_dc_last_page.xml")
    _busy_first(repository, Reply(503, b"busy", {"retry-after": "1", "content-type": "text/plain"}))
    begun = time.monotonic()
    harvest, items = _read(repository)
    assert harvest.failure is None and len(items) == 3
    assert time.monotonic() - begun >= 0.9  # waited as asked before asking again


def test_a_retry_after_longer_than_the_patience_stops_the_window(repository):
    repository.windows[None] = page("zenodo_listrecords_oai_dc_last_page.xml")
    _busy_first(repository, Reply(503, b"busy", {"retry-after": "3600"}))
    harvest, items = _read(repository, _settings(harvest_max_wait=60))
    assert [i.error for i in items] == ["HTTP 503"]
    assert "asks to wait 3600 s (more than 60)" in harvest.failure
