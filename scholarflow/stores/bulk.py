"""The one way Scholarflow sends bulk requests: byte-sized chunks, transient refusals sent again
with backoff, and every item's outcome (written, still refused for a passing reason, refused for
good) with the engine's reason.

Papers, dead letters, the manifest, the sources registry, the DOI cache, re-enrichment updates
and the engine migration all write through `send`; each store decides what a refused item means
to it (fail the run with one line, count it, or let it go), but none sends or retries on its own.

Items the engine refuses for a passing reason (429 too many requests, 502/503/504) stay pending
and are sent again after an exponential backoff; others are final at once. Reasons read the same
whichever engine gave them (Elasticsearch, OpenSearch, osmem), so refusals group as one; the
detail keeps the engine's own type and words.

A request the engine does not answer in time (a slow engine under a long load, not a lost one)
is a reason to wait longer, not to give up the run: the actions it carried that have no answer
are sent again in chunks half the size, waiting twice as long (up to `PATIENCE_DOUBLINGS`
times: an engine that holds requests for a shard with no copy left answers no sooner for a
longer wait), with the same backoff and number of attempts (index, update and delete by id may
be sent twice). Connection errors are not
caught: a run that loses its engine stops, and is simply run again.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any

import orjson
from elasticsearch import ApiError, Elasticsearch, helpers
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential_jitter

from scholarflow.engine.client import EngineError, RequestTimeout
from scholarflow.redact import redact_text
from scholarflow.settings import Settings

# A bulk request ends at whichever comes first; two are in flight, so the engine works on one
# while the next is serialised and sent.
BULK_CHUNK_DOCS = 250
BULK_CHUNK_BYTES = 8 * 1024 * 1024
BULK_IN_FLIGHT = 2
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
# What is read of a bulk answer: whether anything failed, and each item's status and error.
BULK_FILTER = "errors,items.*.status,items.*.error"
NO_ANSWER = 408  # the status of an item whose request the engine did not answer in time
# How many times a request the engine did not answer waits twice as long as the last (8 x).
PATIENCE_DOUBLINGS = 3
# (header, body) as the bulk helpers expand an action: the body is None for a delete, and may be
# JSON bytes already (the helpers pass bytes through).
Action = tuple[dict[str, Any], Any]
# The engine's reason names the document and quotes the value; neither helps to group reasons.
# Elasticsearch 8.8+ also starts it with where in the source it stopped (`[1:27] `).
_REASON_NOISE = re.compile(
    r"^\[\d+:\d+\] | in document with id '[^']*'|\. Preview of field's value: .*", re.S
)
# A full thread pool names the task and the pool's live counters: the pool and its capacity say
# all that is the same from one refusal to the next.
_POOL_FULL = re.compile(
    r"^rejected execution of .* on \w+\[name = (?:[^,\]]*/)?([^,\]/]+), "
    r"queue capacity = (\d+)",
    re.S,
)
# One name for a refusal the engines name differently: Elasticsearch 8.8+ says
# document_parsing_exception where OpenSearch and osmem say mapper_parsing_exception; OpenSearch
# says rejected_execution_exception where Elasticsearch says es_rejected_execution_exception.
_KINDS = {
    "document_parsing_exception": "mapper_parsing_exception",
    "rejected_execution_exception": "es_rejected_execution_exception",
}


class WriteRefused(EngineError):
    """A store's write the engine refused (a full disk, a write block): the run stops with one
    line naming the store and the engine's reason."""


@dataclass(frozen=True)
class BulkRetry:
    """How often, and how patiently, transiently refused bulk items are sent again."""

    attempts: int = 5
    backoff: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> BulkRetry:
        return cls(settings.bulk_attempts, settings.bulk_backoff)


class Fate(StrEnum):
    WRITTEN = "written"
    TRANSIENT = "transient"  # still refused for a passing reason after every attempt
    REFUSED = "refused"  # refused for good


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What became of one action; `kind` is the engine's own error type ('' when written)."""

    fate: Fate
    status: int = 200
    kind: str = ""
    reason: str = ""
    detail: str = ""


WRITTEN = ItemOutcome(Fate.WRITTEN)


