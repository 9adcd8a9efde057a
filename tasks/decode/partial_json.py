"""The complete members of a JSON object that was cut off or damaged part-way."""

from __future__ import annotations

import json
from typing import Any

import orjson

_SCANNER = json.JSONDecoder()
_SPACE = frozenset(" \t\n\r")


def complete_members(text: str) -> dict[str, Any]:
    """The members of a cut-off or malformed JSON object that end before the damage.

    The standard library's scanner only finds where each key and value ends; orjson reads them,
    so a member means what it would in an intact object (no NaN, no lone surrogates). A member
    counts once the `,` or `}` after it is read: a number at the cut may itself be cut. One
    pass, each character read at most twice; nesting too deep for the scanner ends the reading.
    """
    members: dict[str, Any] = {}
    at = _skip(text, 0)
    if not text.startswith("{", at):
        return members
    at += 1
    try:
        while text.startswith('"', at := _skip(text, at)):
            key, at = _value(text, at)
            at = _skip(text, at)
            if not text.startswith(":", at):
                break
            value, at = _value(text, _skip(text, at + 1))
            at = _skip(text, at)
            if not text.startswith((",", "}"), at):
                break
            members[key] = value
            if text.startswith("}", at):
                break
            at += 1
    except (ValueError, RecursionError):  # orjson's and the scanner's errors are ValueErrors
        pass
    return members


def _skip(text: str, at: int) -> int:
    """Past the JSON whitespace at `at` (between members there is little or none)."""
    while text[at : at + 1] in _SPACE:
        at += 1
    return at


def _value(text: str, at: int) -> tuple[Any, int]:
    """The JSON value starting at `at`, as orjson reads it, and where it ends."""
    _, end = _SCANNER.raw_decode(text, at)
    return orjson.loads(text[at:end]), end
