"""A real HTTP server on 127.0.0.1 that speaks just enough of the Elasticsearch API for the index
stage (`GET /`, `_mget`, `_bulk`) to answer chosen bulk items with chosen statuses.

`script[doc_id]` is the list of statuses that document gets on successive attempts (the last one
repeats); documents not in the script are created (201); `errors[doc_id]` is the `error` object
answered with a refusal of that document, for an engine's exact words (otherwise a short one per
status); `refuse_bulk` refuses every `_bulk` request as a whole with that status instead. The
first `unreadable` `_mget` requests answer every item with the error of an index whose primary
shard is not started (a restarted engine recovering it). Every `_bulk` request is recorded with
its time and the ids it carried, so tests can assert what was sent again, and when; every
`_cluster/health` request is counted.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from tests.local_http import LocalHttpServer, QuietHandler

_ERRORS = {
    429: ("es_rejected_execution_exception", "rejected execution: queue capacity reached"),
    503: ("unavailable_shards_exception", "primary shard is not active"),
    400: ("mapper_parsing_exception", "failed to parse field [year] of type [integer]"),
    413: ("illegal_argument_exception", "document too large"),
}
_NO_SHARD = {
    "type": "no_shard_available_action_exception",
    "reason": "No shard available for [get [papers-1][_doc][10.1000/a]: routing [null]]",
}


@dataclass
class BulkRound:
    at: float
    ids: list[str]


class BulkServer(LocalHttpServer):
    def __init__(
        self,
        script: dict[str, list[int]] | None = None,
        status: int = 200,
        refuse_bulk: int | None = None,
        errors: dict[str, dict] | None = None,
        unreadable: int = 0,
        slow_bulk: int = 0,
        delay: float = 0.0,
    ) -> None:
        self.script = script or {}
        self.status = status  # answer for everything but _bulk items (401 to refuse credentials)
        self.refuse_bulk = refuse_bulk
        self.errors = errors or {}
        self.unreadable = unreadable
        self.slow_bulk, self.delay = slow_bulk, delay  # the first `slow_bulk` bulks answer late
        self.health_checks = 0
        self.rounds: list[BulkRound] = []
        self.attempts: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/_cluster/health"):
                    with server._lock:
                        server.health_checks += 1
                    self._answer(server.status, {"status": "green", "timed_out": False})
                    return
                self._answer(server.status, {"version": {"number": "9.0.0"}, "tagline": "test"})

            def do_HEAD(self) -> None:
                self._answer(server.status, None)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if server.status != 200:
                    self._answer(server.status, {"error": "refused", "status": server.status})
                elif self.path.split("?")[0].endswith("/_bulk") and server.refuse_bulk:
                    self._answer(
                        server.refuse_bulk, {"error": "refused", "status": server.refuse_bulk}
                    )
                elif self.path.split("?")[0].endswith("/_bulk"):
                    with server._lock:
                        late, server.slow_bulk = server.slow_bulk > 0, max(server.slow_bulk - 1, 0)
                    answer = server._bulk(body)  # the engine does the work, then answers late
                    if late:
                        time.sleep(server.delay)
                    self._answer(200, answer)
                elif self.path.split("?")[0].endswith("/_mget"):
                    self._answer(200, server._mget(json.loads(body)["ids"]))
                else:
                    self._answer(404, {"error": f"not spoken here: {self.path}"})

            do_PUT = do_POST

            def _answer(self, status: int, data: object) -> None:
                payload = b"" if data is None else json.dumps(data).encode()
                headers = {"content-type": "application/json", "x-elastic-product": "Elasticsearch"}
                self.send_reply(status, payload, headers)

        super().__init__(Handler)

    def _mget(self, ids: list[str]) -> dict:
        with self._lock:
            unreadable, self.unreadable = self.unreadable > 0, max(self.unreadable - 1, 0)
        if unreadable:
            return {"docs": [{"_index": "papers-1", "_id": i, "error": _NO_SHARD} for i in ids]}
        return {"docs": [{"_id": i, "found": False} for i in ids]}

    def _bulk(self, body: bytes) -> dict:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        items, ids = [], []
        for action in lines[0::2]:
            op, meta = next(iter(action.items()))
            doc_id = meta["_id"]
            ids.append(doc_id)
            with self._lock:
                attempt = self.attempts[doc_id]
                self.attempts[doc_id] += 1
            statuses = self.script.get(doc_id, [201])
            status = statuses[min(attempt, len(statuses) - 1)]
            item = {"_index": meta.get("_index"), "_id": doc_id, "status": status}
            if status >= 300:
                kind, reason = _ERRORS.get(status, ("error", f"status {status}"))
                item["error"] = self.errors.get(doc_id) or {"type": kind, "reason": reason}
            else:
                item["result"] = "created"
            items.append({op: item})
        with self._lock:
            self.rounds.append(BulkRound(time.monotonic(), ids))
        errors = any(next(iter(i.values()))["status"] >= 300 for i in items)
        return {"took": 1, "errors": errors, "items": items}
