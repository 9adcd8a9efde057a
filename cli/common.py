"""What every command shares: the root `app`, the `--debug` switch, Prefect's defaults, and the
one way failures become one line on stderr."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from elasticsearch import ApiError, TransportError
from rich.console import Console
from rich.markup import escape

from scholarflow.engine.client import RequestTimeout
from scholarflow.errors import ScholarflowError
from scholarflow.redact import install_log_redaction, redact_text
from scholarflow.settings import Settings

app = typer.Typer(
    help="Scholarflow: ingest scholarly records into a bilingual search index.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

stderr = Console(stderr=True)
_state = {"debug": False}

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


@app.callback()
def main(
    debug: Annotated[bool, typer.Option(help="Show tracebacks for errors.")] = False,
) -> None:
    _state["debug"] = debug
    # A traceback (`--debug`, or an unexpected error) names the addresses and may quote an
    # engine's answer: it goes out through the same redaction as every error line.
    sys.excepthook = _print_redacted_traceback
    install_log_redaction()
    # The embedded engine says in one line when it falls back or finds data it cannot serve.
    notes = logging.getLogger("scholarflow.engine")
    if not notes.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("note: %(message)s"))
        notes.addHandler(handler)
        notes.propagate = False


def configure_prefect(settings: Settings) -> None:
    """Prefect defaults for a local, offline, quiet run; explicit environment settings win.

    Without `--debug`, Prefect prints nothing on the console (a failed flow run would print its
    traceback there); the command reports the outcome, or the error in one line, itself. The
    run's logs still reach the Prefect API.
    """
    home = Path(os.environ.setdefault("PREFECT_HOME", str(settings.home_dir / "prefect")))
    home.mkdir(parents=True, exist_ok=True)  # its database cannot create the directory
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    if not _state["debug"]:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def _print_redacted_traceback(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
    import traceback

    sys.stderr.write(redact_text("".join(traceback.format_exception(kind, exc, tb))))


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one redacted error line and exit with `code`."""
    text = escape(redact_text(message))
    stderr.print(f"[bold red]error:[/] {text}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def run(action: Callable[[], Any]) -> Any:
    """Run a command body, turning known failures into one line on stderr."""
    if _state["debug"]:
        return action()
    try:
        return action()
    except ScholarflowError as exc:
        fail(f"{exc.prefix}{exc}", code=exc.exit_code)
    except ApiError as exc:
        fail(f"the engine answered {exc.meta.status}: {exc.message}")
    except RequestTimeout as exc:
        fail(f"the engine did not answer in time: {exc.message}; run the same command again")
    except TransportError as exc:
        fail(
            f"lost the engine ({exc.message}); nothing is lost: run the same command again "
            "once the engine is back"
        )
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        fail(f"{exc.strerror or exc}{where}")


def checked_client(settings: Settings) -> Any:
    """A client for the configured engine, after one request that proves it answers."""
    from scholarflow.engine.client import check, connect

    client = connect(settings)
    check(client, settings.es_url or "embedded engine")
    return client


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
