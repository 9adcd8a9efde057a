"""Scholarflow as an operator installs it: a wheel in a fresh virtual environment, run away from
the repository, still finds its index mappings, judged queries and the engine's Maven module."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scholarflow.engine import opensearch
from tests.cli_helpers import json_out
from tests.conftest import REPO, SEED_RECORDS

UV = os.environ.get("UV") or shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
LEUKOPENIA_DOI = "10.1080/25785826.2025.2563427"
# What the installed package reports about where it reads from, and where it would build.
PROBE = """
import json, sys
from pathlib import Path
from scholarflow import package_data
from scholarflow.engine import opensearch
from scholarflow.search.relevance import JUDGMENTS
module, lib = opensearch.build_dirs(Path(sys.argv[1]))
print(json.dumps({
    "installed": package_data.INSTALLED,
    "engine": str(opensearch.MODULE),
    "judgments": str(JUDGMENTS),
    "build_module": str(module),
    "build_lib": str(lib),
}))
"""


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def test_an_installed_package_builds_the_engine_in_the_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A stand-in `mvn` that makes `target/lib` beside the pom it is given: the build runs on
    a copy of the module under the home, once."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mvn = bin_dir / "mvn"
    mvn.write_text(
        f"#!{sys.executable}\nimport pathlib, sys\n"
        "pom = pathlib.Path(sys.argv[sys.argv.index('-f') + 1])\n"
        "(pom.parent / 'target' / 'lib').mkdir(parents=True)\n"
    )
    mvn.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(opensearch, "INSTALLED", True)
    engine_dir = tmp_path / "home" / "engine"
    lib = opensearch.build(engine_dir / "build.log")
    assert lib == engine_dir / "build" / "target" / "lib"
    assert opensearch.is_built(lib)
    copied = engine_dir / "build" / "src" / "main" / "java" / "org" / "scholarflow" / "engine"
    assert (copied / "EmbeddedNode.java").read_bytes() == (
        opensearch.MODULE / "src/main/java/org/scholarflow/engine/EmbeddedNode.java"
    ).read_bytes()
    assert opensearch.build(engine_dir / "build.log") == lib  # current: Maven is not run again


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel, and the locked versions of its
    dependencies (from the uv cache, so no resolution and mostly no download)."""
    tmp = tmp_path_factory.mktemp("wheel")
    _run([UV, "build", "--wheel", "--out-dir", str(tmp / "dist"), str(REPO)], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("scholarflow-*.whl")
    requirements = tmp / "requirements.txt"
    export = [UV, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"]
    _run([*export, "--output-file", str(requirements)], cwd=REPO)
    _run([UV, "venv", "--quiet", "--python", sys.executable, str(tmp / "venv")], cwd=tmp)
    python = str(tmp / "venv" / "bin" / "python")
    _run(
        [UV, "pip", "install", "--quiet", "--python", python, "-r", str(requirements), str(wheel)],
        cwd=tmp,
    )
    return tmp / "venv"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_an_installed_wheel_ingests_and_searches_away_from_the_repository(
    venv: Path, prefect_api_url: str, tmp_path: Path
) -> None:
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SCHOLARFLOW_", "PREFECT_")) and k != "VIRTUAL_ENV"
    }
    env.update(
        {
            "SCHOLARFLOW_HOME": str(home),
            "SCHOLARFLOW_ENGINE": "osmem",  # the real engine is built and tested elsewhere
            "SCHOLARFLOW_DOI_LOOKUP": "off",
            "PREFECT_HOME": str(tmp_path / "prefect"),
            "PREFECT_API_URL": prefect_api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
    )
    site = venv.resolve() / "lib"
    probe = json.loads(
        _run([str(venv / "bin" / "python"), "-c", PROBE, str(home / "engine")], cwd=work, env=env)
    )
    assert probe["installed"]
    engine = Path(probe["engine"])
    assert site in engine.parents and REPO not in engine.parents
    assert (engine / "pom.xml").is_file()
    assert (engine / "src/main/java/org/scholarflow/engine/EmbeddedNode.java").is_file()
    assert site in Path(probe["judgments"]).parents and Path(probe["judgments"]).is_file()
    # Maven would build the installed module in the home, never in site-packages.
    assert Path(probe["build_module"]) == home / "engine" / "build"
    assert Path(probe["build_lib"]) == home / "engine" / "build" / "target" / "lib"

    scholarflow = str(venv / "bin" / "scholarflow")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [scholarflow, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300
        )

    try:
        ingested = json_out(cli("ingest", str(SEED_RECORDS), "--json"))
        assert ingested["records_read"] == 33 and ingested["indexed"] == 32
        found = json_out(cli("search", "白细胞减少", "--json"))
        assert [hit["doi"] for hit in found["hits"]] == [LEUKOPENIA_DOI]
    finally:
        cli("engine", "stop")
