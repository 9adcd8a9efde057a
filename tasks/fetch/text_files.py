"""Whole export files as text: the encoding found once per file (UTF-8, with or without a
byte-order mark, else GB18030, Big5, Shift_JIS or Windows-1252 as detected), and the format a
file is in, from its name or, for `.txt` and unknown names, from its first lines; and what
every file reader shares: a record rejected as the bytes it was read from, lines taken up to a
size."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import chain
from typing import Literal, get_args

import charset_normalizer

from scholarflow.errors import ScholarflowError
from scholarflow.paper.models import RawRecord

# Encodings a Chinese (or Western) export that is not UTF-8 may be in, in the order detection
# prefers them; GB18030 is a superset of GBK and GB2312.
CANDIDATE_ENCODINGS = ["gb18030", "big5", "shift_jis", "cp1252"]

FileFormat = Literal["medline", "ris", "bibtex", "endnote", "refworks", "noteexpress"]
FORMATS: tuple[str, ...] = get_args(FileFormat)
# File name endings (after `.gz` is taken off) that say the format.
SUFFIX_FORMATS = {
    ".xml": "medline",
    ".ris": "ris",
    ".bib": "bibtex",
    ".bibtex": "bibtex",
    ".enw": "endnote",
    ".net": "noteexpress",
}
# How each format's first record begins, for files whose name does not say.
_SIGNATURES = (
    ("noteexpress", re.compile(r"^\{Reference Type\}:")),
    ("ris", re.compile(r"^TY {1,2}- ")),
    ("refworks", re.compile(r"^(RT \S|Refworks Export Tagged Format)", re.IGNORECASE)),
    ("endnote", re.compile(r"^%[0ATJDK] \S")),
    ("bibtex", re.compile(r"^@[A-Za-z]+\s*[{(]")),
    ("medline", re.compile(r"^<(\?xml|!DOCTYPE PubmedArticleSet|PubmedArticleSet)")),
)
_SNIFF_LINES = 60
_SNIFF_BYTES = 4096


class UnknownFormatError(ScholarflowError):
    """`--format` named a format Scholarflow does not read."""


def check_format(name: str | None) -> str | None:
    if name is not None and name not in FORMATS:
        raise UnknownFormatError(f"unknown format {name!r} (use one of {', '.join(FORMATS)})")
    return name


def detect_format(name: str, lines: Iterator[bytes]) -> tuple[str | None, Iterator[bytes]]:
    """The format a file's name (lower case, `.gz` taken off) says, else (for `.txt` and other
    names) its first lines; the lines come back whole, the ones read to decide included."""
    if found := format_by_name(name):
        return found, lines
    if name.endswith((".json", ".jsonl", ".ndjson")):
        return None, lines
    head = take_bytes(lines, _SNIFF_BYTES)
    # Every format's signature is ASCII: undecodable bytes (GB18030 text) cannot hide one.
    return sniff_format(b"".join(head).decode("utf-8", "replace")), chain(head, lines)


def format_by_name(name: str) -> str | None:
    """The format a file's name (lower case, `.gz` taken off) says, if it says one."""
    for suffix, format in SUFFIX_FORMATS.items():
        if name.endswith(suffix):
            return format
    return None


def sniff_format(head: str) -> str | None:
    """The format of a file whose first lines are `head`, or None for today's JSON shapes (the
    aggregator's three-line text starts with a JSON object)."""
    for line in head.lstrip("\ufeff").splitlines()[:_SNIFF_LINES]:
        stripped = line.lstrip("\ufeff").strip()
        if not stripped:
            continue
        if stripped.startswith(("{", "[")) and not stripped.startswith("{Reference Type}"):
            return None
        for name, signature in _SIGNATURES:
            if signature.match(stripped):
                return name
    return None


def decode_text(data: bytes) -> tuple[str | None, str | None, str | None]:
    """(text, encoding when not UTF-8, None), or (None, None, where the bytes go wrong)."""
    try:
        return data.decode("utf-8-sig"), None, None
    except UnicodeDecodeError as exc:
        problem = f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8"
    match = charset_normalizer.from_bytes(data, cp_isolation=CANDIDATE_ENCODINGS).best()
    if match is None:
        return None, None, problem
    try:
        return data.decode(match.encoding), match.encoding, None
    except UnicodeDecodeError:
        return None, None, problem


def take_bytes(lines: Iterator[bytes], size: int) -> list[bytes]:
    """The next lines (or blocks) of `lines` up to the one that makes `size` bytes; [] at the
    end."""
    taken: list[bytes] = []
    held = 0
    for line in lines:
        taken.append(line)
        held += len(line)
        if held >= size:
            break
    return taken


def rejected_bytes(
    source: str,
    location: str,
    data: bytes,
    error: str,
    detail: str | None,
    format: str | None = None,
) -> RawRecord:
    """A record rejected as the bytes it was read from, kept exactly for the dead-letter store
    (and shown, decoded as far as they decode)."""
    text = data.decode("utf-8", "replace")
    return RawRecord(
        source, location, raw=text, raw_bytes=data, error=error, detail=detail, format=format
    )


def undecodable_file(source: str, data: bytes, problem: str | None, format: str) -> RawRecord:
    """A whole export whose bytes are text in no encoding we know: one rejection, its start kept."""
    error = "not text in UTF-8 or any other encoding"
    return rejected_bytes(source, "document", data[:2000], error, problem, format)
