"""What an operator sees when something outside Scholarflow is wrong: one line on stderr naming
what and where, a non-zero exit, and no traceback unless `--debug`. Each runs the real command
in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from scholarflow.engine import EmbeddedEngine
from tests.bulk_server import BulkServer
from tests.cli_helpers import one_line_error, run_cli
from tests.conftest import SEED_RECORDS


def test_missing_input_path(cli_env: dict[str, str], tmp_path: Path) -> None:
    line = one_line_error(run_cli("ingest", "no/such/feed.jsonl", env=cli_env, cwd=tmp_path))
    assert line == "error: no/such/feed.jsonl: no such file or directory"


def test_debug_shows_the_traceback(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli("--debug", "ingest", "no/such/feed.jsonl", env=cli_env, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "SourceError" in result.stderr


def test_unreadable_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    """chmod 000 does not stop root, who runs these tests here: as root, the command runs
    without the capabilities that bypass file permissions (CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH), so the kernel refuses the read exactly as for any other user."""
    locked = tmp_path / "locked.jsonl"
    locked.write_text('{"title": "T"}\n')
    locked.chmod(0)
    prefix = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")
    result = run_cli(
        "ingest",
        str(tmp_path),
        env=cli_env,
        cwd=tmp_path,
        prefix=prefix if os.geteuid() == 0 else (),
    )
    assert one_line_error(result) == f"error: {locked}: cannot read (Permission denied)"


def test_corrupt_gzip_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "feed.jsonl.gz"
    broken.write_bytes(b"this is not gzip at all")
    line = one_line_error(run_cli("ingest", str(broken), env=cli_env, cwd=tmp_path))
    assert line.startswith(f"error: {broken}: cannot read (Not a gzipped file")


def test_unreachable_engine(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, "SCHOLARFLOW_ES_URL": "http://127.0.0.1:9"}  # discard port: nothing there
    for args in (
        ("ingest", str(SEED_RECORDS)),
        ("deadletter", "list"),
        ("deadletter", "replay", "--all"),
        ("status",),
    ):
        line = one_line_error(run_cli(*args, env=env, cwd=tmp_path))
        assert line.startswith("error: http://127.0.0.1:9: cannot reach the engine ("), line
        assert "Connection refused" in line


def test_wrong_credentials(cli_env: dict[str, str], tmp_path: Path) -> None:
    with BulkServer(status=401) as server:
        env = {
            **cli_env,
            "SCHOLARFLOW_ES_URL": server.url,
            "SCHOLARFLOW_ES_USERNAME": "ingest",
            "SCHOLARFLOW_ES_PASSWORD": "not-the-password",
        }
        result = run_cli("ingest", str(SEED_RECORDS), env=env, cwd=tmp_path)
    line = one_line_error(result)
    assert line == f"error: {server.url}: the engine refused the credentials (401)"
    assert "not-the-password" not in result.stderr


@pytest.fixture
def tiny_home(tmp_path: Path):
    """A home directory on a 1 MB tmpfs: a real file system that really fills up."""
    mount = tmp_path / "tiny-home"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip()}): needs root")
    try:
        yield mount
    finally:
        EmbeddedEngine(mount).stop()
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_the_real_engine_refuses_a_full_disk_in_one_line(tiny_home: Path, tmp_path: Path) -> None:
    env = {"SCHOLARFLOW_HOME": str(tiny_home), "PREFECT_HOME": str(tmp_path / "prefect")}
    line = one_line_error(run_cli("engine", "start", env=env, cwd=tmp_path))
    assert line.startswith(f"error: only 1.0 MB free under {tiny_home}/engine: the engine needs")
    assert not (tiny_home / "engine" / "data").exists()


@pytest.mark.slow
def test_disk_full_on_the_home_directory_of_the_fallback_engine(
    tiny_home: Path, prefect_api_url: str, tmp_path: Path
) -> None:
    """The in-memory fallback saves snapshots under the home: a full disk stops the command in
    one line, and the half-written snapshot is removed."""
    feed = tmp_path / "big.jsonl"
    with feed.open("w") as out:
        for n in range(3000):
            record = {"title": f"Paper {n}", "doi": f"10.1000/full.{n}", "abstract": "word " * 80}
            out.write(json.dumps(record) + "\n")
    env = {
        "SCHOLARFLOW_HOME": str(tiny_home),
        "SCHOLARFLOW_ENGINE": "osmem",
        "SCHOLARFLOW_DOI_LOOKUP": "off",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": prefect_api_url,
    }
    line = one_line_error(run_cli("ingest", str(feed), env=env, cwd=tmp_path))
    assert line.startswith(f"error: cannot save the engine's data under {tiny_home}/engine")
    assert "No space left on device" in line
    snapshots = tiny_home / "engine" / "snapshots"
    assert not any(p.name.endswith(".partial") for p in snapshots.iterdir())  # cleaned up
