"""OAI-PMH: `ListRecords` window by window, page by page, following resumption tokens.

Records come in `oai_dc` (Dublin Core) or `datacite` (DataCite XML, tasks/harvest/datacite.py),
each read by its own decoder. `Identify` says the repository's granularity (days or seconds);
windows are asked for with `from`/`until` in it. A page's deleted headers become a `Deletion`
of their identifiers (real repositories send them even when `Identify` says `deletedRecord:
no`). `noRecordsMatch` is an empty window. A token seen twice, or an empty page that still
carries a token, ends the window with an error instead of looping; `badResumptionToken` (an
expired token) starts the window again once (what was read already comes back unchanged).
Malformed XML, an HTML page, an OAI error such as `cannotDisseminateFormat`: the page becomes
one dead-lettered record naming the source, window and page, and the window stays unsaved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from lxml import etree

from scholarflow.paper.models import RawRecord
from scholarflow.settings import Settings
from scholarflow.stores.harvest_sources import HarvestSource
from tasks.harvest.datacite import datacite_metadata
from tasks.harvest.http import HarvestHttp, Unanswered
from tasks.harvest.items import Deletion, Harvest, Window
from tasks.harvest.windows import parse_moment, source_windows

OAI = "{http://www.openarchives.org/OAI/2.0/}"
# Prefixes a decoder reads (tasks/decode/formats.py), by the format name records carry.
PREFIX_FORMATS = {"oai_dc": "oai_dc", "datacite": "datacite"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
_ESCAPED = re.compile(r"%[0-9A-Fa-f]{2}")


class PageProblem(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def parse_page(body: bytes) -> Any:
    """The page's root element; PageProblem when it is not an OAI-PMH answer."""
    head = body[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:300]:
        raise PageProblem("an HTML page, not OAI-PMH XML", _snippet(body))
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        raise PageProblem("malformed XML", f"line {line}, column {column}: {exc.msg}") from None
    if root.tag != f"{OAI}OAI-PMH":
        raise PageProblem("not an OAI-PMH answer", f"root element {etree.QName(root).localname}")
    return root


