"""The `scholarflow` command line.

With `--json`, a command prints exactly one JSON object on stdout and nothing else; logs and
progress go to stderr. Failures an operator can fix print one line and exit non-zero; `--debug`
shows the traceback instead.

The CLI sits on top of everything else: it starts the flows and calls the tasks and the core
package, and nothing below imports it. The commands are registered here, in one place, in the
order `--help` lists them.
"""

from cli import harvest, ingest, operations, search, status, web
from cli.common import app
from cli.engine import engine_app
from cli.stores import cache_app, deadletter_app
from cli.watch import watch_app

for name, command in (
    ("ingest", ingest.ingest),
    ("reenrich", ingest.reenrich),
    ("embed", ingest.embed),
    ("harvest", harvest.harvest),
    ("search", search.search),
    ("suggest", search.suggest),
    ("web", web.web),
    ("eval", search.evaluate),
    ("status", status.status),
    ("serve", operations.serve),
    ("deploy", operations.deploy),
    ("reindex", operations.reindex),
    ("rollback", operations.rollback),
):
    app.command(name)(command)
app.add_typer(engine_app, name="engine")
app.add_typer(cache_app, name="cache")
app.add_typer(deadletter_app, name="deadletter")
app.add_typer(harvest.sources_app, name="sources")
app.add_typer(watch_app, name="watch")
app.add_typer(status.lock_app, name="lock")

__all__ = ["app"]
