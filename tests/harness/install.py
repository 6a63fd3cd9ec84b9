"""Install tickwork as deploy/Dockerfile does: a venv of its own, the packages installed
non-editable with their runtime dependencies only (no test tools)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def install_into_new_venv(
    venv: Path, packages: Sequence[str], *, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Make `venv` and install `packages` (paths relative to `cwd`) into it with uv; the
    install's completed process, for its return code and output."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    return subprocess.run(
        [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", python, *packages],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
