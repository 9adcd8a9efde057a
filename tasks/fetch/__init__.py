"""Fetch: stream raw records out of files, directories, globs and URLs.

Nothing here interprets a record beyond parsing its JSON (or its file format). Every record
carries its source and
line (or array index), and a line that cannot be parsed still becomes a `RawRecord` with an
`error`, so the run counts it and the dead-letter store can name it. One bad line never costs
the rest of its file: a line that is not UTF-8 is decoded in the encoding detected for it
(GB18030 and Big5 are common in Chinese feeds), and only a line that fits no encoding is
rejected.

Files in scholarly formats are read by their own modules, chosen by the file's name or first
lines (or forced with `format`):

- `medline`: PubMed/MEDLINE XML, streamed (read in blocks, not lines), with the deletions
  update files carry;
- `deletions`: `Deletion`, what a source withdraws;
- `tagged`: RIS, EndNote/Refer, RefWorks and NoteExpress exports;
- `bibtex`: BibTeX;
- `text_files`: encodings of whole export files and format detection, and what the readers
  share (a rejection as the bytes it was read from, lines taken up to a size).
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import charset_normalizer
import httpx
import orjson

from scholarflow.errors import ScholarflowError
from scholarflow.paper.models import RawRecord
from tasks.fetch.bibtex import bibtex_records, reparse_bibtex
from tasks.fetch.deletions import Deletion
from tasks.fetch.medline import pubmed_records, reparse_medline
from tasks.fetch.tagged import TAGGED_FORMATS, reparse_tagged, tagged_records
from tasks.fetch.text_files import (
    CANDIDATE_ENCODINGS,
    SUFFIX_FORMATS,
    detect_format,
    format_by_name,
    rejected_bytes,
)

JSON_SUFFIXES = (".txt", ".json", ".jsonl", ".ndjson")
RECORD_SUFFIXES = JSON_SUFFIXES + tuple(SUFFIX_FORMATS)
# Encodings a line that is not UTF-8 may be in (text_files.CANDIDATE_ENCODINGS): the Chinese
# national standard (a superset of GBK and GB2312), Traditional-Chinese Big5, Japanese Shift_JIS
# and Western Windows-1252. Korean code pages are left out on purpose: on short Chinese lines
# they win detection with nonsense.
_URL_CHUNK = 1 << 16
_BLOCK = 1 << 16  # bytes a block-read source (PubMed XML) is read in


class SourceError(ScholarflowError):
    """A source that cannot be read at all (missing, unreadable, unsupported)."""


def expand_sources(sources: Iterable[str | Path], any_suffix: bool = False) -> Iterator[str]:
    """Files and URLs to read, in a stable order: directories are walked, globs expanded, and
    a file named twice (a directory and a file inside it) is read once. Files are named by
    absolute path, so a record has the same provenance (and dead-letter id) whatever the
    directory a run starts from. `any_suffix` (a format forced) accepts a file named on its
    own whatever its name."""
    seen: set[str] = set()
    for source in _expand(sources, any_suffix):
        if source not in seen:
            seen.add(source)
            yield source


def _expand(sources: Iterable[str | Path], any_suffix: bool = False) -> Iterator[str]:
    for source in sources:
        text = str(source)
        if text.startswith(("http://", "https://")):
            yield text
            continue
        path = Path(text).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _is_record_file(p.name))
            yield from (os.path.abspath(p) for p in found)
        elif path.is_file():
            if not any_suffix and not _is_record_file(path.name):
                raise SourceError(
                    f"{path}: unsupported file type (use {', '.join(RECORD_SUFFIXES)})"
                )
            yield os.path.abspath(path)
        elif glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise SourceError(f"{text}: no file matches this pattern")
            yield from _expand(matches, any_suffix)
        else:
            raise SourceError(f"{path}: no such file or directory")


def read_records(
    sources: Iterable[str | Path],
    format: str | None = None,
    deletions: list[Deletion] | None = None,
) -> Iterator[RawRecord]:
    """Every record of every source, streamed."""
    for source in expand_sources(sources, any_suffix=format is not None):
        yield from read_source(source, format=format, deletions=deletions)


def batched(records: Iterable[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


def read_source(
    source: str,
    digest: Any = None,
    format: str | None = None,
    deletions: list[Deletion] | None = None,
) -> Iterator[RawRecord]:
    """The records of one file or URL; `digest` (a hashlib object) sees every byte read.

    `format` forces a file format; without it the name and the first lines say. Deletions a
    PubMed update file announces go to `deletions`; a caller that keeps no list gets each as a
    rejected record (`deletion not applied`), so none is ever dropped unseen."""
    name = _format_name(source)
    format = format or format_by_name(name)
    # PubMed XML is read in blocks, not lines: a record spans hundreds of short lines.
    lines = (_blocks if format == "medline" else _lines)(source)
    lines = lines if digest is None else _hashed(lines, digest)
    try:
        if format is None:
            format, lines = detect_format(name, lines)
        if format == "medline":
            yield from pubmed_records(source, lines, deletions)
        elif format in TAGGED_FORMATS:
            yield from tagged_records(source, format, b"".join(lines))
        elif format == "bibtex":
            yield from bibtex_records(source, b"".join(lines))
        elif name.endswith(".json"):
            yield from _json_document(source, b"".join(lines))
        elif name.endswith(".txt"):
            yield from _three_line_records(source, lines)
        else:
            yield from _json_lines(source, lines)
    except (OSError, httpx.HTTPError, zlib.error, EOFError) as exc:
        raise SourceError(f"{source}: cannot read ({_describe(exc)})") from exc


def new_digest() -> Any:
    return hashlib.blake2b(digest_size=16)


def content_hash(source: str) -> str:
    """Hash of a source's content (after gunzip): what the source manifest compares."""
    digest = new_digest()
    try:
        for line in _lines(source):
            digest.update(line)
    except (OSError, zlib.error, EOFError) as exc:
        raise SourceError(f"{source}: cannot read ({_describe(exc)})") from exc
    return digest.hexdigest()