class OaiPmh:
    """One OAI-PMH source."""

    def __init__(self, source: HarvestSource, http: HarvestHttp, settings: Settings) -> None:
        self.source, self.http, self.settings = source, http, settings
        self.prefix = source.prefix or "oai_dc"
        self.repository: str | None = None

    def windows(self, full: bool, until: datetime | None) -> list[Window]:
        day, earliest = self.identify()
        return source_windows(self.source, full, until, day, earliest)

    def identify(self) -> tuple[bool, datetime | None]:
        """(day granularity, earliest datestamp). A repository that does not answer Identify
        is asked in days, which every repository supports."""
        try:
            root = parse_page(self.http.get(self.source.url, {"verb": "Identify"}).content)
        except (Unanswered, PageProblem):
            return True, None
        found = root.find(f"{OAI}Identify")
        if found is None:
            return True, None
        self.repository = _text(found.find(f"{OAI}repositoryName"))
        granularity = _text(found.find(f"{OAI}granularity")) or "YYYY-MM-DD"
        earliest_text = _text(found.find(f"{OAI}earliestDatestamp"))
        try:
            earliest = parse_moment(earliest_text) if earliest_text else None
        except Exception:
            earliest = None
        return "hh" not in granularity, earliest

    def probe(self) -> str | None:
        """Why the repository cannot be harvested now (None: `Identify` answers as OAI-PMH)."""
        try:
            root = parse_page(self.http.get(self.source.url, {"verb": "Identify"}).content)
        except Unanswered as exc:
            return f"{exc.reason} ({exc.detail})"
        except PageProblem as exc:
            return f"Identify: {exc.reason} ({exc.detail})"
        return None if root.find(f"{OAI}Identify") is not None else "Identify: no Identify element"

    def records(self, harvest: Harvest) -> Iterator[RawRecord | Deletion]:
        window, origin = harvest.window, self.source.origin
        first: dict[str, Any] = {"verb": "ListRecords", "metadataPrefix": self.prefix}
        first |= {"from": window.since} if window.since else {}
        first |= {"until": window.until} | ({"set": self.source.set} if self.source.set else {})
        params, token, seen, page, restarted = first, "", set[str](), 0, False
        while True:
            page += 1
            where = f"window {window.describe()} page {page}"
            where += f" (resumptionToken {token})" if token else ""
            try:
                response = self.http.get(self.source.url, params)
                root = parse_page(response.content)
            except Unanswered as exc:
                yield harvest.failed(origin, where, exc.reason, exc.detail, b"")
                return
            except PageProblem as exc:
                yield harvest.failed(origin, where, exc.reason, exc.detail, response.content)
                return
            harvest.pages += 1
            error = root.find(f"{OAI}error")
            if error is not None:
                code = error.get("code") or "unknown"
                if code == "noRecordsMatch":
                    return
                if code == "badResumptionToken" and token and not restarted:
                    params, token, seen, page, restarted = first, "", set(), 0, True
                    continue
                reason = f"OAI-PMH error {code}"
                message = _text(error) or "the repository gave no message"
                yield harvest.failed(origin, where, reason, message, response.content)
                return
            listed = root.find(f"{OAI}ListRecords")
            if listed is None:
                detail = "no ListRecords element"
                yield harvest.failed(origin, where, "not a ListRecords answer", detail, b"")
                return
            records = listed.findall(f"{OAI}record")
            deleted: list[str] = []
            for record in records:
                item = self._record(record, origin, where)
                if isinstance(item, str):
                    deleted.append(item)
                else:
                    yield item
            if deleted:
                yield Deletion(origin, where, deleted)
            token = _text(listed.find(f"{OAI}resumptionToken")) or ""
            if not token:
                return
            if not records:
                reason = "an empty page that still carries a resumptionToken"
                yield harvest.failed(origin, where, reason, token, response.content)
                return
            if token in seen:
                reason = "a resumptionToken that came back twice (the harvest would loop)"
                yield harvest.failed(origin, where, reason, token, response.content)
                return
            seen.add(token)
            # A token may arrive percent-encoded already; httpx encodes it once.
            sent = unquote(token) if _ESCAPED.search(token) else token
            params = {"verb": "ListRecords", "resumptionToken": sent}

    def _record(self, record: Any, origin: str, where: str) -> RawRecord | str:
        """A record to decode, or the identifier of a deleted one."""
        header = record.find(f"{OAI}header")
        identifier = _text(header.find(f"{OAI}identifier")) if header is not None else None
        if header is not None and header.get("status") == "deleted":
            if identifier:
                return identifier
            return RawRecord(origin, where, raw="", error="deleted header without identifier")
        location = identifier or where
        metadata = record.find(f"{OAI}metadata")
        body = metadata[0] if metadata is not None and len(metadata) else None
        if body is None:
            raw = etree.tostring(record, encoding="unicode")
            return RawRecord(origin, location, raw=raw, error="OAI-PMH record without metadata")
        payload = {
            "identifier": identifier,
            "datestamp": _text(header.find(f"{OAI}datestamp")) if header is not None else None,
            "sets": [s.text for s in header.findall(f"{OAI}setSpec") if s.text]
            if header is not None
            else [],
            "repository": self.repository,
            "metadata": METADATA_READERS[self.prefix](body),
        }
        return RawRecord(origin, location, payload=payload, format=PREFIX_FORMATS[self.prefix])


def dublin_core(body: Any) -> dict[str, list[str]]:
    """Dublin Core's elements as lists of their texts, by local name (every element repeats)."""
    elements: dict[str, list[str]] = {}
    for element in body:
        if isinstance(element.tag, str):
            text = "".join(element.itertext())
            if text.strip():
                elements.setdefault(etree.QName(element).localname, []).append(text)
    return elements


# How each prefix's metadata element is read into plain data for its decoder.
METADATA_READERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "oai_dc": dublin_core,
    "datacite": datacite_metadata,
}


def _text(element: Any) -> str | None:
    if element is None:
        return None
    text = "".join(element.itertext()).strip()
    return text or None


def _snippet(body: bytes) -> str:
    text = re.sub(r"\s+", " ", body[:200].decode("utf-8", "replace"))
    return text.strip()
