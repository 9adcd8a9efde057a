"""A real HTTP proxy on 127.0.0.1 that stands in for a secured Elasticsearch: it forwards to the
embedded engine only the requests that carry the expected `Authorization` header, and answers
401 (as Elasticsearch does) to the others."""

from __future__ import annotations

import httpx

from tests.local_http import LocalHttpServer, QuietHandler

_DROPPED = {"connection", "content-length", "content-type", "transfer-encoding", "content-encoding"}


class AuthProxy(LocalHttpServer):
    def __init__(self, upstream: str, authorization: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.authorization = authorization
        self.accepted = 0
        self.refused = 0
        proxy = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Authorization") != proxy.authorization:
                    proxy.refused += 1
                    error = b'{"error":{"type":"security_exception"},"status":401}'
                    self.send_reply(401, error, {"Content-Type": "application/json"})
                    return
                proxy.accepted += 1
                headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
                answer = httpx.request(
                    self.command,
                    proxy.upstream + self.path,
                    content=body,
                    headers=headers,
                    timeout=30,
                )
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in _DROPPED}
                kept["Content-Type"] = answer.headers.get("content-type", "application/json")
                self.send_reply(answer.status_code, answer.content, kept)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        super().__init__(Handler)
