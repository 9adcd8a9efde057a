"""Cursor paging, the one loop the Crossref and OpenAlex works APIs share.

A window is asked for with the source's own filters plus the window's update-date bounds and
`cursor=*`; each page's items become records (an item that is not an object is rejected with
its page and position); the page's next cursor is followed until a page has no items or no
cursor. Two guards end a window with an error instead of looping: more items than the total the
first page announced, and (for an API that hands out a new cursor each page) a cursor that
comes back twice. A page that is not the API's JSON (a 404 for an invalid cursor, an HTML error
page) ends the window too, unsaved, with the API's own words where it gave any. `CursorApi`
says how each API names these things.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from scholarflow.paper.models import RawRecord
from scholarflow.settings import Settings
from scholarflow.stores.harvest_sources import HarvestSource
from tasks.harvest.http import HarvestHttp, Unanswered
from tasks.harvest.items import Harvest, Window
from tasks.harvest.windows import source_windows


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None
    total: int | None


@dataclass(frozen=True)
class CursorApi:
    """What differs between the cursor-paged APIs."""

    name: str  # in messages: "Crossref"; lower-cased, the format its records declare
    id_field: str  # an item's own identifier, which becomes its location
    bounds: tuple[str, str]  # the filters that bound a window: `from-update-date`, …
    size: tuple[str, int]  # the page-size parameter and the most it takes
    read_page: Callable[[Any], Page | None]  # the parsed JSON as a page, None if it is not one
    error: Callable[[bytes], str]  # the API's words in a failed answer
    cursor_repeats: bool = False  # one cursor for a whole scroll (Crossref)

    @property
    def format(self) -> str:
        return self.name.lower()


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def body_start(body: bytes) -> str:
    return body[:200].decode("utf-8", "replace")


class CursorPaging:
    """The works of one Crossref or OpenAlex API source, window by window (days: the
    update-date filters are dates)."""

    api: CursorApi

    def __init__(self, source: HarvestSource, http: HarvestHttp, settings: Settings) -> None:
        self.source, self.http, self.settings = source, http, settings

    def windows(self, full: bool, until: datetime | None) -> list[Window]:
        return source_windows(self.source, full, until, day_granularity=True)

    @property
    def url(self) -> str:
        return f"{self.source.url}/works"

    def params(self, window: Window | None, size: int) -> dict[str, Any]:
        """The first page's query: the source's filters, the window's bounds, the polite
        `mailto`."""
        filters = list(self.source.filters)
        since, until = self.api.bounds
        if window is not None:
            filters += [f"{since}:{window.since}"] if window.since else []
            filters.append(f"{until}:{window.until}")
        params: dict[str, Any] = {self.api.size[0]: size}
        if filters:
            params["filter"] = ",".join(filters)
        if self.settings.crossref_mailto:
            params["mailto"] = self.settings.crossref_mailto
        return params

    def probe(self) -> str | None:
        """Why the API cannot be harvested now (None: it answers the source's query)."""
        try:
            response = self.http.get(self.url, self.params(None, 1))
        except Unanswered as exc:
            return f"{exc.reason} ({exc.detail})"
        if response.status_code != 200 or self._page(response.content) is None:
            words = self.api.error(response.content)
            return f"HTTP {response.status_code} from {self.api.name}: {words}"
        return None

    def _page(self, body: bytes) -> Page | None:
        return self.api.read_page(parse_json(body))

    def records(self, harvest: Harvest) -> Iterator[RawRecord]:
        window, origin, api = harvest.window, self.source.origin, self.api
        size = min(self.settings.harvest_rows, api.size[1])
        params = {**self.params(window, size), "cursor": "*"}
        page, read, total, seen = 0, 0, None, set[str]()
        while True:
            page += 1
            where = f"window {window.describe()} page {page}"
            try:
                response = self.http.get(self.url, params)
            except Unanswered as exc:
                yield harvest.failed(origin, where, exc.reason, exc.detail, b"")
                return
            harvest.pages += 1
            found = self._page(response.content) if response.status_code == 200 else None
            if found is None:
                reason = f"HTTP {response.status_code} from {api.name}"
                detail = api.error(response.content)
                yield harvest.failed(origin, where, reason, detail, response.content)
                return
            if not found.items:
                return
            total = total if total is not None else found.total
            read += len(found.items)
            if isinstance(total, int) and read > total + len(found.items):
                reason = f"more items than the total {api.name} announced (the harvest would loop)"
                yield harvest.failed(origin, where, reason, f"{read} > {total}", b"")
                return
            for number, item in enumerate(found.items, start=1):
                location = (
                    item.get(api.id_field) if isinstance(item, dict) else None
                ) or f"{where} item {number}"
                if isinstance(item, dict):
                    yield RawRecord(origin, location, payload=item, format=api.format)
                else:
                    error = "a work that is not an object"
                    yield RawRecord(origin, location, raw=str(item), error=error)
            cursor = found.next_cursor
            if not cursor:
                return
            if not api.cursor_repeats and cursor in seen:
                reason = "a cursor that came back twice (the harvest would loop)"
                yield harvest.failed(origin, where, reason, cursor, b"")
                return
            seen.add(cursor)
            params["cursor"] = cursor
