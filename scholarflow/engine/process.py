"""A node of the embedded engine as a child process: started with its output in its folder
(`ready.json` gets the one JSON line it prints once it serves, `engine.log` what it logs), and
waited for, with the reason in one line when it does not come up."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import orjson

from scholarflow.errors import ScholarflowError

# A cold OpenSearch start takes 3-25 s; osmem loading a large snapshot re-indexes it (~30 s
# for 20k documents on two cores).
STARTUP_TIMEOUT = 180.0
LOG_ROTATE_BYTES = 10 << 20


class EngineStartError(ScholarflowError):
    """The embedded engine could not be started."""


def spawn(args: list[str], folder: Path) -> tuple[subprocess.Popen[bytes], Path, Path, int]:
    """Start a node whose ready line goes to `<folder>/ready.json`, its log to
    `<folder>/engine.log`: (process, ready file, log file, where this start's log begins)."""
    ready, log_file = folder / "ready.json", folder / "engine.log"
    ready.unlink(missing_ok=True)
    if log_file.exists() and log_file.stat().st_size > LOG_ROTATE_BYTES:
        log_file.replace(log_file.with_suffix(".log.1"))
    start = log_file.stat().st_size if log_file.exists() else 0
    with open(ready, "wb") as out, open(log_file, "ab") as errors:
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=errors, start_new_session=True
        )
    return process, ready, log_file, start


def await_ready(
    process: subprocess.Popen[bytes], ready: Path, log_file: Path, since: int, heap: str
) -> dict:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        line = ready.read_bytes().split(b"\n", 1)[0]
        if line.endswith(b"}"):
            info: dict = orjson.loads(line)
            return info
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise EngineStartError(
        f"the embedded engine did not start: {cause(since, log_file, ready, heap)} (log {log_file})"
    )


def cause(since: int, log_file: Path, ready: Path, heap: str) -> str:
    """The launcher's own one-line reason, else what the JVM or the engine said last."""
    with open(log_file, "rb") as handle:
        handle.seek(since)
        logged = handle.read().decode(errors="replace").strip().splitlines()
    printed = ready.read_text(errors="replace").strip().splitlines()
    lines = logged + printed
    for line in reversed(lines):
        if "cannot start:" in line:
            reason = line.split("cannot start:", 1)[1].strip()
            if "node locks" in reason or "LockObtainFailed" in reason:
                reason += f" (another engine uses {log_file.parent / 'data'})"
            return reason
        if "OutOfMemoryError" in line:
            return f"the Java heap is too small (SCHOLARFLOW_ENGINE_HEAP={heap}): {line}"
    return lines[-1][:300] if lines else "no output"


def alive(pid: int) -> bool:
    """Whether the process runs (our own exited child is reaped on the way)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our own child, and it has exited
    except ChildProcessError:
        pass  # started by another command: not ours to reap
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether the process has exited and waits for a parent that is not us to reap it (a
    signal still reaches it, but it will never answer)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc here: trust the signal
    return stat.rpartition(")")[2].split()[0] == "Z"


def answers(url: str) -> bool:
    """Whether the engine at `url` answers its root within two seconds."""
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
