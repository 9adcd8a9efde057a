"""The real embedded engine: OpenSearch 2.19 (Lucene 9.12) on Java 17+, built by Maven.

The `engine/` Maven module pins the server and plugin versions and holds a small launcher
(`org.scholarflow.engine.EmbeddedNode`). `mvn package` copies the launcher and every jar it needs
into `target/lib`; the node runs from there with `-cp lib/*` (never a shaded jar: Lucene finds
its codecs through service files that shading breaks). The build is redone when the pom or the
launcher changes, recorded by a stamp of their hashes.

A checkout builds in place, in `engine/target` (`make clean` removes it). An installed package
carries the module as package data, but its folder is shared by every home, may be read-only,
and an uninstall would leave 60 MB of jars behind in it: it builds a copy of the module in the
home's engine folder, `<home>/engine/build`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from scholarflow.package_data import INSTALLED, data_dir

MODULE = data_dir("engine")
LIB = MODULE / "target" / "lib"  # a checkout's build
STAMP_FILE = ".built-from"
MAIN_CLASS = "org.scholarflow.engine.EmbeddedNode"
MIN_JAVA = 17
BUILD_TIMEOUT = 900.0  # a first build downloads ~60 MB of jars


class Unavailable(RuntimeError):
    """The real engine cannot run here: the message says why, in one line."""


@dataclass(frozen=True)
class Java:
    path: str
    major: int


@cache
def find_java() -> Java:
    """`$JAVA_HOME/bin/java`, else `java` on the PATH, at version 17 or newer."""
    home = os.environ.get("JAVA_HOME")
    path = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not path or not Path(path).exists():
        where = f"JAVA_HOME={home} has no bin/java" if home else "no java on the PATH"
        raise Unavailable(f"Java {MIN_JAVA}+ not found ({where})")
    try:
        shown = subprocess.run(
            [path, "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"{path} does not run ({exc})") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', shown)
    if not match:
        raise Unavailable(f"cannot tell the version of {path}: {shown.strip()[:120]!r}")
    major = int(match.group(1))
    if major == 1:  # "1.8.0_…" is Java 8
        major = int(match.group(2) or 0)
    if major < MIN_JAVA:
        raise Unavailable(f"{path} is Java {major}; the engine needs Java {MIN_JAVA} or newer")
    return Java(path, major)


def _sources_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted([MODULE / "pom.xml", *(MODULE / "src").rglob("*")]):
        if path.is_file():
            digest.update(path.relative_to(MODULE).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def build_dirs(engine_dir: Path) -> tuple[Path, Path]:
    """(the Maven module to build, the folder its jars land in) for the engine in `engine_dir`."""
    if not INSTALLED:
        return MODULE, LIB
    module = engine_dir / "build"
    return module, module / "target" / "lib"


def is_built(lib: Path | None = None) -> bool:
    """Whether `lib` (the checkout's, by default) holds a build of the current sources."""
    try:
        return ((lib or LIB) / STAMP_FILE).read_text().strip() == _sources_hash()
    except OSError:
        return False


def _copy_module(module: Path) -> None:
    """The pom and sources into `module`, replacing older ones (`clean` drops the old build)."""
    module.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(module / "src", ignore_errors=True)
    shutil.copy2(MODULE / "pom.xml", module / "pom.xml")
    shutil.copytree(MODULE / "src", module / "src")


def build(log: Path) -> Path:
    """Run the Maven build unless its output is current; returns the folder of jars.

    `log` lies in the engine's folder under the home, where an installed package builds.
    """
    module, lib = build_dirs(log.parent)
    if is_built(lib):
        return lib
    if not (MODULE / "pom.xml").exists():
        raise Unavailable(f"the engine's Maven module is missing ({MODULE / 'pom.xml'})")
    mvn = shutil.which("mvn")
    if not mvn:
        raise Unavailable("Maven (mvn) not found: it builds the engine from Maven Central")
    if module != MODULE:
        _copy_module(module)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        try:
            done = subprocess.run(
                [
                    mvn,
                    "-B",
                    "-q",
                    "-Dstyle.color=never",
                    "-f",
                    str(module / "pom.xml"),
                    "clean",
                    "package",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=BUILD_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(f"the engine's Maven build took over {BUILD_TIMEOUT:.0f} s") from exc
    if done.returncode != 0:
        raise Unavailable(f"the engine's Maven build failed: {_first_error(log)} (log {log})")
    (lib / STAMP_FILE).write_text(_sources_hash())
    return lib


def _first_error(log: Path) -> str:
    """Maven's reason in one line: the repository it could not reach, else its first error."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace"))
    unreachable = re.search(r"from/to \S+ \(([^)]+)\): (?:.*: )?([^:\n]+)$", text, re.MULTILINE)
    if unreachable:
        return f"cannot download from {unreachable.group(1)} ({unreachable.group(2).strip()})"
    errors = [line[7:].strip() for line in text.splitlines() if line.startswith("[ERROR]")]
    return next((line for line in errors if line), "no output")[:300]


def command(
    java: Java, lib: Path, engine_dir: Path, *, heap: str, port: int, node_settings: dict[str, str]
) -> list[str]:
    """The launcher's command line: a bounded heap, data and logs under the engine's folder."""
    initial = heap if _bytes(heap) < _bytes("256m") else "256m"
    settings = {
        "path.home": engine_dir,
        "path.data": engine_dir / "data",
        "path.logs": engine_dir / "logs",
        # `_snapshot` repositories of type fs may live below this folder (backups).
        "path.repo": engine_dir / "backups",
        "http.port": port,
        **node_settings,
    }
    return [
        java.path,
        f"-Xms{initial}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:+ExitOnOutOfMemoryError",
        "-Xss1m",
        "-Dfile.encoding=UTF-8",
        "-Djava.awt.headless=true",
        "-Djna.nosys=true",
        "-Dio.netty.allocator.numDirectArenas=0",
        "-Dlog4j2.disable.jmx=true",
        f"-Djava.io.tmpdir={engine_dir / 'tmp'}",
        "-cp",
        f"{lib}/*",
        MAIN_CLASS,
        *(f"-E{key}={value}" for key, value in settings.items()),
    ]


def _bytes(size: str) -> int:
    number, unit = int(size[:-1]), size[-1].lower()
    return number << (30 if unit == "g" else 20)
