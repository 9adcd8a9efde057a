"""`status` and the writer lock: where an operator looks first when something is stuck."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from cli.common import JsonOption, checked_client, fail, print_json, run
from scholarflow.settings import get_settings

lock_app = typer.Typer(help="The writer lock: which run may write behind the alias now.")


def status(as_json: JsonOption = False) -> None:
    """Where to look first: the engine, the live index, the writer lock, the dead letters.

    The live index with its size, its last write, its papers by enrichment status and the
    retracted, withdrawn and corrected ones.
    """
    from scholarflow.status import index_status

    settings = get_settings()
    result = run(lambda: index_status(settings))
    if as_json:
        print_json(result)
        return
    width = max(map(len, result))
    for key, value in result.items():
        if isinstance(value, dict):
            value = ", ".join(f"{name} {count}" for name, count in value.items()) or "-"
        Console().print(f"{key:>{width}}: {value}", highlight=False)


@lock_app.command("show")
def lock_show(as_json: JsonOption = False) -> None:
    """Who holds the writer lock on the alias (an ingest, re-index, replay or re-enrichment)."""
    from scholarflow.stores.lock import EXPIRED, read_lease

    settings = get_settings()
    lease = run(lambda: read_lease(checked_client(settings), settings.alias))
    if as_json:
        held = {"lease": lease.document(), "expired": lease.expired()} if lease else {}
        print_json({"alias": settings.alias, "held": lease is not None} | held)
        return
    if lease is None:
        Console().print(f"the writer lock on '{settings.alias}' is free", highlight=False)
        return
    state = EXPIRED if lease.expired() else "held"
    out = Console(soft_wrap=True)
    for key, value in lease.document().items():
        if key != "token":
            out.print(f"{key:>10}: {value}", highlight=False, markup=False)
    out.print(f"{'state':>10}: {state}", highlight=False, markup=False)


@lock_app.command("release")
def lock_release(
    force: Annotated[
        bool, typer.Option("--force", help="Remove the lease whoever holds it.")
    ] = False,
) -> None:
    """Free a stale writer lock (its holder died and you will not wait for the lease to expire).

    A live holder notices at its next renewal and stops writing, so check first with
    `scholarflow lock show` that the run named there is really gone.
    """
    from scholarflow.stores.lock import force_release

    if not force:
        fail("releasing another run's lock needs --force (see: scholarflow lock show)", code=2)
    settings = get_settings()
    lease = run(lambda: force_release(checked_client(settings), settings.alias))
    if lease is None:
        Console().print(f"the writer lock on '{settings.alias}' was free", highlight=False)
    else:
        out = Console(soft_wrap=True)
        out.print(f"released: {lease.describe()}", highlight=False, markup=False)
