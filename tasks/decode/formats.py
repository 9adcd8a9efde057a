"""The decoders of the shapes whose reader knows them (`RawRecord.format`), by name. Each reads
one payload into a `Reading`; `build_paper` does the rest, as for today's JSON shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks.decode.bibtex import read_bibtex
from tasks.decode.medline import read_medline
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
}
