"""Decode: turn a raw record into a canonical `Paper`, or a `Rejection` with a reason.

Records come in four shapes, each read by its own function in `shapes` into a `Reading` (the
texts and the JSON objects it offers, best first) that `build_paper` turns into one validated
`Paper`:

- plain JSON: an object whose `title` and `abstract` mean what they say;
- the aggregator record: the same keys, where `title` is often a translation, plus the Chinese
  `TitleCN` and `AbstractTextCN` and a double-encoded copy of itself in `resultStr`;
- that copy: the same paper again, usually with the English title and sometimes with fields
  only it carries, so a cut-off copy still gives the fields it completed;
- the three-line text shape: a record followed by its English title and abstract lines.

Records whose reader or source declares their format (`RawRecord.format`) are read by that
format's decoder instead, registered in `formats.FORMAT_READERS`: file exports in `medline`
(PubMed XML), `ris`, `bibtex` and `tagged` (EndNote, RefWorks, NoteExpress); harvested works in
`crossref`, `openalex`, `dublin_core` (OAI-PMH `oai_dc`) and `datacite` (OAI-PMH `datacite`);
`fields` holds the readings they all share (plain text or markup, dates, names, terms, ISSNs).

Text is sorted into English and Chinese fields by its script, whatever key it arrived in.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError

from scholarflow.paper.models import Paper, RawRecord, Rejection, Stage
from tasks.decode.formats import FORMAT_READERS
from tasks.decode.paper import MAX_TEXT_CHARS, DecodeError, build_paper
from tasks.decode.shapes import AGGREGATOR_KEYS, aggregator_record, plain_json, three_line_text

__all__ = [
    "MAX_TEXT_CHARS",
    "DecodeError",
    "decode_record",
    "decode_records",
]


def decode_records(records: Iterable[RawRecord]) -> tuple[list[Paper], list[Rejection]]:
    papers: list[Paper] = []
    rejections: list[Rejection] = []
    for record in records:
        result = decode_record(record)
        if isinstance(result, Paper):
            papers.append(result)
        else:
            rejections.append(result)
    return papers, rejections


def decode_record(record: RawRecord) -> Paper | Rejection:
    """Never raises: whatever goes wrong becomes a rejection naming the record."""
    if record.error or record.payload is None:
        return Rejection(
            Stage.FETCH,
            record.error or "empty record",
            record.source,
            record.location,
            record.raw,
            record.detail,
        )
    try:
        return _decode(record, record.payload)
    except DecodeError as exc:
        return Rejection(Stage.DECODE, str(exc), record.source, record.location, record.payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        reason = f"invalid {field}: {first['msg']}"
        return Rejection(Stage.DECODE, reason, record.source, record.location, record.payload)
    except Exception as exc:  # a decoder bug must cost one record, never the run
        return Rejection(
            Stage.DECODE,
            f"decoder error ({type(exc).__name__})",
            record.source,
            record.location,
            record.payload,
            str(exc)[:500],
        )


def _decode(record: RawRecord, payload: dict) -> Paper:
    """Read the record in its shape, then build the paper from what the shape offers."""
    flags = list(record.flags)
    if record.format:
        reading = FORMAT_READERS[record.format](payload, flags)
    elif any(key in payload for key in AGGREGATOR_KEYS):
        reading = aggregator_record(payload, flags)
    else:
        reading = plain_json(payload)
    if record.extras:
        reading = three_line_text(record.extras, reading)
    return build_paper(reading, record, flags)
