"""Install tickwork as deploy/Dockerfile does: a venv of its own, the packages installed
non-editable with their runtime dependencies only (no test tools)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def install_into_new_venv(
    venv: Path, packages: Sequence[str], *, cwd: Path, lock: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Make `venv` and install `packages` (paths relative to `cwd`) into it with uv; the
    install's completed process, for its return code and output.

    With a `lock` (as deploy/Dockerfile does), the dependencies come from it, hashes
    checked, and the packages are installed without resolving anything more: a lock
    missing a dependency then shows as a failing `tickwork`."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    # --compile-bytecode: as pip does by default when deploy/Dockerfile installs (uv does
    # not); without .pyc files every process compiles its imports from source at start.
    install = [
        *(sys.executable, "-m", "uv", "pip", "install", "--quiet", "--compile-bytecode"),
        *("--python", python),
    ]
    if lock is not None:
        locked = subprocess.run(
            [*install, "--require-hashes", "-r", lock],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        if locked.returncode != 0:
            return locked
        install.append("--no-deps")
    return subprocess.run(
        [*install, *packages], cwd=cwd, capture_output=True, text=True, check=False
    )
