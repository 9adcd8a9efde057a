"""Saved searches: a name, the words a user would type into `search`, and its filters.

A saved search is kept as its definition (`scholarflow-watches`), never as a built query: the
query is built by the same query builder users search with (`scholarflow/search/query.py`) whenever
a percolator store needs it, so a change of the builder or of the papers' mappings reaches every
saved search (scholarflow/alerts/percolator.py). What a search may hold is checked when it is added:
words to search for, of a bounded size, and no query-parser syntax, which Scholarflow never
interprets and which would make a saved search silently mean something else than its owner
wrote.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, helpers

from scholarflow.errors import ScholarflowError
from scholarflow.paper.doi import looks_like_doi_query
from scholarflow.paper.text import fold_query
from scholarflow.search.query import Filters, SearchRequest, build_query, script_parts
from scholarflow.stores.indices import ensure_index
from scholarflow.stores.templates import MAPPINGS_FILE, load_mapping_file

WATCHES_INDEX = "scholarflow-watches"
WATCHES_MAPPINGS_FILE = "watches.mappings.json"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# A saved search runs against every paper of every ingest: a few words, not a document.
MAX_QUERY_CHARS = 300
MAX_QUERY_PARTS = 24
# What query parsers read as syntax: `field:value`, wildcards, ranges, regular expressions,
# boosts, fuzziness and upper-case operators. Scholarflow sends all of it as plain words.
_SYNTAX = [
    (re.compile(r"\*|\w\?\w"), "a wildcard (* or ?)"),
    (re.compile(r"[\[{][^\]}]*\bTO\b"), "a range ([a TO b])"),
    (re.compile(r"(?:^|\s)/[^/]+/(?:\s|$)"), "a regular expression (/…/)"),
    (re.compile(r"\w[\^~]\d*(?:\s|$)"), "a boost or fuzziness (^2, ~1)"),
    (re.compile(r"(?:^|\s)(?:AND|OR|NOT|&&|\|\|)(?:\s|$)"), "an operator (AND, OR, NOT)"),
]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# `name:value` where the name is a field of the papers (`title:spider`, `authors.name:li`);
# other colons are text (`Araneae:Salticidae` in a taxonomic title).
_FIELD_PREFIX = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*):(?!//)\S*")


def _field_names(properties: dict[str, Any], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for name, spec in properties.items():
        names.add(f"{prefix}{name}".casefold())
        for nested in ("properties", "fields"):
            names |= _field_names(spec.get(nested, {}), f"{prefix}{name}.")
    return names


PAPER_FIELDS = frozenset(
    _field_names(load_mapping_file(MAPPINGS_FILE)["template"]["mappings"]["properties"])
)


class WatchError(ScholarflowError):
    """A saved search that cannot be added, or one that does not exist."""


@dataclass(frozen=True)
class SavedSearch:
    name: str
    text: str
    filters: Filters = field(default_factory=Filters)
    created_at: str | None = None
    seen_until: str | None = None

    def query(self) -> dict[str, Any]:
        """The `query` a search for these words and filters sends, as the builder makes it."""
        return build_query(SearchRequest(self.text, filters=self.filters))["query"]

    def describe_filters(self) -> str:
        """`year 2021-2021, journal 蛛形学报`: the filters as an operator reads them."""
        f = self.filters
        parts = []
        if f.year_from is not None or f.year_to is not None:
            parts.append(f"year {f.year_from or ''}-{f.year_to or ''}")
        parts += [f"journal {j}" for j in f.journals]
        parts += [f"lang {lang}" for lang in f.languages]
        parts += [f"quartile {q}" for q in f.quartiles]
        if f.open_access:
            parts.append("open access")
        return ", ".join(parts)

    def as_source(self) -> dict[str, Any]:
        filters = {k: v for k, v in asdict(self.filters).items() if v not in (None, ())}
        return {
            "name": self.name,
            "text": self.text,
            "filters": {k: list(v) if isinstance(v, tuple) else v for k, v in filters.items()},
            "created_at": self.created_at,
            "seen_until": self.seen_until,
        }

    @classmethod
    def from_source(cls, source: dict[str, Any]) -> SavedSearch:
        stored: dict[str, Any] = source.get("filters") or {}
        filters = Filters(
            year_from=stored.get("year_from"),
            year_to=stored.get("year_to"),
            journals=tuple(stored.get("journals") or ()),
            languages=tuple(stored.get("languages") or ()),
            quartiles=tuple(stored.get("quartiles") or ()),
            open_access=stored.get("open_access"),
        )
        return cls(
            source["name"],
            source["text"],
            filters,
            source.get("created_at"),
            source.get("seen_until"),
        )


def new_saved_search(name: str, text: str, filters: Filters | None = None) -> SavedSearch:
    """A checked saved search; raises WatchError saying what is wrong with it."""
    name = name.strip().lower()
    if not NAME_PATTERN.match(name):
        raise WatchError(
            f"{name!r} is not a saved-search name: 1-64 lower-case letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    text = " ".join(text.split())
    check_query(text)
    return SavedSearch(name, text, filters or Filters(), datetime.now(UTC).isoformat())


def check_query(text: str) -> None:
    """Raises WatchError for an empty, oversized or unsafe query."""
    if not text.strip():
        raise WatchError("the saved search is empty: give the words to search for")
    if _CONTROL.search(text):
        raise WatchError("the saved search holds control characters")
    if len(text) > MAX_QUERY_CHARS:
        raise WatchError(
            f"the saved search is {len(text)} characters long; at most {MAX_QUERY_CHARS}"
        )
    if looks_like_doi_query(text):
        return
    fields = (m for m in _FIELD_PREFIX.finditer(text) if m.group(1).casefold() in PAPER_FIELDS)
    syntax = [(next(fields, None), "a field name (name:value)")]
    syntax += [(pattern.search(text), what) for pattern, what in _SYNTAX]
    for match, what in syntax:
        if match:
            raise WatchError(
                f"the saved search holds {what} at {match.group(0).strip()!r}: Scholarflow "
                "searches words as written and interprets no query syntax; write the words, "
                "and use --year, --journal, --lang, --quartile or --open-access to narrow"
            )
    parts = script_parts(fold_query(text))
    if not parts:
        raise WatchError(f"the saved search {text!r} has no words to search for")
    if len(parts) > MAX_QUERY_PARTS:
        raise WatchError(
            f"the saved search has {len(parts)} words or runs of Chinese; at most {MAX_QUERY_PARTS}"
        )


class WatchStore:
    """The saved searches' definitions, one document each, by name."""

    def __init__(self, client: Elasticsearch) -> None:
        self.client = client

    def ensure(self) -> None:
        ensure_index(self.client, WATCHES_INDEX, load_mapping_file(WATCHES_MAPPINGS_FILE))

    def add(self, search: SavedSearch) -> None:
        self.ensure()
        try:
            self.client.create(
                index=WATCHES_INDEX, id=search.name, document=search.as_source(), refresh=True
            )
        except ConflictError:
            raise WatchError(
                f"a saved search named {search.name!r} exists (remove it first)"
            ) from None

    def get(self, name: str) -> SavedSearch:
        name = name.strip().lower()
        found = self.all([name]) if name else []
        if not found:
            raise WatchError(f"no saved search named {name!r} (see: scholarflow watch list)")
        return found[0]

    def all(self, names: list[str] | None = None) -> list[SavedSearch]:
        """Every saved search (or those named), by name."""
        if not self.client.indices.exists(index=WATCHES_INDEX):
            return []
        if names is not None:
            docs = self.client.mget(index=WATCHES_INDEX, ids=names)["docs"]
            sources = [d["_source"] for d in docs if d.get("found")]
        else:
            hits = helpers.scan(
                self.client, index=WATCHES_INDEX, query={"query": {"match_all": {}}}
            )
            sources = [hit["_source"] for hit in hits]
        return sorted((SavedSearch.from_source(s) for s in sources), key=lambda s: s.name)

    def count(self) -> int:
        if not self.client.indices.exists(index=WATCHES_INDEX):
            return 0
        return int(self.client.count(index=WATCHES_INDEX)["count"])

    def remove(self, name: str) -> None:
        search = self.get(name)
        self.client.delete(index=WATCHES_INDEX, id=search.name, refresh=True)

    def mark_seen(self, name: str, until: str) -> None:
        """The owner has seen what was found up to `until` (`watch show --new`)."""
        self.client.update(index=WATCHES_INDEX, id=name, doc={"seen_until": until}, refresh=True)
