"""Fetch: stream raw records out of files, directories, globs and URLs.

Nothing here interprets a record beyond parsing its JSON. Every record carries its source and
line (or array index), and a line that cannot be parsed still becomes a `RawRecord` with an
`error`, so the run counts it and the dead-letter store can name it.
"""

from __future__ import annotations

import glob
import gzip
import zlib
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import httpx
import orjson

from scholarflow.models import RawRecord

RECORD_SUFFIXES = (".txt", ".json", ".jsonl", ".ndjson")
_URL_CHUNK = 1 << 16


class SourceError(Exception):
    """A source that cannot be read at all (missing, unreadable, unsupported)."""


def expand_sources(sources: Iterable[str | Path]) -> Iterator[str]:
    """Files and URLs to read, in a stable order: directories are walked, globs expanded."""
    for source in sources:
        text = str(source)
        if text.startswith(("http://", "https://")):
            yield text
            continue
        path = Path(text).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _is_record_file(p.name))
            yield from (str(p) for p in found)
        elif path.is_file():
            if not _is_record_file(path.name):
                raise SourceError(
                    f"{path}: unsupported file type (use {', '.join(RECORD_SUFFIXES)})"
                )
            yield str(path)
        elif glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise SourceError(f"{text}: no file matches this pattern")
            yield from expand_sources(matches)
        else:
            raise SourceError(f"{path}: no such file or directory")


def read_records(sources: Iterable[str | Path]) -> Iterator[RawRecord]:
    """Every record of every source, streamed."""
    for source in expand_sources(sources):
        yield from read_source(source)


def batched(records: Iterable[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


def read_source(source: str) -> Iterator[RawRecord]:
    name = _format_name(source)
    try:
        if name.endswith(".json"):
            yield from _json_document(source, b"".join(_lines(source)))
        elif name.endswith(".txt"):
            yield from _three_line_records(source, _lines(source))
        else:
            yield from _json_lines(source, _lines(source))
    except (OSError, httpx.HTTPError, zlib.error, EOFError) as exc:
        raise SourceError(f"{source}: cannot read ({_describe(exc)})") from exc


def _is_record_file(name: str) -> bool:
    return _format_name(name).endswith(RECORD_SUFFIXES)


def _format_name(source: str) -> str:
    name = source.split("?", 1)[0].lower()
    return name.removesuffix(".gz")


def _describe(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _lines(source: str) -> Iterator[bytes]:
    """Raw lines (with their newline) of a file or URL, gunzipped when the name ends in .gz."""
    gzipped = source.split("?", 1)[0].lower().endswith(".gz")
    if source.startswith(("http://", "https://")):
        yield from _url_lines(source, gzipped)
        return
    opener = gzip.open if gzipped else open
    with opener(source, "rb") as handle:
        yield from handle


def _url_lines(url: str, gzipped: bool) -> Iterator[bytes]:
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    pending = b""
    with httpx.stream("GET", url, timeout=30.0, follow_redirects=True) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes(_URL_CHUNK):
            pending += inflate.decompress(chunk) if inflate else chunk
            *complete, pending = pending.split(b"\n")
            yield from (line + b"\n" for line in complete)
    if inflate:
        pending += inflate.flush()
    if pending:
        yield pending


def _decode_line(raw: bytes) -> tuple[str | None, str | None]:
    """(text, None), or (None, reason) when the bytes are not UTF-8."""
    try:
        return raw.decode("utf-8-sig").rstrip("\r\n"), None
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"


def _parse_object(source: str, location: str, text: str) -> RawRecord:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return RawRecord(source, location, raw=text, error=f"invalid JSON: {exc}")
    if not isinstance(value, dict):
        kind = type(value).__name__
        return RawRecord(source, location, raw=text, error=f"JSON {kind}, expected an object")
    return RawRecord(source, location, payload=value)


def _json_lines(source: str, lines: Iterable[bytes]) -> Iterator[RawRecord]:
    for number, raw in enumerate(lines, start=1):
        text, error = _decode_line(raw)
        location = f"line {number}"
        if error:
            yield RawRecord(source, location, raw=raw.decode("utf-8", "replace"), error=error)
        elif text.strip():
            yield _parse_object(source, location, text)


def _three_line_records(source: str, lines: Iterable[bytes]) -> Iterator[RawRecord]:
    """The aggregator's text shape: a JSON line, then the English title, then the abstract."""
    current: RawRecord | None = None
    side_cars = ("title_en", "abstract_en")
    for number, raw in enumerate(lines, start=1):
        text, error = _decode_line(raw)
        location = f"line {number}"
        if error:
            if current is not None:
                yield current
                current = None
            yield RawRecord(source, location, raw=raw.decode("utf-8", "replace"), error=error)
        elif text.lstrip().startswith("{"):
            if current is not None:
                yield current
            current = _parse_object(source, location, text)
        elif current is not None and len(current.extras) < len(side_cars):
            current.extras[side_cars[len(current.extras)]] = text
        elif text.strip():
            yield RawRecord(source, location, raw=text, error="text line outside any record")
    if current is not None:
        yield current


def _json_document(source: str, data: bytes) -> Iterator[RawRecord]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        text = data.decode("utf-8", "replace")
        yield RawRecord(source, "document", raw=text, error=f"invalid JSON: {exc}")
        return
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        location = f"item {index}"
        if isinstance(item, dict):
            yield RawRecord(source, location, payload=item)
        else:
            raw = orjson.dumps(item).decode()
            kind = type(item).__name__
            yield RawRecord(source, location, raw=raw, error=f"JSON {kind}, expected an object")
