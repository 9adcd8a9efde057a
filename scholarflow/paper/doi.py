"""DOI normalisation: one spelling per DOI, so it can serve as a document id and a cache key.

DOIs are case-insensitive (ISO 26324), arrive as URLs, `doi:` strings, with whitespace or
trailing punctuation. Anything that is not a plausible DOI after cleaning is not one.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_PREFIXES = re.compile(
    r"^(?:https?://(?:dx\.)?doi\.org/|(?:https?://)?(?:www\.)?doi\.org/|doi:\s*|doi\s+)",
    re.IGNORECASE,
)
_VALID = re.compile(r"^10\.\d{4,9}/\S+$")
_SEARCH = re.compile(r"\b10\.\d{4,9}/[^\s\"'<>]+", re.IGNORECASE)
_TRAILING = ".,;:)]}>\"'。，；：）"


def normalize_doi(value: str | None) -> str | None:
    """The canonical form of a DOI (lower case, no resolver prefix), or None if it is not one."""
    if not value:
        return None
    text = unquote(value.strip())
    text = _PREFIXES.sub("", text).strip().rstrip(_TRAILING).lower()
    text = re.sub(r"\s+", "", text)
    return text if _VALID.match(text) else None


def find_doi(text: str | None) -> str | None:
    """The first DOI inside free text (a URL, a citation line), normalised."""
    if not text:
        return None
    match = _SEARCH.search(text)
    return normalize_doi(match.group(0)) if match else None


def looks_like_doi_query(query: str) -> bool:
    """True when a search query is nothing but a DOI or a DOI URL."""
    stripped = query.strip()
    return bool(stripped) and " " not in stripped and normalize_doi(stripped) is not None
