"""A real HTTP proxy on 127.0.0.1 that stands in for a secured Elasticsearch: it forwards to the
embedded engine only the requests that carry the expected `Authorization` header, and answers
401 (as Elasticsearch does) to the others."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

_DROPPED = {"connection", "content-length", "content-type", "transfer-encoding", "content-encoding"}


class AuthProxy:
    def __init__(self, upstream: str, authorization: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.authorization = authorization
        self.accepted = 0
        self.refused = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Authorization") != proxy.authorization:
                    proxy.refused += 1
                    error = b'{"error":{"type":"security_exception"},"status":401}'
                    self._reply(401, error, "application/json", {})
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
                kind = answer.headers.get("content-type", "application/json")
                self._reply(answer.status_code, answer.content, kind, kept)

            def _reply(self, status: int, body: bytes, kind: str, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> AuthProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
