"""Where the value of `{"$secret": NAME}` is found: a file, else the environment.

Read by executors (a job's arguments) and planners (notification webhook secrets, the
SMTP password); never by the api.

`TICKWORK_SECRETS_DIR/NAME` first (a mounted Kubernetes Secret: one file per key; one
trailing newline is dropped, as `echo` and editors add one), then the environment
variable `TICKWORK_SECRET_<NAME>` (see `secret_refs.env_name`). Read at
each run, so a rotated Secret is used from the next run on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tickwork_shared.secret_refs import NAME, env_name


class SecretStore:
    def __init__(self, directory: str | None, environ: Mapping[str, str] | None = None) -> None:
        self._directory = Path(directory) if directory else None
        self._environ = os.environ if environ is None else environ

    def get(self, name: str) -> str | None:
        """The secret's value, or None when neither the file nor the variable exists."""
        if NAME.fullmatch(name) is None:  # never a path: no '/', no '..'
            return None
        if self._directory is not None:
            try:
                text = (self._directory / name).read_text(encoding="utf-8")
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                pass
            else:
                if text.endswith("\n"):
                    text = text[:-1]
                    if text.endswith("\r"):
                        text = text[:-1]
                return text
        return self._environ.get(env_name(name))

    def where(self, name: str) -> str:
        """Where `name` was looked for, for the `SecretMissing` message."""
        places = [f"{self._directory}/{name}"] if self._directory else []
        return " or ".join([*places, f"${env_name(name)}"])
