"""`python -m tickwork_executor`: an executor configured from `TICKWORK_*` variables."""

from __future__ import annotations

import asyncio

from tickwork_shared.logs import configure_logging
from tickwork_shared.settings import Settings

from tickwork_executor.main import run


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
