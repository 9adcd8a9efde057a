"""OAI-PMH Dublin Core (`oai_dc`), as the harvester hands it over: the record's header
(`identifier`, `datestamp`, `sets`) and its elements as lists of strings under `metadata`.

Every element may repeat. Titles and descriptions are plain text unless they hold tags (many
repositories put HTML, escaped once more, into `dc:description`). The DOI is the first
`dc:identifier` that is one (never `dc:relation`, which names other works); the date is the
first `dc:date` that reads as one.
"""

from __future__ import annotations

from typing import Any

from scholarflow.paper.coerce import to_date
from scholarflow.paper.doi import find_doi
from tasks.decode.fields import first, sniffed, strings, terms
from tasks.decode.paper import Reading


def read_dublin_core(payload: dict[str, Any], flags: list[str]) -> Reading:
    dc = payload.get("metadata") or {}
    identifiers = strings(dc.get("identifier"))
    doi = next((d for value in identifiers if (d := find_doi(value))), None)
    links = [value for value in identifiers if value.startswith(("http://", "https://"))]
    types = [t.rsplit("/", 1)[-1] for t in strings(dc.get("type"))]
    layer = {
        "doi": doi,
        "authors": strings(dc.get("creator")),
        "journal": {"name": first(strings(dc.get("source")))},
        "publicationDate": next((d for d in strings(dc.get("date")) if to_date(d)), None),
        "publicationTypes": types,
        "url": next(iter(links), None),
        "platform": payload.get("repository"),
        "keywords": terms(strings(dc.get("subject"))),
        "language": first(strings(dc.get("language"))),
    }
    titles = [sniffed(t, title=True) for t in strings(dc.get("title"))]
    abstracts = [sniffed(d) for d in strings(dc.get("description"))]
    return Reading(titles, abstracts, (layer,))
