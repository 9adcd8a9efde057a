"""One reading per source shape: each says where its texts are and which JSON objects hold the
other fields, best first, and leaves coercing and validating to `build_paper`."""

from __future__ import annotations

from typing import Any

import orjson

from scholarflow.paper.coerce import to_text
from scholarflow.paper.doi import normalize_doi
from scholarflow.paper.text import PlainText
from tasks.decode.paper import Reading
from tasks.decode.partial_json import complete_members

# Keys only the aggregator's records carry; a record with none of them is plain JSON.
AGGREGATOR_KEYS = ("resultStr", "TitleCN", "AbstractTextCN")


def plain_json(payload: dict[str, Any]) -> Reading:
    """A record whose `title` and `abstract` mean what they say."""
    return Reading(_texts([payload.get("title")]), _texts([payload.get("abstract")]), (payload,))


def aggregator_record(outer: dict[str, Any], flags: list[str]) -> Reading:
    """Where a text may be, best first: the Chinese fields, the copy's field, then the record's
    own (which is often a translation). Other fields come from the record, then the copy."""
    inner = double_encoded_copy(outer, flags)
    layers = (outer,) if inner is None else (outer, inner)

    def texts(key: str, chinese_key: str) -> list[str | None]:
        values = [outer.get(chinese_key)]
        if inner is not None:
            values += [inner.get(chinese_key), inner.get(key)]
        values.append(outer.get(key))
        return _texts(values)

    return Reading(texts("title", "TitleCN"), texts("abstract", "AbstractTextCN"), layers)


def double_encoded_copy(outer: dict[str, Any], flags: list[str]) -> dict[str, Any] | None:
    """The copy in `resultStr`, when it describes this paper. A copy cut off or damaged keeps
    the fields it completed, flagged `inner_json_partial`: they may be all that carries the
    English title."""
    value = outer.get("resultStr")
    if isinstance(value, str) and value.strip():
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            value = complete_members(value)
            if not value:
                flags.append("result_str_unreadable")
                return None
            flags.append("inner_json_partial")
    if not isinstance(value, dict):
        return None
    outer_doi = normalize_doi(to_text(outer.get("doi")))
    inner_doi = normalize_doi(to_text(value.get("doi")))
    if outer_doi and inner_doi and outer_doi != inner_doi:
        flags.append("result_str_mismatch")
        return None
    return value


def three_line_text(extras: dict[str, str], reading: Reading) -> Reading:
    """The side-car lines are the English title and abstract as the aggregator shows them
    (plain text, its HTML already removed): they come before anything the record's JSON line
    offers, and are never parsed as markup."""
    title, abstract = extras.get("title_en"), extras.get("abstract_en")
    return Reading(
        [PlainText(title) if title is not None else None, *reading.titles],
        [PlainText(abstract) if abstract is not None else None, *reading.abstracts],
        reading.layers,
    )


def _texts(values: list[Any]) -> list[str | None]:
    """The values as text; a repeat (the copy repeats its record) is coerced once."""
    return [
        to_text(value)
        for at, value in enumerate(values)
        if not (isinstance(value, str) and value in values[:at])
    ]