@dataclass
class BulkResult:
    """Each action's outcome, in the order the actions were given."""

    items: list[ItemOutcome]
    # Items sent again, by the status of the refusal that made them wait (429, 503 …).
    retried: Counter[int] = field(default_factory=Counter)

    @property
    def written(self) -> int:
        return sum(1 for item in self.items if item.fate is Fate.WRITTEN)

    def failures(self) -> list[tuple[int, ItemOutcome]]:
        """(position, outcome) of the actions that were not written."""
        return [(i, item) for i, item in enumerate(self.items) if item.fate is not Fate.WRITTEN]

    def raise_refused(self, store: str) -> None:
        """Raise WriteRefused naming `store` and the first refusal, if any item was refused."""
        failures = self.failures()
        if failures:
            first = failures[0][1]
            raise WriteRefused(
                f"{store}: the engine refused {len(failures)} of {len(self.items)} writes "
                f"({first.reason})"
            )


def expanded(actions: Iterable[dict[str, Any]]) -> list[Action]:
    """Actions in the helpers' dict form (`_index`, `_id`, `_source`, `_op_type` …) expanded."""
    return [helpers.expand_action(action) for action in actions]


def send(
    client: Elasticsearch,
    actions: Sequence[Action],
    retry: BulkRetry | None = None,
    *,
    in_flight: int = 1,
    **request: Any,
) -> BulkResult:
    """Send the actions; each round sends the items still pending (transient refusals), after a
    backoff. `request` goes with every bulk request (e.g. `refresh`)."""
    retry = retry or BulkRetry()
    outcomes: list[ItemOutcome] = [WRITTEN] * len(actions)
    result = BulkResult(outcomes)
    pending = list(range(len(actions)))
    # After a request the engine did not answer in time: smaller chunks, a longer timeout.
    chunk_size, patient, doublings = BULK_CHUNK_DOCS, client, 0

    def send_round() -> list[int]:
        nonlocal pending, chunk_size, patient, doublings
        transient: list[int] = []
        sent = [actions[i] for i in pending]
        stream = _stream(patient, sent, in_flight, chunk_size, request)
        answered = 0
        try:
            for position, (ok, item) in zip(pending, stream, strict=True):
                answered += 1
                if ok:
                    outcomes[position] = WRITTEN
                    continue
                outcome = item_outcome(next(iter(item.values())))
                outcomes[position] = outcome
                if outcome.fate is Fate.TRANSIENT:
                    transient.append(position)
        except RequestTimeout as timeout:
            unanswered = ItemOutcome(Fate.TRANSIENT, NO_ANSWER, "timeout", str(timeout))
            for position in pending[answered:]:
                outcomes[position] = unanswered
                transient.append(position)
            chunk_size = max(1, chunk_size // 2)
            if doublings < PATIENCE_DOUBLINGS:
                doublings += 1
                patient = client.options(request_timeout=timeout.seconds * 2)
        pending = transient
        return transient

    def again(state: Any) -> None:
        result.retried.update(outcomes[i].status for i in pending)

    Retrying(
        stop=stop_after_attempt(retry.attempts),
        wait=wait_exponential_jitter(
            multiplier=retry.backoff, max=max(retry.backoff * 30, 1), jitter=retry.backoff
        ),
        retry=retry_if_result(bool),
        before_sleep=again,
        retry_error_callback=lambda state: None,
    )(send_round)
    attempts = f"{retry.attempts} attempt{'s' if retry.attempts > 1 else ''}"
    for i in pending:
        item = outcomes[i]
        reason = (
            f"no answer from the engine after {attempts}: {item.reason}"
            if item.status == NO_ANSWER
            else f"engine still refusing after {attempts}: {item.status} {item.reason}"
        )
        outcomes[i] = ItemOutcome(Fate.TRANSIENT, item.status, item.kind, reason, item.detail)
    return result


def _stream(
    client: Elasticsearch,
    actions: list[Action],
    in_flight: int,
    chunk_size: int,
    request: dict[str, Any],
) -> Iterator[tuple[bool, dict[str, Any]]]:
    """(ok, item) per action, in order; `in_flight` requests at once. A request the engine
    refuses as a whole refuses each of its actions with its status; one it does not answer
    raises (RequestTimeout) where its first action would have come."""
    chunks = list(_chunks(actions, chunk_size, BULK_CHUNK_BYTES))
    if in_flight <= 1 or len(chunks) <= 1:
        yield from _outcomes(_post(client, chunk, request) for chunk in chunks)
        return
    with ThreadPoolExecutor(min(in_flight, len(chunks)), thread_name_prefix="bulk") as pool:
        yield from _outcomes(pool.map(partial(_post, client, request=request), chunks))


@dataclass
class _Chunk:
    lines: list[bytes]  # NDJSON: each action's header, and its body unless a delete
    operations: list[str]  # each action's operation (index, create, update, delete)


def _chunks(actions: list[Action], docs: int, max_bytes: int) -> Iterator[_Chunk]:
    """The actions in chunks of at most `docs` actions and `max_bytes` bytes (a larger action
    goes alone). Bodies given as JSON bytes go as they are."""
    chunk = _Chunk([], [])
    size = 0
    for header, body in actions:
        lines = [orjson.dumps(header)]
        if body is not None:
            lines.append(body if isinstance(body, bytes) else orjson.dumps(body))
        length = sum(map(len, lines)) + len(lines)
        if chunk.operations and (len(chunk.operations) >= docs or size + length > max_bytes):
            yield chunk
            chunk, size = _Chunk([], []), 0
        chunk.lines += lines
        chunk.operations.append(next(iter(header)))
        size += length
    if chunk.operations:
        yield chunk


def _post(client: Elasticsearch, chunk: _Chunk, request: dict[str, Any]) -> list[dict[str, Any]]:
    """One bulk request: each action's item, with only its status and error (`filter_path`:
    the rest of an answer is most of its bytes)."""
    try:
        # NDJSON lines, as the client's own helpers send them (its annotation expects dicts)
        lines: Any = chunk.lines
        answer = client.bulk(operations=lines, filter_path=BULK_FILTER, **request)
    except ApiError as exc:
        refusal = {"status": exc.status_code, "error": str(exc)}
        return [{operation: refusal} for operation in chunk.operations]
    items: list[dict[str, Any]] = answer.get("items") or []
    if len(items) != len(chunk.operations):
        raise EngineError(
            f"bulk: the engine answered {len(items)} of {len(chunk.operations)} actions"
        )
    return items


def _outcomes(answers: Iterable[list[dict[str, Any]]]) -> Iterator[tuple[bool, dict[str, Any]]]:
    for items in answers:
        for item in items:
            status = next(iter(item.values())).get("status", 500)
            yield 200 <= status < 300, item


def item_outcome(info: dict[str, Any]) -> ItemOutcome:
    """A refused item's outcome: transient for 429/502/503/504, refused for good otherwise."""
    status, reason, detail = item_error(info)
    error = info.get("error")
    kind = str(error.get("type", "error")) if isinstance(error, dict) else "error"
    if status in TRANSIENT_STATUSES:
        return ItemOutcome(Fate.TRANSIENT, status, kind, reason, detail)
    return ItemOutcome(Fate.REFUSED, status, kind, f"engine refused the document: {reason}", detail)


def item_error(info: dict[str, Any]) -> tuple[int, str, str]:
    """(status, a short reason that groups well and reads the same on every engine, the
    engine's own type and full words) for a bulk item."""
    status = int(info.get("status") or 500)
    error = info.get("error")
    if not isinstance(error, dict):
        return status, f"HTTP {status}", redact_text(str(error))[:2000]
    engine_kind = str(error.get("type", "error"))
    kind = _KINDS.get(engine_kind, engine_kind)
    text = str(error.get("reason") or "")
    short = _REASON_NOISE.sub("", text).strip()
    if full := _POOL_FULL.match(short):
        short = f"rejected execution: {full[1]} queue full (capacity {full[2]})"
    cause = error.get("caused_by") or {}
    detail = f"{engine_kind}: {text}"
    if cause:
        detail += f" (caused by {cause.get('type')}: {cause.get('reason')})"
    reason = f"{kind}: {short}" if short else kind
    # An engine may quote an address or a key back: the dead-letter store must not keep it.
    return status, redact_text(reason)[:300], redact_text(detail)[:2000]
