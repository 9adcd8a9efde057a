"""Crossref REST works by filter: `/works?filter=…&cursor=*`, following `next-cursor` until a
page has no items.

A window is `from-update-date`/`until-update-date` (days), added to the source's own filters
(`prefix:10.5281`, `member:…`, `issn:…`, `type:journal-article`). Requests carry the polite
`mailto` and go through the rate limiter and circuit breaker the DOI lookups use. Crossref keeps
one cursor for a whole scroll, so a repeated cursor is normal; a page past the total the first
page announced is not, and ends the window with an error. An invalid or expired cursor (404)
ends it too, unsaved: the next run asks for the window again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson

from scholarflow.paper.models import RawRecord
from scholarflow.settings import Settings
from scholarflow.stores.harvest_sources import HarvestSource
from tasks.harvest.http import HarvestHttp, Unanswered
from tasks.harvest.items import Harvest, Window
from tasks.harvest.windows import plan_windows


class CrossrefWorks:
    def __init__(self, source: HarvestSource, http: HarvestHttp, settings: Settings) -> None:
        self.source, self.http, self.settings = source, http, settings

    def windows(self, full: bool, until: datetime | None) -> list[Window]:
        return plan_windows(
            self.source.harvested_until,
            full=full,
            until=until,
            day_granularity=True,
            window_days=self.source.window_days,
        )

    def records(self, harvest: Harvest) -> Iterator[RawRecord]:
        window, origin = harvest.window, self.source.origin
        filters = list(self.source.filters)
        filters += [f"from-update-date:{window.since}"] if window.since else []
        filters.append(f"until-update-date:{window.until}")
        params: dict[str, Any] = {
            "filter": ",".join(filters),
            "rows": self.settings.harvest_rows,
            "cursor": "*",
        }
        if self.settings.crossref_mailto:
            params["mailto"] = self.settings.crossref_mailto
        page, read, total = 0, 0, None
        while True:
            page += 1
            where = f"window {window.describe()} page {page}"
            try:
                response = self.http.get(f"{self.source.url}/works", params)
            except Unanswered as exc:
                yield harvest.failed(origin, where, exc.reason, exc.detail, b"")
                return
            harvest.pages += 1
            message = _message(response.content)
            if response.status_code != 200 or message is None:
                reason = f"HTTP {response.status_code} from Crossref"
                yield harvest.failed(
                    origin, where, reason, _error(response.content), response.content
                )
                return
            items = message.get("items") or []
            if not items:
                return
            total = total if total is not None else message.get("total-results")
            read += len(items)
            if isinstance(total, int) and read > total + len(items):
                reason = "more items than the total Crossref announced (the harvest would loop)"
                yield harvest.failed(origin, where, reason, f"{read} > {total}", b"")
                return
            for number, item in enumerate(items, start=1):
                location = (
                    item.get("DOI") if isinstance(item, dict) else None
                ) or f"{where} item {number}"
                if isinstance(item, dict):
                    yield RawRecord(origin, location, payload=item, format="crossref")
                else:
                    yield RawRecord(
                        origin, location, raw=str(item), error="a work that is not an object"
                    )
            cursor = message.get("next-cursor")
            if not cursor:
                return
            params["cursor"] = cursor


def _message(body: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    message = data.get("message") if isinstance(data, dict) else None
    return message if isinstance(message, dict) and "items" in message else None


def _error(body: bytes) -> str:
    """Crossref's own words (`Cursor specified but it is invalid`), or the start of the body."""
    try:
        data = orjson.loads(body)
        return str(data["message"][0]["message"])
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return body[:200].decode("utf-8", "replace")