def check_readable(source: str) -> None:
    """Fail now, with the file's name, if a local source cannot be opened and read."""
    if is_url(source):
        return
    try:
        with (gzip.open if _gzipped(source) else open)(source, "rb") as handle:
            handle.read(1)
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError(f"{source}: cannot read ({_describe(exc)})") from exc


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def reparse(
    source: str,
    location: str,
    data: bytes,
    extras: dict[str, str],
    format: str | None = None,
) -> list[RawRecord]:
    """The records a dead-lettered fetch entry holds, read again by today's reader."""
    if format == "medline":
        return reparse_medline(source, location, data)
    if format in TAGGED_FORMATS:
        return reparse_tagged(source, location, format, data)
    if format == "bibtex":
        return reparse_bibtex(source, location, data)
    if location == "document":
        return list(_json_document(source, data))
    record = _line_record(source, location, data.rstrip(b"\r\n"), _LineDecoder())
    record.extras = dict(extras)
    return [record]


def _is_record_file(name: str) -> bool:
    return _format_name(name).endswith(RECORD_SUFFIXES)


def _format_name(source: str) -> str:
    name = source.split("?", 1)[0].lower()
    return name.removesuffix(".gz")


def _describe(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _gzipped(source: str) -> bool:
    return source.split("?", 1)[0].lower().endswith(".gz")


def _lines(source: str) -> Iterator[bytes]:
    """Raw lines (with their newline) of a file or URL, gunzipped when the name ends in .gz."""
    if is_url(source):
        yield from _url_lines(source, _gzipped(source))
        return
    opener = gzip.open if _gzipped(source) else open
    with opener(source, "rb") as handle:
        yield from handle


def _blocks(source: str) -> Iterator[bytes]:
    """The bytes of a file or URL in blocks of `_BLOCK` (lines cut anywhere), gunzipped when
    the name ends in .gz."""
    if is_url(source):
        yield from _url_blocks(source, _gzipped(source))
        return
    opener = gzip.open if _gzipped(source) else open
    with opener(source, "rb") as handle:
        while block := handle.read(_BLOCK):
            yield block


def _hashed(lines: Iterable[bytes], digest: Any) -> Iterator[bytes]:
    for line in lines:
        digest.update(line)
        yield line


def _url_blocks(url: str, gzipped: bool) -> Iterator[bytes]:
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    with httpx.stream("GET", url, timeout=30.0, follow_redirects=True) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes(_URL_CHUNK):
            yield inflate.decompress(chunk) if inflate else chunk
    if inflate:
        yield inflate.flush()


def _url_lines(url: str, gzipped: bool) -> Iterator[bytes]:
    pending = b""
    for block in _url_blocks(url, gzipped):
        pending += block
        *complete, pending = pending.split(b"\n")
        yield from (line + b"\n" for line in complete)
    if pending:
        yield pending


class _LineDecoder:
    """UTF-8 first. A line that is not UTF-8 is decoded in the encoding detected for it; that
    encoding is tried first for the next such line of the same source, so a whole GB18030 file
    costs one detection, not one per line."""

    def __init__(self) -> None:
        self.encoding: str | None = None

    def decode(self, raw: bytes) -> tuple[str | None, str | None, str | None]:
        """(text, encoding when not UTF-8, None), or (None, None, where the bytes go wrong)."""
        try:
            return raw.decode("utf-8-sig"), None, None
        except UnicodeDecodeError as exc:
            problem = f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not UTF-8"
        if self.encoding:
            try:
                return raw.decode(self.encoding), self.encoding, None
            except UnicodeDecodeError:
                pass
        match = charset_normalizer.from_bytes(raw, cp_isolation=CANDIDATE_ENCODINGS).best()
        if match is None:
            return None, None, problem
        self.encoding = match.encoding
        return str(match), match.encoding, None


_CONTROL = re.compile(r"[\x00-\x1f]")


def _load_json(text: str) -> tuple[Any, list[str], str | None]:
    """(value, flags, None), or (None, [], what is wrong) when the text is not JSON."""
    try:
        return orjson.loads(text), [], None
    except orjson.JSONDecodeError as exc:
        value = _lenient_json(text)
        if value is None:
            return None, [], str(exc)
        return value, ["control_characters"], None


def _lenient_json(text: str) -> Any:
    """Raw control characters (NUL, tabs, …) inside strings are invalid JSON, yet common in
    exported feeds: accept them rather than lose the record. None when still unreadable."""
    if not _CONTROL.search(text):
        return None
    try:
        value = json.loads(text, strict=False)
        orjson.dumps(value)  # lone surrogates (`"\ud800"`) pass json but could not be indexed
    except (ValueError, TypeError, RecursionError, orjson.JSONEncodeError):
        return None
    return value


def _parse_object(source: str, location: str, text: str) -> RawRecord:
    value, flags, problem = _load_json(text)
    if problem is not None:
        return RawRecord(source, location, raw=text, error="invalid JSON", detail=problem)
    return _object_record(source, location, value, flags, text)


def _object_record(
    source: str, location: str, value: Any, flags: list[str], text: str | None = None
) -> RawRecord:
    if isinstance(value, dict):
        return RawRecord(source, location, payload=value, flags=list(flags))
    raw = text if text is not None else orjson.dumps(value).decode()
    kind = type(value).__name__
    return RawRecord(source, location, raw=raw, error=f"JSON {kind}, expected an object")


def _line_record(source: str, location: str, raw: bytes, decoder: _LineDecoder) -> RawRecord:
    try:  # the common case, parsed straight from the bytes (orjson checks they are UTF-8)
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass  # not UTF-8, a byte-order mark, control characters, or not JSON: read with care
    else:
        if isinstance(value, dict):
            return RawRecord(source, location, payload=value, line=raw)
    text, encoding, problem = decoder.decode(raw)
    if text is None:
        return _undecodable(source, location, raw, problem)
    record = _parse_object(source, location, text.rstrip("\r\n"))
    if encoding:
        record.flags.append(f"encoding_{encoding}")
    return record


def _undecodable(source: str, location: str, raw: bytes, problem: str | None) -> RawRecord:
    return rejected_bytes(source, location, raw, "not text in UTF-8 or any other encoding", problem)


def _json_lines(source: str, lines: Iterable[bytes]) -> Iterator[RawRecord]:
    decoder = _LineDecoder()
    for number, raw in enumerate(lines, start=1):
        raw = raw.rstrip(b"\r\n")
        if raw.strip():
            yield _line_record(source, f"line {number}", raw, decoder)


def _three_line_records(source: str, lines: Iterable[bytes]) -> Iterator[RawRecord]:
    """The aggregator's text shape: a JSON line, then the English title, then the abstract."""
    current: RawRecord | None = None
    side_cars = ("title_en", "abstract_en")
    decoder = _LineDecoder()
    for number, raw in enumerate(lines, start=1):
        raw = raw.rstrip(b"\r\n")
        location = f"line {number}"
        text, encoding, problem = decoder.decode(raw)
        if text is None or text.lstrip().startswith("{"):
            if current is not None:
                yield current
            current = None
            if text is None:
                yield _undecodable(source, location, raw, problem)
                continue
            current = _parse_object(source, location, text)
        elif current is not None and len(current.extras) < len(side_cars):
            current.extras[side_cars[len(current.extras)]] = text
        elif text.strip():
            yield RawRecord(source, location, raw=text, error="text line outside any record")
            continue
        if encoding and current is not None and f"encoding_{encoding}" not in current.flags:
            current.flags.append(f"encoding_{encoding}")
    if current is not None:
        yield current


def _json_document(source: str, data: bytes) -> Iterator[RawRecord]:
    text, encoding, problem = _LineDecoder().decode(data)
    if text is None:
        yield _undecodable(source, "document", data, problem)
        return
    value, flags, problem = _load_json(text)
    if problem is not None:
        yield RawRecord(source, "document", raw=text, error="invalid JSON", detail=problem)
        return
    flags += [f"encoding_{encoding}"] if encoding else []
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        yield _object_record(source, f"item {index}", item, flags)
