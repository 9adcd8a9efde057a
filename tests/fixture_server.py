"""A real HTTP server on 127.0.0.1 that replays recorded registry responses.

Each path has a queue of responses (status, headers, body, delay); the last one repeats. Every
request is recorded with its time and headers, so tests can assert what a client sent and when;
`max_in_flight` is the most requests the server was handling at once: a request counts from its
arrival until its answer starts to go out (once the client can read the answer it may send its
next request, possibly before this handler's thread has run again). A reply with `drop` closes
the connection without answering (a reset connection, as the client sees it).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.local_http import LocalHttpServer, QuietHandler

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False

    @classmethod
    def json(cls, data: object, status: int = 200, **headers: str) -> Reply:
        head = {"content-type": "application/json", **headers}
        return cls(status, json.dumps(data).encode(), head)


@dataclass
class Seen:
    path: str
    query: str
    headers: dict[str, str]
    at: float


class FixtureServer(LocalHttpServer):
    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        # Paths answered by a function of the query string (a search), instead of a queue.
        self.responders: dict[str, Callable[[str], Reply]] = {}
        self.requests: list[Seen] = []
        self.calls: dict[str, int] = defaultdict(int)
        self.default_headers: dict[str, str] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                path = unquote(parts.path)
                with server._lock:
                    server.requests.append(
                        Seen(path, parts.query, dict(self.headers.items()), time.monotonic())
                    )
                    queue = server.routes.get(path) or [
                        Reply(404, b"Resource not found.", {"content-type": "text/plain"})
                    ]
                    index = min(server.calls[path], len(queue) - 1)
                    server.calls[path] += 1
                    responder = server.responders.get(path)
                    reply = responder(parts.query) if responder else queue[index]
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                if reply.delay:
                    time.sleep(reply.delay)
                with server._lock:
                    server.in_flight -= 1
                self._reply(reply)

            def _reply(self, reply: Reply) -> None:
                if reply.drop:
                    self.close_connection = True
                    return
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_reply(
                        reply.status, reply.body, {**server.default_headers, **reply.headers}
                    )

        super().__init__(Handler)

    def route(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def respond(self, path: str, responder: Callable[[str], Reply]) -> None:
        """Answer `path` with `responder(query string)`."""
        self.responders[path] = responder

    def paths(self, prefix: str = "/") -> list[str]:
        """The paths requested so far (under `prefix`), in order."""
        return [seen.path for seen in self.requests if seen.path.startswith(prefix)]

    def serve_work(self, doi: str, fixture: str) -> None:
        """`/works/{doi}` answers with a recorded Crossref response."""
        body = (FIXTURES / "doi" / fixture).read_bytes()
        self.route(f"/works/{doi}", Reply(200, body, {"content-type": "application/json"}))


CROSSREF_WORKS = {
    "10.1136/jclinpath-2020-206745": (
        "crossref_work_10.1136_jclinpath-2020-206745_orcid_jats_abstract.json"
    ),
    "10.1136/esmoopen-2020-000776": "crossref_work_10.1136_esmoopen-2020-000776_orcid.json",
    "10.1038/srep16696": "crossref_work_10.1038_srep16696_jats_abstract.json",
    "10.1371/journal.pone.0033693": "crossref_work_10.1371_journal.pone.0033693.json",
    "10.3892/ijo_00000353": "crossref_work_10.3892_ijo_00000353_minimal.json",
}
