"""Reference-manager exports in tagged text: RIS (`TY  - ` … `ER  - `, read by `rispy`),
EndNote/Refer (`%0`, `%T`, `%A` …), RefWorks (`RT`, `A1`, `T1` …) and NoteExpress
(`{Reference Type}: …`), as CNKI, Wanfang, Web of Science and Zotero write them.

A file is decoded once (UTF-8 with or without a byte-order mark, else the encoding detected,
GB18030 for most Chinese exports) and cut into records, each located by the line it starts on;
each record is parsed alone, so a broken one costs itself only. Text between records is
skipped (headers, numbering) unless it holds tagged lines: that is a record that lost its
first line, rejected with its line rather than dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import rispy

from scholarflow.paper.models import RawRecord
from tasks.fetch.text_files import decode_text, undecodable_file

TAGGED_FORMATS = ("ris", "endnote", "refworks", "noteexpress")

_RIS_START = re.compile(r"^TY {1,2}- ?")
_RIS_END = re.compile(r"^ER {1,2}-")
_RIS_TAG = re.compile(r"^[A-Z][A-Z0-9] {1,2}- ?")
_ENDNOTE_TAG = re.compile(r"^%(\S)(?: (.*))?$")
_NOTEEXPRESS_TAG = re.compile(r"^\{([^{}]+)\}:\s?(.*)$")
_REFWORKS_TAGS = frozenset(
    "RT SR ID A1 T1 JF JO YR FD VO IS SP OP K1 AB NO A2 T2 ED PB PP A3 A4 A5 A6 T3 SN AV AD AN "
    "LA CL SF OT LK DO CN DB DS IP RD ST U1 U2 U3 U4 U5 UL WT WV CR OL FT LR".split()
)
_REFWORKS_TAG = re.compile(r"^([A-Za-z][A-Za-z0-9]) (.*)$")


def tagged_records(source: str, format: str, data: bytes) -> Iterator[RawRecord]:
    """The records of one tagged export file."""
    text, encoding, problem = decode_text(data)
    if text is None:
        yield undecodable_file(source, data, problem, format)
        return
    flags = [f"encoding_{encoding}"] if encoding else []
    for line, lines, error in _blocks(format, text.splitlines()):
        raw = "\n".join(lines)
        if error:
            yield RawRecord(source, f"line {line}", raw=raw, error=error, format=format)
            continue
        yield _record(source, f"line {line}", format, raw, lines, flags)


def reparse_tagged(source: str, location: str, format: str, data: bytes) -> list[RawRecord]:
    """A dead-lettered record read again from its stored text."""
    records = list(tagged_records(source, format, data))
    for record in records:
        record.location = location
    return records


def _record(
    source: str, location: str, format: str, raw: str, lines: list[str], flags: list[str]
) -> RawRecord:
    try:
        payload = _parse(format, raw, lines)
    except Exception as exc:  # a parser's complaint about one record costs that record only
        return RawRecord(
            source,
            location,
            raw=raw,
            error=f"invalid {format} record",
            detail=str(exc)[:500],
            format=format,
        )
    if not payload:
        return RawRecord(source, location, raw=raw, error=f"empty {format} record", format=format)
    return RawRecord(source, location, payload=payload, flags=list(flags), format=format)


def _parse(format: str, raw: str, lines: list[str]) -> dict[str, Any]:
    if format == "ris":
        entries = rispy.loads(raw if _RIS_END.match(lines[-1]) else raw + "\nER  - ")
        return entries[0] if entries else {}
    tags: dict[str, list[str]] = {}
    last: list[str] | None = None
    for line in lines:
        tag, value = _tag(format, line)
        if tag is None:
            if last is not None and line.strip():
                last[-1] = f"{last[-1]}\n{line.strip()}"
            continue
        last = tags.setdefault(tag, [])
        last.append(value.strip())
    return tags


def _tag(format: str, line: str) -> tuple[str | None, str]:
    if format == "endnote":
        match = _ENDNOTE_TAG.match(line)
        return (f"%{match.group(1)}", match.group(2) or "") if match else (None, "")
    if format == "noteexpress":
        match = _NOTEEXPRESS_TAG.match(line)
        return (match.group(1).strip(), match.group(2)) if match else (None, "")
    match = _REFWORKS_TAG.match(line)
    if match and match.group(1).upper() in _REFWORKS_TAGS:
        return match.group(1).upper(), match.group(2)
    return None, ""


def _starts(format: str, line: str) -> bool:
    if format == "ris":
        return _RIS_START.match(line) is not None
    if format == "noteexpress":
        return line.startswith("{Reference Type}:")
    if format == "refworks":
        return line.startswith("RT ")
    return line.startswith("%0")


def _is_tagged(format: str, line: str) -> bool:
    if format == "ris":
        return _RIS_TAG.match(line) is not None
    return _tag(format, line)[0] is not None


def _blocks(format: str, lines: list[str]) -> Iterator[tuple[int, list[str], str | None]]:
    """(first line number, the record's lines, None), or (line, lines, what is wrong) for
    tagged text that belongs to no record."""
    current: list[str] = []
    start = 0
    stray: list[str] = []
    stray_at = 0
    seen: set[str] = set()  # the current record's tags
    after_blank = False
    # EndNote/Refer records need no %0: a blank line ends one and a tagged line starts one. The
    # others start with their type tag only (CNKI writes blank lines inside NoteExpress fields);
    # after a blank line, a tag the record already has starts a record that lost its type line.
    blank_separated = format == "endnote"
    for number, line in enumerate(lines, start=1):
        line = line.lstrip("\ufeff").rstrip()
        if current:
            if format == "ris" and _RIS_END.match(line):
                yield start, [*current, line], None
                current = []
                continue
            if _starts(format, line) and (format != "endnote" or len(current) > 1):
                yield start, current, None
                current, start, seen, after_blank = [line], number, set(), False
                continue
            if blank_separated and not line.strip():
                yield start, current, None
                current = []
                continue
            tag = _tag(format, line)[0] if format != "ris" else None
            if tag is not None and after_blank and tag in seen:
                yield start, current, None
                current = []
                stray, stray_at = [line], number
                continue
            if tag is not None:
                seen.add(tag)
            after_blank = not line.strip()
            current.append(line)
            continue
        if _starts(format, line) or (format == "endnote" and _is_tagged(format, line)):
            if stray:
                yield stray_at, stray, "text outside any record"
                stray = []
            current, start, seen, after_blank = [line], number, set(), False
        elif line.strip() and _is_tagged(format, line):
            stray_at = stray_at if stray else number
            stray.append(line)
        elif stray and not line.strip():
            yield stray_at, stray, "text outside any record"
            stray = []
    if stray:
        yield stray_at, stray, "text outside any record"
    if current:
        yield start, current, None
