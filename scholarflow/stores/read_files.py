"""The files already read: which files a run has already ingested completely, so a scheduled run can
skip them.

Each entry is a local file's path, size, modification time and content hash, with the live index
it went into. It is an index in the engine, beside the papers, rather than a file under the home
directory, because it describes what the *index* holds, and so must share the index's fate:
- where the engine loses writes (the in-memory fallback between its snapshots), it loses the
  manifest entries written with them too, so the re-run reads those files again (a file under
  home would claim them ingested while their papers were gone);
- a restored, wiped or new cluster brings its own manifest (or none), never a stale one;
- every worker and host that runs scheduled ingests against the cluster shares one manifest.
An entry only counts for the index it names: after a re-index builds a new index, files are read
once more (writing nothing new, since unchanged records are recognised by their hashes).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.stores.bulk import expanded, send
from scholarflow.stores.indices import ensure_index
from scholarflow.stores.templates import load_mapping_file

MANIFEST_INDEX = "scholarflow-manifest"
MANIFEST_MAPPINGS_FILE = "manifest.mappings.json"  # its fields, in index_mappings/
_MGET_CHUNK = 1000


@dataclass(frozen=True)
class Fingerprint:
    """What a file looks like from the outside: cheap to take, and enough to skip most files."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str) -> Fingerprint:
        stat = os.stat(path)
        return cls(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class Completed:
    fingerprint: Fingerprint
    content_hash: str
    records: int


class SourceManifest:
    def __init__(self, client: Elasticsearch, alias: str, index: str) -> None:
        self.client = client
        self.alias = alias
        self.index = index

    def ensure(self) -> None:
        ensure_index(self.client, MANIFEST_INDEX, load_mapping_file(MANIFEST_MAPPINGS_FILE))

    def _id(self, path: str) -> str:
        return hashlib.blake2b(f"{self.alias}\0{path}".encode(), digest_size=12).hexdigest()

    def entries(self, paths: list[str]) -> dict[str, dict[str, Any]]:
        """Stored entries by absolute path, for entries that describe the live index."""
        if not paths or not self.client.indices.exists(index=MANIFEST_INDEX):
            return {}
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(paths), _MGET_CHUNK):
            ids = [self._id(p) for p in paths[start : start + _MGET_CHUNK]]
            for doc in self.client.mget(index=MANIFEST_INDEX, ids=ids)["docs"]:
                entry = doc.get("_source") if doc.get("found") else None
                if entry and entry["index"] == self.index:
                    found[entry["path"]] = entry
        return found

    def record(self, completed: Iterable[Completed], run_id: str) -> int:
        """Note files as ingested completely (every record indexed, merged, unchanged or
        dead-lettered)."""
        now = datetime.now(UTC).isoformat()
        actions = [
            {
                "_index": MANIFEST_INDEX,
                "_id": self._id(c.fingerprint.path),
                "_source": {
                    "alias": self.alias,
                    "index": self.index,
                    "path": c.fingerprint.path,
                    "size": c.fingerprint.size,
                    "mtime_ns": c.fingerprint.mtime_ns,
                    "content_hash": c.content_hash,
                    "records": c.records,
                    "run_id": run_id,
                    "completed_at": now,
                },
            }
            for c in completed
        ]
        if not actions:
            return 0
        self.ensure()
        sent = send(self.client, expanded(actions))
        sent.raise_refused(MANIFEST_INDEX)
        return sent.written

    def refresh(self) -> None:
        if self.client.indices.exists(index=MANIFEST_INDEX):
            self.client.indices.refresh(index=MANIFEST_INDEX)


def unchanged(
    fingerprint: Fingerprint, entry: dict[str, Any] | None, content_hash: Callable[[str], str]
) -> str | None:
    """The content hash when the file is what the entry describes, else None (read it).

    Same size and modification time: unchanged, without reading a byte. Otherwise the content
    decides, so a file that was only touched or copied is still skipped.
    """
    if entry is None:
        return None
    if (entry["size"], entry["mtime_ns"]) == (fingerprint.size, fingerprint.mtime_ns):
        return entry["content_hash"]
    digest = content_hash(fingerprint.path)
    return digest if digest == entry["content_hash"] else None
