"""The registry client against real HTTP servers on 127.0.0.1 replaying recorded responses."""

from __future__ import annotations

import email.utils
import json
import socket
from datetime import UTC, datetime, timedelta

import pytest

from scholarflow.registry import CircuitBreaker, RegistryClient
from scholarflow.registry.client import CSL_JSON
from scholarflow.settings import Settings
from tests.conftest import lookups_at
from tests.fixture_server import CROSSREF_WORKS, FIXTURES, FixtureServer, Reply

DOI_FIXTURES = FIXTURES / "doi"
FIGSHARE = "10.6084/m9.figshare.4724797"


def recorded(name: str) -> dict:
    return json.loads((DOI_FIXTURES / name).read_text())


def recorded_reply(name: str, body: bytes | None = None) -> Reply:
    """A reply with the recorded status and headers of a response file."""
    data = recorded(name)
    headers = {
        k: v if isinstance(v, str) else v[0]
        for k, v in data["headers"].items()
        if k not in ("content-length", "transfer-encoding", "content-encoding", "connection")
    }
    text = body if body is not None else str(data.get("body", data.get("body_truncated"))).encode()
    return Reply(data["status"]["code"], text, headers)


def crossref_404() -> Reply:
    """Crossref's answer for a DOI it does not know: 404, text/plain, `Resource not found.`"""
    return recorded_reply(
        "crossref_404_unknown_doi_response.json",
        (DOI_FIXTURES / "crossref_404_unknown_doi_body.txt").read_bytes(),
    )


def agency_reply(prefix: str, agency: str) -> Reply:
    """doi.org's `/ra/{prefix}` answer. The recording is for 10.5281 (DataCite); other
    prefixes get the same answer shape with their own prefix and agency."""
    body = recorded("doiorg_ra_lookup_10.5281_datacite.json")["body"]
    body[0].update({"DOI": prefix, "RA": agency})
    return Reply.json(body)


def client_for(server: FixtureServer, **overrides: object) -> RegistryClient:
    return RegistryClient(Settings(_env_file=None, **lookups_at(server, **overrides)))


@pytest.mark.parametrize("doi", sorted(CROSSREF_WORKS))
def test_crossref_work_found(registry: FixtureServer, doi: str) -> None:
    registry.serve_work(doi, CROSSREF_WORKS[doi])
    lookup = client_for(registry).fetch(doi)
    assert lookup.status == "found"
    assert lookup.source == "crossref"
    assert lookup.body and lookup.body["message"]["DOI"].lower() == doi
    assert (lookup.requests, lookup.retries) == (1, 0)
    [seen] = registry.requests
    assert seen.path == f"/works/{doi}"
    assert seen.query == "mailto=ops%40example.org"  # the polite pool
    assert seen.headers["User-Agent"].startswith("Scholarflow/")
    assert "mailto:ops@example.org" in seen.headers["User-Agent"]


def test_unknown_doi_is_not_found_without_retries(registry: FixtureServer) -> None:
    doi = "10.1371/notarealdoi"
    registry.route(f"/works/{doi}", crossref_404())
    registry.route("/ra/10.1371", agency_reply("10.1371", "Crossref"))
    lookup = client_for(registry).fetch(doi)
    assert lookup.status == "not_found"
    assert lookup.detail == "HTTP 404 from Crossref"
    assert registry.paths() == [f"/works/{doi}", "/ra/10.1371"]


def test_bad_request_fails_without_retries(registry: FixtureServer) -> None:
    doi = "10.1000/bad"
    body = (DOI_FIXTURES / "crossref_400_validation_failure.json").read_bytes()
    registry.route(f"/works/{doi}", Reply(400, body, {"content-type": "application/json"}))
    lookup = client_for(registry).fetch(doi)
    assert lookup.status == "failed"
    assert lookup.detail == (
        "HTTP 400 from Crossref: This route does not support field query parameters"
    )
    assert registry.calls[f"/works/{doi}"] == 1


def test_malformed_json_fails(registry: FixtureServer) -> None:
    doi = "10.1038/srep16696"
    truncated = (DOI_FIXTURES / CROSSREF_WORKS[doi]).read_bytes()[:500]
    registry.route(f"/works/{doi}", Reply(200, truncated, {"content-type": "application/json"}))
    lookup = client_for(registry).fetch(doi)
    assert (lookup.status, lookup.detail) == ("failed", "malformed JSON from Crossref")
    assert registry.calls[f"/works/{doi}"] == 1


