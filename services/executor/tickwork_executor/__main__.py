"""`python -m tickwork_executor`: an executor configured from `TICKWORK_*` variables."""

from __future__ import annotations

from functools import partial

from tickwork_shared.lifecycle import run_service
from tickwork_shared.logs import configure_logging
from tickwork_shared.settings import Settings

from tickwork_executor.main import run


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    raise SystemExit(run_service(partial(run, settings), name="executor"))


if __name__ == "__main__":
    main()
