"""A local OAI-PMH repository that replays recorded pages (tests/fixtures/harvest/oai/).

`pages` maps what a request asks for to a recorded page: the first page of a window by its
`from` bound (None: a harvest from the beginning), a follow-up page by the resumption token the
page before it carried. `Identify` answers with Zenodo's recorded Identify.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

from tests.fixture_server import FIXTURES, FixtureServer, Reply

OAI = FIXTURES / "harvest" / "oai"
XML = {"content-type": "text/xml; charset=utf-8"}


def page(name: str, status: int = 200, **headers: str) -> Reply:
    return Reply(status, (OAI / name).read_bytes(), {**XML, **headers})


def token_of(name: str) -> str:
    """The resumption token a recorded page ends with."""
    from lxml import etree

    root = etree.fromstring((OAI / name).read_bytes())
    found = root.find(".//{http://www.openarchives.org/OAI/2.0/}resumptionToken")
    assert found is not None and found.text
    return found.text


class OaiRepository(FixtureServer):
    def __init__(self) -> None:
        super().__init__()
        self.windows: dict[str | None, Reply] = {}
        self.tokens: dict[str, list[Reply]] = {}
        self.asked: list[dict[str, str]] = []
        self.identify = page("zenodo_identify.xml")
        self.respond("/oai", self._answer)

    @property
    def base(self) -> str:
        return f"{self.url}/oai"

    def _answer(self, query: str) -> Reply:
        params = {k: v[0] for k, v in parse_qs(query).items()}
        self.asked.append(params)
        if params.get("verb") == "Identify":
            return self.identify
        if "resumptionToken" in params:
            replies = self.tokens.get(params["resumptionToken"])
            if not replies:
                return page("zenodo_422_badResumptionToken.xml", 422)
            return replies.pop(0) if len(replies) > 1 else replies[0]
        return self.windows.get(params.get("from"), page("zenodo_422_noRecordsMatch.xml", 422))


def three_pages(repository: OaiRepository, start: str | None = None) -> None:
    """Zenodo's recorded pages 1 → 2 → last as one window's harvest."""
    repository.windows[start] = page("zenodo_listrecords_oai_dc_page1.xml")
    repository.tokens[token_of("zenodo_listrecords_oai_dc_page1.xml")] = [
        page("zenodo_listrecords_oai_dc_page2_deleted.xml")
    ]
    repository.tokens[token_of("zenodo_listrecords_oai_dc_page2_deleted.xml")] = [
        page("zenodo_listrecords_oai_dc_last_page.xml")
    ]


def fixture_path(name: str) -> Path:
    return OAI / name