def test_datacite_doi_through_the_registration_agency(registry: FixtureServer) -> None:
    # manubot stored the CSL-JSON item in a list; doi.org answers with the object itself.
    item = recorded("doiorg_csljson_datacite_10.6084_m9.figshare.4724797_manubot.json")[0]
    target = f"/dois/application/vnd.citationstyles.csl+json/{FIGSHARE}"
    registry.route(f"/works/{FIGSHARE}", crossref_404())
    registry.route("/ra/10.6084", agency_reply("10.6084", "DataCite"))
    registry.route(f"/{FIGSHARE}", Reply(302, b"", {"location": f"{registry.url}{target}"}))
    registry.route(target, Reply.json(item, **{"content-type": CSL_JSON}))

    lookup = client_for(registry).fetch(FIGSHARE)

    assert lookup.status == "found"
    assert lookup.source == "doi.org"
    assert lookup.body == item
    assert registry.paths() == [f"/works/{FIGSHARE}", "/ra/10.6084", f"/{FIGSHARE}", target]
    assert registry.requests[2].headers["Accept"] == CSL_JSON
    assert lookup.requests == 4  # the redirect hop is a request too


def test_registration_agency_is_asked_once_per_prefix(registry: FixtureServer) -> None:
    dois = ["10.5281/zenodo.48440", "10.5281/zenodo.48441"]
    registry.route(
        "/ra/10.5281", Reply.json(recorded("doiorg_ra_lookup_10.5281_datacite.json")["body"])
    )
    for doi in dois:
        registry.route(f"/works/{doi}", crossref_404())
        registry.route(f"/{doi}", recorded_reply("doiorg_404_unknown_doi_content_negotiation.json"))
    client = client_for(registry)
    lookups = [client.fetch(doi) for doi in dois]
    assert [lookup.status for lookup in lookups] == ["not_found", "not_found"]
    assert lookups[0].detail == "DataCite has no CSL-JSON for it (HTTP 404)"
    assert registry.calls["/ra/10.5281"] == 1


def test_429_retry_after_is_honoured(registry: FixtureServer) -> None:
    doi = "10.1136/esmoopen-2020-000776"
    body = (DOI_FIXTURES / CROSSREF_WORKS[doi]).read_bytes()
    registry.route(
        f"/works/{doi}",
        Reply(429, b"Too Many Requests", {"retry-after": "2", "content-type": "text/html"}),
        Reply(200, body, {"content-type": "application/json"}),
    )
    lookup = client_for(registry).fetch(doi)
    first, second = registry.requests
    assert lookup.status == "found"
    assert second.at - first.at >= 2.0
    assert lookup.waited >= 2.0
    assert (lookup.requests, lookup.retries) == (2, 1)


def test_retry_after_as_http_date(registry: FixtureServer) -> None:
    doi = "10.1136/esmoopen-2020-000776"
    # At least two seconds ahead once the date drops its fraction of a second.
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    when = email.utils.format_datetime(ahead, usegmt=True)
    registry.route(
        f"/works/{doi}",
        Reply(503, b"", {"retry-after": when}),
        Reply(200, (DOI_FIXTURES / CROSSREF_WORKS[doi]).read_bytes()),
    )
    lookup = client_for(registry).fetch(doi)
    first, second = registry.requests
    assert lookup.status == "found"
    assert second.at - first.at >= 1.5


def test_503_burst_then_success(registry: FixtureServer) -> None:
    doi = "10.1371/journal.pone.0033693"
    body = (DOI_FIXTURES / CROSSREF_WORKS[doi]).read_bytes()
    registry.route(f"/works/{doi}", Reply(503), Reply(503), Reply(200, body))
    lookup = client_for(registry, doi_attempts=3).fetch(doi)
    assert lookup.status == "found"
    assert (lookup.requests, lookup.retries) == (3, 2)
    assert lookup.waited > 0  # exponential back-off between the tries


