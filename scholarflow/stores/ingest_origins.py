"""Where an alias was ingested from: every path, glob or URL an operator named.

A replay re-index reads these again, so a change in decoding reaches every paper. The registry
keeps what the operator named (a directory, a glob, a file, a URL; local ones made absolute),
not the files found in it at the time: a replay then also picks up files added since. It lives
in the engine next to the papers, like the DOI cache, so every worker and host sees the same
list. Sources whose records were all rejected are recorded too: a decoder fix can recover them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from datetime import UTC, datetime

from elasticsearch import Elasticsearch, helpers

from scholarflow.stores.bulk import expanded, send
from scholarflow.stores.indices import ensure_index
from scholarflow.stores.templates import load_mapping_file

SOURCES_INDEX = "scholarflow-sources"
SOURCES_MAPPINGS_FILE = "sources.mappings.json"  # its fields, in index_mappings/


def absolute_source(source: str) -> str:
    """A source as it can be read again from any working directory."""
    if source.startswith(("http://", "https://")):
        return source
    return os.path.abspath(os.path.expanduser(source))


class SourceRegistry:
    def __init__(self, client: Elasticsearch) -> None:
        self.client = client

    def ensure(self) -> None:
        ensure_index(self.client, SOURCES_INDEX, load_mapping_file(SOURCES_MAPPINGS_FILE))

    def record(self, alias: str, sources: Iterable[str], run_id: str) -> list[str]:
        """Remember that a run of `alias` read these sources; returns them as recorded."""
        recorded = list(dict.fromkeys(absolute_source(str(s)) for s in sources))
        if not recorded:
            return recorded
        self.ensure()
        now = datetime.now(UTC).isoformat()
        actions = [
            {
                "_op_type": "update",
                "_index": SOURCES_INDEX,
                "_id": _source_id(alias, source),
                "doc": {"last_seen": now, "last_run": run_id},
                "upsert": {
                    "alias": alias,
                    "source": source,
                    "first_seen": now,
                    "last_seen": now,
                    "last_run": run_id,
                },
            }
            for source in recorded
        ]
        send(self.client, expanded(actions), refresh=True).raise_refused(SOURCES_INDEX)
        return recorded

    def sources(self, alias: str) -> list[str]:
        """Every source recorded for the alias, in the order they were first seen."""
        if not self.client.indices.exists(index=SOURCES_INDEX):
            return []
        hits = helpers.scan(
            self.client,
            index=SOURCES_INDEX,
            query={"query": {"term": {"alias": alias}}},
            size=1000,
        )
        entries = sorted((h["_source"] for h in hits), key=lambda e: (e["first_seen"], e["source"]))
        return [entry["source"] for entry in entries]


def _source_id(alias: str, source: str) -> str:
    return hashlib.blake2b(f"{alias}\n{source}".encode(), digest_size=16).hexdigest()
