"""In-place updates of indexed papers, for the stages that run after indexing (re-enrichment,
embedding): the documents to visit, page by page, and their partial updates, written to the
alias's live index under the writer lock.

Each update carries the sequence number read with its hit (`if_seq_no` / `if_primary_term`): an
ingest that rewrote the document meanwhile wins, and the skipped update is counted as a
conflict. Updates read from an index a re-index replaced meanwhile are not written (the copy may
have been taken before them) and are counted as moved. Either way the next run of the stage
picks the document up again if it still qualifies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, Protocol

from elasticsearch import Elasticsearch

from scholarflow.stores.bulk import Fate, expanded
from scholarflow.stores.indices import live_index
from scholarflow.stores.paging import pages
from scholarflow.stores.writer import WriterRun


class PlannedUpdates(Protocol):
    """A batch's bulk `update` actions not yet written, and the counts their writes add to."""

    updates: list[dict[str, Any]]
    outcomes: Counter[str]  # updated, conflicts, moved, refused (and the stage's own)
    errors: Counter[str]  # the engine's reasons for refused updates


def stale_documents(
    client: Elasticsearch,
    alias: str,
    query: dict[str, Any],
    batch_size: int,
    fields: list[str] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of matching hits in id order (`search_after`): a document updated while the pages
    are read is never visited twice, and none is skipped, not even when a node dies part-way (a
    page some shard did not answer is asked again). `fields`: only these of each source."""
    return pages(
        client, alias, query, fields if fields is not None else True, batch_size, seq_no=True
    )


def guarded_update(hit: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """A partial update of the hit's document, refused if it changed since it was read."""
    return {
        "_op_type": "update",
        "_index": hit["_index"],
        "_id": hit["_id"],
        "if_seq_no": hit["_seq_no"],
        "if_primary_term": hit["_primary_term"],
        "doc": doc,
    }


def write_updates(run: WriterRun, alias: str, result: PlannedUpdates) -> list[dict[str, Any]]:
    """Write the batch's updates to the alias's live index, and return those written. The caller
    holds the writer lock, so the alias cannot move while they are written."""
    updates, result.updates = result.updates, []
    live = live_index(run.client, alias)
    current = [action for action in updates if action["_index"] == live]
    result.outcomes["moved"] += len(updates) - len(current)
    # refresh=true, not wait_for: an index that does not refresh by itself (refresh_interval -1)
    # would leave wait_for waiting until the request timed out.
    if not current:
        return []
    written = []
    items = run.write(expanded(current), in_flight=1, refresh=True).items
    for action, item in zip(current, items, strict=True):
        if item.fate is Fate.WRITTEN:
            result.outcomes["updated"] += 1
            written.append(action)
            continue
        result.outcomes["conflicts" if item.status == 409 else "refused"] += 1
        result.errors[item.kind] += 1
    return written
