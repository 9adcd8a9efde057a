"""BibTeX files, read by `bibtexparser` 2: one record per entry, located by the line it starts
on. A malformed entry is rejected with its line and the parser's words; the entries around it
are read as usual. `@string` macros are resolved; comments and preambles are not records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import bibtexparser
from bibtexparser import model

from scholarflow.paper.models import RawRecord
from tasks.fetch.text_files import decode_text, undecodable_file


def bibtex_records(source: str, data: bytes) -> Iterator[RawRecord]:
    text, encoding, problem = decode_text(data)
    if text is None:
        yield undecodable_file(source, data, problem, "bibtex")
        return
    flags = [f"encoding_{encoding}"] if encoding else []
    library = bibtexparser.parse_string(text)
    for block in library.blocks:
        location = f"line {(block.start_line or 0) + 1}"
        entry = getattr(block, "ignore_error_block", None)
        if isinstance(block, model.Entry) or isinstance(entry, model.Entry):
            item = block if isinstance(block, model.Entry) else entry
            extra = [] if item is block else ["bibtex_duplicate_key"]
            yield RawRecord(
                source, location, payload=_payload(item), flags=flags + extra, format="bibtex"
            )
        elif isinstance(block, model.ParsingFailedBlock):
            yield RawRecord(
                source,
                location,
                raw=block.raw,
                error="invalid BibTeX entry",
                detail=_first_line(block.error),
                format="bibtex",
            )


def reparse_bibtex(source: str, location: str, data: bytes) -> list[RawRecord]:
    """A dead-lettered entry read again from its stored text."""
    records = list(bibtex_records(source, data))
    for record in records:
        record.location = location
    return records


def _payload(entry: model.Entry) -> dict[str, Any]:
    payload: dict[str, Any] = {"ENTRYTYPE": entry.entry_type.lower(), "ID": entry.key}
    for field in entry.fields:
        value = field.value
        payload[field.key.lower()] = value if isinstance(value, str) else str(value)
    return payload


def _first_line(error: Exception | None) -> str | None:
    if error is None:
        return None
    text = str(error).strip()
    return text.splitlines()[0][:500] if text else type(error).__name__
