"""Debian packages some tests need (a browser, docker-compose), installed by the test set-up
when missing, so a fresh machine (CI) runs those tests instead of skipping them."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache

import pytest

APT_TIMEOUT = 900  # seconds; a browser is a large download


@cache
def _apt_updated() -> bool:
    return _apt(["apt-get", "update", "-q"])


def _apt(command: list[str]) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(command, env=env, capture_output=True, timeout=APT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def require_binary(binary: str, *packages: str) -> str:
    """The path of `binary`, installing `packages` with apt-get first if it is missing; skips
    the test (saying why) only when it is missing and cannot be installed here."""
    found = shutil.which(binary)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"{binary} is not installed and apt-get cannot run here (needs root)")
    if not (_apt_updated() and _apt(["apt-get", "install", "-y", "-q", *packages])):
        pytest.skip(f"{binary} is not installed and `apt-get install {' '.join(packages)}` failed")
    found = shutil.which(binary)
    if not found:
        pytest.skip(f"`apt-get install {' '.join(packages)}` did not provide {binary}")
    return found
