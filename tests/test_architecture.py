"""The house holds its shape: the core's rooms import each other in one direction only, and the
core never reaches up into the stages, the flows, the command line or Prefect."""

from __future__ import annotations

import pytest

from tests.house import arrows, files_of, floors, imported_modules, rooms

# The order the README's Architecture section gives, from the ground up: a room may import only
# rooms that stand before it here.
ORDER = [
    "errors.py",
    "redact.py",
    "package_data.py",
    "run_scoped.py",
    "settings.py",
    "paper",
    "engine",
    "stores",
    "embedding",
    "registry",
    "search",
    "alerts",
    "status.py",
]
OUTSIDE_THE_CORE = ("tasks", "flows", "cli", "web", "benchmarks", "tests", "prefect")


def test_every_room_has_its_place_in_the_order() -> None:
    assert sorted(ORDER) == rooms()


@pytest.mark.parametrize("room", ORDER)
def test_a_room_imports_only_rooms_below_it(room: str) -> None:
    allowed = set(ORDER[: ORDER.index(room)])
    assert arrows()[room] <= allowed, f"{room} imports {sorted(arrows()[room] - allowed)}"


def test_no_circles_and_a_bounded_depth() -> None:
    levels = floors(arrows())  # raises on a circle
    assert max(levels.values()) <= len(ORDER)
    assert levels["paper"] < levels["stores"] < levels["search"] < levels["alerts"]


@pytest.mark.parametrize("room", ORDER)
def test_the_core_never_imports_the_layers_above_it(room: str) -> None:
    for path in files_of(room):
        outside = [
            module for module in imported_modules(path) if module.split(".")[0] in OUTSIDE_THE_CORE
        ]
        assert not outside, f"{path.name} imports {outside}"


def test_every_package_names_its_modules() -> None:
    """Each sub-package's docstring lists its modules, so `ls` and the docstring agree."""
    for room in rooms():
        if room.endswith(".py"):
            continue
        package = files_of(room)[0].parent
        doc = (package / "__init__.py").read_text(encoding="utf-8")
        modules = [p.stem for p in package.glob("*.py") if p.stem != "__init__"]
        missing = [name for name in modules if f"{name}.py" not in doc and f"`{name}" not in doc]
        assert not missing, f"{room}/__init__.py does not name {missing}"
