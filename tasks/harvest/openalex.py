"""OpenAlex works: a snapshot's folders, or the API's cursor.

A snapshot (`data/works/updated_date=YYYY-MM-DD/part_*.gz`, gzip JSON Lines) is read folder by
folder, each folder a window: only the folders after the last one harvested completely, up to
`--until`. A line that is not JSON is rejected with its file and line; the rest go on. The API
(`/works?filter=from_updated_date:…,to_updated_date:…&cursor=*`) pages by `meta.next_cursor`
until a page has no results.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from scholarflow.paper.models import RawRecord
from scholarflow.settings import Settings
from scholarflow.stores.harvest_sources import HarvestSource
from tasks.harvest.cursor import CursorApi, CursorPaging, Page, body_start
from tasks.harvest.http import HarvestHttp
from tasks.harvest.items import Harvest, HarvestError, Window
from tasks.harvest.windows import parse_moment

_FOLDER = re.compile(r"^updated_date=(\d{4}-\d{2}-\d{2})$")


def _page(data: Any) -> Page | None:
    if not isinstance(data, dict) or not isinstance(data.get("results", []), list):
        return None
    meta = data.get("meta") or {}
    return Page(data.get("results") or [], meta.get("next_cursor"), meta.get("count"))


OPENALEX = CursorApi(
    "OpenAlex", "id", ("from_updated_date", "to_updated_date"), ("per-page", 200), _page, body_start
)


class OpenAlexApi(CursorPaging):
    api = OPENALEX


class OpenAlexWorks:
    def __init__(self, source: HarvestSource, http: HarvestHttp, settings: Settings) -> None:
        self.source, self.http, self.settings = source, http, settings
        self.snapshot = not source.url.startswith(("http://", "https://"))
        self.paging = OpenAlexApi(source, http, settings)

    def windows(self, full: bool, until: datetime | None) -> list[Window]:
        if not self.snapshot:
            return self.paging.windows(full, until)
        after = None if full or not self.source.harvested_until else self.source.harvested_until
        start = parse_moment(after) if after else None
        windows: list[Window] = []
        for day in sorted(self._folders()):
            moment = datetime.fromisoformat(day).replace(tzinfo=UTC)
            if (start is None or moment > start) and (until is None or moment <= until):
                windows.append(Window(start if not windows else windows[-1].end, moment, True))
        return windows

    def _root(self) -> Path:
        root = Path(self.source.url).expanduser()
        nested = root / "data" / "works"
        return nested if nested.is_dir() else root

    def _folders(self) -> dict[str, Path]:
        root = self._root()
        if not root.is_dir():
            raise HarvestError(f"{root}: no OpenAlex snapshot folder here")
        return {
            match.group(1): path
            for path in root.iterdir()
            if path.is_dir() and (match := _FOLDER.match(path.name))
        }

    def probe(self) -> str | None:
        """Why the source cannot be harvested now: a missing snapshot folder, an API that does
        not answer."""
        if not self.snapshot:
            return self.paging.probe()
        try:
            self._folders()
        except HarvestError as exc:
            return str(exc)
        return None

    def records(self, harvest: Harvest) -> Iterator[RawRecord]:
        if self.snapshot:
            yield from self._snapshot(harvest)
        else:
            yield from self._api(harvest)

    def _snapshot(self, harvest: Harvest) -> Iterator[RawRecord]:
        origin = self.source.origin
        folder = self._folders()[harvest.window.until]
        for part in sorted(folder.glob("part_*.gz")):
            name = f"{folder.name}/{part.name}"
            try:
                with gzip.open(part, "rb") as lines:
                    for number, line in enumerate(lines, start=1):
                        if line.strip():
                            yield _line_record(origin, f"{name}:line {number}", line)
            except (OSError, EOFError, zlib.error) as exc:
                yield harvest.failed(origin, name, "unreadable snapshot file", str(exc), b"")
                return
            harvest.pages += 1

    def _api(self, harvest: Harvest) -> Iterator[RawRecord]:
        return self.paging.records(harvest)


def _line_record(origin: str, location: str, line: bytes) -> RawRecord:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        text = line.decode("utf-8", "replace")
        return RawRecord(origin, location, raw=text, error="invalid JSON", detail=str(exc))
    if not isinstance(value, dict):
        return RawRecord(
            origin,
            location,
            raw=line.decode("utf-8", "replace"),
            error="JSON that is not an object",
        )
    return RawRecord(origin, location, payload=value, format="openalex")
