"""The dead-letter store: every rejected record, with what went wrong and what the source held.

It is an index in the same engine as the papers (like the DOI cache), so it works the same on
Elasticsearch and on the embedded engine, survives restarts like the papers do, and is written
in the same bulk requests' rhythm: once per batch, so memory stays bounded.

An entry's id is a hash of the record's source, location and stage: running a bad file again
overwrites its entries instead of adding copies, and a replay that gets further (fails at a
later stage) replaces the entry with the new one.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch, helpers

from scholarflow.errors import ScholarflowError
from scholarflow.paper.models import RawRecord, Rejection, Stage
from scholarflow.stores.bulk import BulkRetry, expanded, send
from scholarflow.stores.indices import ensure_index
from scholarflow.stores.templates import load_mapping_file

DEADLETTER_INDEX = "scholarflow-deadletter"
# Its fields are in index_mappings/. `record` (what the source held, as read) is never searched,
# so not indexed: the mapping never refuses it.
DEADLETTER_MAPPINGS_FILE = "deadletters.mappings.json"
_SUMMARY_FIELDS = ["stage", "reason", "source", "location", "run_id", "at"]
# Entries are the last copy of records the engine refused, often because it was busy (429): the
# store waits for it longer than the index stage does (1, 2, 4 … 30 s: about two minutes)
# before it gives up and fails the run.
STORE_RETRY = BulkRetry(attempts=9, backoff=1.0)


class DeadLetterError(ScholarflowError):
    """Rejected records could not be stored: the run must not claim to have kept them."""


def entry_id(source: str, location: str, stage: Stage | str) -> str:
    key = f"{source}\0{location}\0{Stage(stage).value}"
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def record_body(record: RawRecord | None, fallback: Any = None) -> dict[str, Any]:
    """The stored form of what the source held: enough to run the record through again."""
    if record is None:
        return {"payload": fallback} if fallback is not None else {}
    body: dict[str, Any] = {}
    if record.payload is not None:
        body["payload"] = record.payload
    if record.extras:
        body["extras"] = record.extras
    if record.raw is not None:
        body["raw"] = record.raw
    if record.raw_bytes is not None:
        body["raw_base64"] = base64.b64encode(record.raw_bytes).decode("ascii")
    if record.flags:
        body["flags"] = record.flags
    if record.format:
        body["format"] = record.format  # a replay decodes it in its declared format again
    return body


def raw_data(entry: dict[str, Any]) -> bytes:
    """The exact bytes of a fetch-stage entry's source text."""
    body = entry.get("record") or {}
    if "raw_base64" in body:
        return base64.b64decode(body["raw_base64"])
    return str(body.get("raw") or "").encode("utf-8")


@dataclass
class Page:
    total: int
    entries: list[dict[str, Any]]
    by_stage: dict[str, dict[str, int]]


class DeadLetterStore:
    def __init__(self, client: Elasticsearch) -> None:
        self.client = client
        self._ensured = False

    def ensure(self) -> None:
        """Create the store unless it exists. A run calls it when it starts, so the store and
        its replica are in place before the load: one created mid-load, as a node died, could
        be left with no copy and hold the run's every rejection."""
        if not self._ensured:
            mappings = load_mapping_file(DEADLETTER_MAPPINGS_FILE)
            ensure_index(self.client, DEADLETTER_INDEX, mappings)
            self._ensured = True

    def add(self, rejections: list[Rejection], batch: Iterable[RawRecord], run_id: str) -> int:
        """Store rejections, each with the raw record of `batch` it came from; returns how many
        were stored.

        Raises DeadLetterError when the engine refuses any of them: a rejection that is not
        stored would be a record lost.
        """
        if not rejections:
            return 0
        wanted = {(r.source, r.location) for r in rejections}
        records = {(r.source, r.location): r for r in batch if (r.source, r.location) in wanted}
        now = datetime.now(UTC).isoformat()
        actions = [
            {
                "_index": DEADLETTER_INDEX,
                "_id": entry_id(r.source, r.location, r.stage),
                "_source": {
                    "stage": r.stage.value,
                    "reason": r.reason,
                    "detail": r.detail,
                    "source": r.source,
                    "location": r.location,
                    "run_id": run_id,
                    "at": now,
                    "record": record_body(records.get((r.source, r.location)), r.payload),
                },
            }
            for r in rejections
        ]
        self.ensure()
        sent = send(self.client, expanded(actions), STORE_RETRY)
        if failures := sent.failures():
            raise DeadLetterError(
                f"{len(failures)} rejected records could not be stored in {DEADLETTER_INDEX}: "
                f"{failures[0][1].reason}"
            )
        return sent.written

    def refresh(self) -> None:
        if self.client.indices.exists(index=DEADLETTER_INDEX):
            self.client.indices.refresh(index=DEADLETTER_INDEX)

    def page(self, stage: str | None = None, limit: int = 20) -> Page:
        """The newest entries (without their records), the total, and counts by stage/reason."""
        if not self.client.indices.exists(index=DEADLETTER_INDEX):
            return Page(0, [], {})
        query = {"term": {"stage": stage}} if stage else {"match_all": {}}
        response = self.client.search(
            index=DEADLETTER_INDEX,
            query=query,
            size=limit,
            sort=[{"at": {"order": "desc"}}, {"source": {"order": "asc"}}],
            source_includes=_SUMMARY_FIELDS,
            track_total_hits=True,
            aggs={
                "stages": {
                    "terms": {"field": "stage", "size": len(Stage)},
                    "aggs": {"reasons": {"terms": {"field": "reason", "size": 50}}},
                }
            },
        )
        by_stage = {
            bucket["key"]: {r["key"]: r["doc_count"] for r in bucket["reasons"]["buckets"]}
            for bucket in response["aggregations"]["stages"]["buckets"]
        }
        entries = [{"id": hit["_id"], **hit["_source"]} for hit in response["hits"]["hits"]]
        return Page(response["hits"]["total"]["value"], entries, by_stage)

    def get(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Full entries by id; ids not in the store are left out."""
        if not ids or not self.client.indices.exists(index=DEADLETTER_INDEX):
            return {}
        docs = self.client.mget(index=DEADLETTER_INDEX, ids=ids)["docs"]
        return {d["_id"]: {"id": d["_id"], **d["_source"]} for d in docs if d.get("found")}

    def all_ids(self) -> Iterator[str]:
        if not self.client.indices.exists(index=DEADLETTER_INDEX):
            return
        for hit in helpers.scan(
            self.client, index=DEADLETTER_INDEX, query={"query": {"match_all": {}}}, _source=False
        ):
            yield hit["_id"]

    def delete(self, ids: Iterable[str]) -> int:
        actions = [{"_op_type": "delete", "_index": DEADLETTER_INDEX, "_id": i} for i in ids]
        if not actions:
            return 0
        # An entry already gone (or a store never created) is as good as deleted.
        return send(self.client, expanded(actions)).written
