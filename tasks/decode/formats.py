"""The decoders of declared formats, by the name a reader or source gives in `RawRecord.format`
(file exports and harvested works alike). Each reads one payload into a `Reading`;
`build_paper` does the rest, as for today's JSON shapes, which a record without a format is
read in (detected from its keys)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks.decode.bibtex import read_bibtex
from tasks.decode.crossref import read_crossref
from tasks.decode.datacite import read_datacite
from tasks.decode.dublin_core import read_dublin_core
from tasks.decode.medline import read_medline
from tasks.decode.openalex import read_openalex
from tasks.decode.paper import Reading
from tasks.decode.ris import read_ris
from tasks.decode.tagged import read_endnote, read_noteexpress, read_refworks

FORMAT_READERS: dict[str, Callable[[dict[str, Any], list[str]], Reading]] = {
    "medline": read_medline,
    "ris": read_ris,
    "bibtex": read_bibtex,
    "endnote": read_endnote,
    "refworks": read_refworks,
    "noteexpress": read_noteexpress,
    "crossref": read_crossref,
    "openalex": read_openalex,
    "oai_dc": read_dublin_core,
    "datacite": read_datacite,
}
