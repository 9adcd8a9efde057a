"""The one place that makes an engine or registry address, or any text that may hold one, safe to
show: error lines, `status`, log lines, Prefect logs and artifacts, tracebacks, benchmark output.

An address loses its user-info (`bob:s3cret@`) and the values of query parameters that carry
credentials (`api_key`, `token`, …). Credentials Scholarflow has been given are also remembered
here (`remember`, called where they are read), so that `redact_text` blanks them wherever they
turn up, even outside an address: in an engine's answer, an exception's message, a log line.
"""

from __future__ import annotations

import base64
import logging
import re
import traceback
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
# Query parameters whose value is a credential, compared lower case with `-` read as `_`.
SECRET_PARAMETERS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "authorization",
        "client_secret",
        "key",
        "pass",
        "password",
        "private_token",
        "pwd",
        "secret",
        "sig",
        "signature",
        "token",
        "x_amz_credential",
        "x_amz_security_token",
        "x_amz_signature",
    }
)
# An address in running text; punctuation after it (`url: …`, `url.`) is not part of it.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]{},]*[^\s'\"<>()\[\]{},.:;!?]")
_USERINFO = re.compile(r"(://)[^/\s@'\"]*@")
# Shorter values would blank ordinary words; no credential Scholarflow accepts is this short.
_MIN_SECRET = 4
_secrets: set[str] = set()


def remember(*values: str | None) -> None:
    """Note credentials in use, so that `redact_text` blanks them wherever they appear."""
    _secrets.update(v for v in values if v and len(v) >= _MIN_SECRET)


def remember_basic(username: str, password: str) -> None:
    """A user and password, with the `Authorization: Basic` value they make."""
    remember(password, base64.b64encode(f"{username}:{password}".encode()).decode())


def redact_url(url: str) -> str:
    """`url` without user-info and with credential query values masked; a text that does not
    parse as an address is returned as it is."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return url
    if not parts.scheme or host is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_is_secret(name) for name, _ in pairs):
            query = urlencode(
                [(name, MASK if _is_secret(name) else value) for name, value in pairs], safe="*"
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every address in it redacted and every remembered (or given) credential
    masked."""
    text = _URL.sub(lambda match: redact_url(match.group(0)), text)
    # User-info the address pattern stopped short of (a password with a bracket or a comma).
    text = _USERINFO.sub(r"\1", text)
    known = {*_secrets, *(s for s in secrets if len(s) >= _MIN_SECRET)}
    for secret in sorted(known, key=len, reverse=True):  # a secret inside another: longest first
        text = text.replace(secret, MASK)
    return text


def _is_secret(name: str) -> bool:
    return name.lower().replace("-", "_") in SECRET_PARAMETERS


def install_log_redaction() -> None:
    """Redact every log record as it is made, whichever logger and handler take it (the console,
    Prefect's API handler, a log shipper): its message and its formatted traceback. Idempotent."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacts", False):
        return

    def redacting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text("".join(traceback.format_exception(*record.exc_info)))
        return record

    redacting.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting)
