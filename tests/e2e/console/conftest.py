"""The web console in a real browser: Debian's headless Chromium driven by Selenium.

One `tickwork dev` (as a user starts it) serves the module; the console's address is read
from its banner. The driver is `/usr/bin/chromedriver`: Selenium Manager never downloads
anything (`SE_OFFLINE`). Without chromium the tests skip with the reason, except under
CI=true, where that fails (`.ci/run` installs it). Every test saves screenshots to
`test-artifacts/console/` (ignored by git).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import FAST_SETTINGS
from tests.fixtures.services import in_ci
from tests.harness.processes import ROOT, Stack, free_port
from tests.harness.waiting import wait_until_sync

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "test-artifacts" / "console"


@dataclass
class Console:
    base_url: str  # the console's address as `tickwork dev` printed it (…/ui)
    api_url: str
    admin_key: str
    viewer_key: str
    stack: Stack

    def rest(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {key or self.admin_key}"}
        response = httpx.request(
            method, f"{self.api_url}/api/v1{path}", headers=headers, timeout=15, **kwargs
        )
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None


@pytest.fixture(scope="module")
def browser_available() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        message = (
            f"{', '.join(missing)} not installed "
            "(apt-get install -y chromium chromium-driver); the console's browser tests need it"
        )
        if in_ci():
            pytest.fail(f"{message}; CI requires it", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def console(browser_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    workdir = tmp_path_factory.mktemp("console")
    port = free_port()
    env = {**FAST_SETTINGS, "TICKWORK_API_PORT": str(port)}
    env.pop("TICKWORK_LOG_FORMAT")
    stack = Stack(env=env, workdir=workdir)
    with stack.running():
        dev = stack.start("dev", "dev")

        def console_line() -> str | None:
            found = re.search(r"console:\s+(\S+/ui)\b", dev.log.read_text())
            if not dev.alive():
                pytest.fail(f"tickwork dev exited:\n{stack.logs()}")
            return found.group(1) if found else None

        base_url = wait_until_sync(console_line, timeout=60, what="tickwork dev's console address")
        api_url = base_url.removesuffix("/ui")
        admin_key = (workdir / "tickwork-dev-admin.key").read_text().strip()
        # Straight into dev's SQLite file, as an operator of a dev install would do it.
        database = f"sqlite+aiosqlite:///{workdir / 'tickwork.db'}"
        keys = Stack(env={**env, "TICKWORK_DATABASE_URL": database}, workdir=workdir)
        viewer_key = keys.create_key("console-viewer", "viewer")
        yield Console(base_url, api_url, admin_key, viewer_key, stack)


@pytest.fixture
def browser(console: Console, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager fetch a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,800",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def screenshot(driver: Any, name: str) -> Path:
    """Save the page as `test-artifacts/console/<name>.png` (the whole page's height)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], max(int(height) + 140, size["height"]))
    driver.save_screenshot(str(path))
    driver.set_window_size(size["width"], size["height"])
    return path
