"""The decoders of declared formats, by the name a source or reader gives in
`RawRecord.format`; a record without one is read in today's JSON shapes, detected from keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks.decode.crossref import read_crossref
from tasks.decode.dublin_core import read_dublin_core
from tasks.decode.openalex import read_openalex
from tasks.decode.paper import Reading

FORMAT_READERS: dict[str, Callable[[dict[str, Any], list[str]], Reading]] = {
    "crossref": read_crossref,
    "openalex": read_openalex,
    "oai_dc": read_dublin_core,
}
