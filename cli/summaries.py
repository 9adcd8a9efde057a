"""What the commands that write (ingest, harvest) print of a run's summary alike."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape


def print_rejections(out: Console, summary: dict[str, Any]) -> None:
    """A run's rejections, a line per stage and reason, and where to find them."""
    for stage, group in summary["rejected_by_stage"].items():
        for reason, count in group["reasons"].items():
            out.print(f"  rejected {count} at {stage}: {escape(reason)}", highlight=False)
    if summary["rejected"]:
        out.print("  see them with: scholarflow deadletter list", highlight=False)


def deletion_counts(done: dict[str, int]) -> str:
    """How the deletions a run read ended (tasks/harvest/deletions.py)."""
    return (
        f"{done['removed']} removed from the index, {done['held']} held by another source, "
        f"{done['absent']} never indexed"
    )