def test_persistent_503_defers_after_the_attempt_cap(registry: FixtureServer) -> None:
    doi = "10.1000/down"
    registry.route(f"/works/{doi}", Reply(503))
    lookup = client_for(registry, doi_attempts=2).fetch(doi)
    assert lookup.status == "unreachable"
    assert lookup.detail == "HTTP 503 after 2 attempts"
    assert registry.calls[f"/works/{doi}"] == 2


@pytest.mark.parametrize("status", [400, 404])
def test_client_errors_are_never_retried(registry: FixtureServer, status: int) -> None:
    doi = "10.1000/never"
    registry.route(f"/works/{doi}", Reply(status, b"no", {"content-type": "text/plain"}))
    registry.route("/ra/10.1000", agency_reply("10.1000", "Crossref"))
    client_for(registry).fetch(doi)
    assert registry.calls[f"/works/{doi}"] == 1


def test_response_slower_than_the_timeout(registry: FixtureServer) -> None:
    doi = "10.1000/slow"
    body = (DOI_FIXTURES / CROSSREF_WORKS["10.3892/ijo_00000353"]).read_bytes()
    registry.route(f"/works/{doi}", Reply(200, body, delay=1.5), Reply(200, body))
    lookup = client_for(registry, doi_timeout=0.5).fetch(doi)
    assert lookup.status == "found"  # the second attempt answered in time
    assert (lookup.requests, lookup.retries) == (2, 1)

    registry.route(f"/works/{doi}", Reply(200, body, delay=1.5))
    lookup = client_for(registry, doi_timeout=0.5, doi_attempts=2).fetch(doi)
    assert lookup.status == "unreachable"
    assert lookup.detail and lookup.detail.startswith("ReadTimeout")


def test_retry_after_beyond_the_time_budget_gives_up_at_once(registry: FixtureServer) -> None:
    doi = "10.1000/busy"
    registry.route(f"/works/{doi}", Reply(429, b"", {"retry-after": "30"}))
    lookup = client_for(registry, doi_max_seconds=5).fetch(doi)
    assert lookup.status == "unreachable"
    assert lookup.detail == (
        "HTTP 429 (Retry-After 30 s) after 1 attempt; gave up to stay within 5 s per DOI"
    )
    assert (registry.calls[f"/works/{doi}"], lookup.waited) == (1, 0.0)


def test_dropped_connections_open_the_breaker(registry: FixtureServer) -> None:
    dois = [f"10.1000/reset.{n}" for n in range(6)]
    for doi in dois:
        registry.route(f"/works/{doi}", Reply(drop=True))
    client = client_for(registry, doi_attempts=2, doi_breaker_threshold=3)
    lookups = [client.fetch(doi) for doi in dois]

    assert client.breaker.open
    assert len(registry.requests) == 3  # two for the first DOI, one for the second: then none
    assert registry.paths() == [f"/works/{dois[0]}"] * 2 + [f"/works/{dois[1]}"]
    assert all(lookup.status == "unreachable" for lookup in lookups)
    assert lookups[1].detail == (
        "RemoteProtocolError: Server disconnected without sending a response. after 1 "
        "attempt; registry unreachable: lookups stopped after 3 consecutive network failures"
    )
    assert {lookup.requests for lookup in lookups[2:]} == {0}


def test_connection_refused_opens_the_breaker() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = f"http://127.0.0.1:{port}"
    settings = Settings(_env_file=None, crossref_url=dead, doi_org_url=dead, doi_attempts=3)
    client = RegistryClient(settings, CircuitBreaker(threshold=4))
    lookups = [client.fetch(f"10.1000/refused.{n}") for n in range(5)]
    assert [lookup.requests for lookup in lookups] == [3, 1, 0, 0, 0]
    assert lookups[0].detail and lookups[0].detail.startswith("ConnectError")
    assert all(lookup.status == "unreachable" for lookup in lookups)
    assert client.breaker.open


def test_a_successful_answer_resets_the_breaker(registry: FixtureServer) -> None:
    good = "10.3892/ijo_00000353"
    registry.serve_work(good, CROSSREF_WORKS[good])
    registry.route("/works/10.1000/reset", Reply(drop=True))
    client = client_for(registry, doi_attempts=1, doi_breaker_threshold=2)
    for doi in ["10.1000/reset", good, "10.1000/reset", good]:
        client.fetch(doi)
    assert not client.breaker.open
    assert registry.calls["/works/10.1000/reset"] == 2
