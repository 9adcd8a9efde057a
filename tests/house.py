"""The core's rooms drawn from its imports: which room imports which, and on what floor each stands.

A room is a sub-package of `scholarflow/` or one of its top-level modules. Floor 1 imports no
other room; every other room stands one floor above the highest room it imports. Run
`python -m tests.house` for the sheet: rooms, floors, arrows and the deepest chain.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "scholarflow"


def room_of(module: str) -> str | None:
    """`scholarflow.stores.bulk` → `stores`; `scholarflow.settings` → `settings.py`."""
    parts = module.split(".")
    if parts[0] != "scholarflow" or len(parts) < 2:
        return None
    return parts[1] if (CORE / parts[1]).is_dir() else f"{parts[1]}.py"


def rooms() -> list[str]:
    found = [p.name for p in CORE.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    found += [p.name for p in CORE.glob("*.py") if p.name != "__init__.py"]
    return sorted(found)


def files_of(room: str) -> list[Path]:
    path = CORE / room
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def imported_modules(path: Path) -> Iterator[str]:
    """Every module a file imports, at any depth of the file (lazy imports count too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def arrows() -> dict[str, set[str]]:
    """room → the other rooms it imports."""
    graph: dict[str, set[str]] = {room: set() for room in rooms()}
    for room in graph:
        for path in files_of(room):
            for module in imported_modules(path):
                target = room_of(module)
                if target and target != room and target in graph:
                    graph[room].add(target)
    return graph


def floors(graph: dict[str, set[str]]) -> dict[str, int]:
    @cache
    def floor(room: str, seen: frozenset[str] = frozenset()) -> int:
        if room in seen:
            raise ValueError(f"a circle of imports through {room}")
        below = [floor(target, seen | {room}) for target in graph[room]]
        return 1 + max(below, default=0)

    return {room: floor(room) for room in graph}


def deepest_chain(graph: dict[str, set[str]]) -> list[str]:
    levels = floors(graph)
    chain = [max(levels, key=lambda room: (levels[room], room))]
    while graph[chain[-1]]:
        chain.append(max(graph[chain[-1]], key=lambda room: (levels[room], room)))
    return chain


def main() -> None:
    graph = arrows()
    levels = floors(graph)
    for level in sorted(set(levels.values()), reverse=True):
        names = sorted(room for room, at in levels.items() if at == level)
        print(f"floor {level}: {', '.join(names)}")
    total = sum(len(targets) for targets in graph.values())
    print(f"{len(graph)} rooms, {max(levels.values())} floors, {total} arrows")
    print("deepest chain: " + " → ".join(deepest_chain(graph)))


if __name__ == "__main__":
    main()
