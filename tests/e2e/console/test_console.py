"""The console as an operator uses it: sign in with a key, see jobs, act, follow runs.

Tests run in file order on one `tickwork dev`: the first sees a new install.
"""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.console.conftest import Console, screenshot
from tests.harness.waiting import wait_until_sync

Driver = Any


def sign_in(driver: Driver, console: Console, key: str) -> None:
    """Open the console, find the field labelled `API key`, enter the key."""
    driver.get(console.base_url)
    label = driver.find_element(By.XPATH, "//label[normalize-space()='API key']")
    field = driver.find_element(By.ID, label.get_attribute("for"))
    field.send_keys(key)
    field.submit()


def button(driver: Driver, text: str) -> Any:
    return driver.find_element(By.XPATH, f"//button[normalize-space()='{text}']")


def buttons(driver: Driver, text: str) -> list[Any]:
    return list(driver.find_elements(By.XPATH, f"//button[normalize-space()='{text}']"))


def wait(driver: Driver, timeout: float = 30) -> WebDriverWait[Driver]:
    return WebDriverWait(driver, timeout)


def open_job(driver: Driver, console: Console, name: str) -> None:
    driver.get(console.base_url)
    driver.find_element(By.LINK_TEXT, name).click()
    wait(driver).until(expected_conditions.title_contains(name))


def test_a_new_install_shows_how_to_create_a_first_job(console: Console, browser: Driver) -> None:
    sign_in(browser, console, console.admin_key)
    empty = wait(browser).until(
        expected_conditions.presence_of_element_located((By.ID, "empty-state"))
    )
    assert "No jobs yet" in empty.text
    assert f"{console.api_url}/api/v1/jobs" in empty.text
    assert console.admin_key not in browser.page_source  # the key is never echoed
    screenshot(browser, "jobs-empty")


def test_a_bad_key_is_refused_with_a_message(console: Console, browser: Driver) -> None:
    sign_in(browser, console, "tw_this-key-was-never-issued")
    message = wait(browser).until(
        expected_conditions.presence_of_element_located((By.ID, "key-message"))
    )
    assert "not known" in message.text
    assert browser.find_elements(By.XPATH, "//label[normalize-space()='API key']")
    assert not browser.get_cookies()  # nothing kept for a refused key
    screenshot(browser, "key-refused")


def _seed(console: Console) -> dict[str, Any]:
    jobs = {
        "nightly-report": {
            "taskFunction": "tickwork.noop",
            "schedule": {"kind": "cron", "expression": "30 2 * * *", "timezone": "Europe/Berlin"},
            "args": {},
        },
        "webhook-ping": {
            "taskFunction": "http.request",
            # Never due during the tests; the URL stays on this machine (nothing listens).
            "schedule": {"kind": "cron", "expression": "0 3 1 1 *", "timezone": "UTC"},
            "args": {
                "url": "http://127.0.0.1:9/hook",
                "headers": {"Authorization": "Bearer s3cr3t-value"},
            },
            "staleAfterSeconds": 1,
        },
        "always-fails": {
            "taskFunction": "tickwork.fail",
            "schedule": {"kind": "interval", "seconds": 3600},
            "args": {"message": "disk full"},
        },
        "every-minute": {
            "taskFunction": "tickwork.sleep",
            "schedule": {"kind": "cron", "expression": "* * * * *", "timezone": "America/New_York"},
            "args": {"seconds": 0.1},
            "isEnabled": False,
        },
    }
    created = {}
    for name, fields in jobs.items():
        created[name] = console.rest("POST", "/jobs", json={"name": name, **fields})
    return created


@pytest.fixture(scope="module")
def jobs(console: Console) -> dict[str, Any]:
    created = _seed(console)
    failing = created["always-fails"]["id"]
    console.rest("POST", f"/jobs/{failing}/trigger")

    def failed() -> bool:
        page = console.rest("GET", "/executions", params={"jobId": failing, "status": "failed"})
        return bool(page["items"])

    wait_until_sync(failed, timeout=30, what="the failing job's run to fail")
    pinging = created["webhook-ping"]["id"]

    def stale() -> bool:
        # One second after its creation without a run; the failing run can be quicker.
        page = console.rest("GET", "/jobs", params={"stale": "true"})
        return pinging in {job["id"] for job in page["items"]}

    wait_until_sync(stale, timeout=30, what="the job without a run to turn stale")
    return created


def test_an_admin_sees_the_jobs_runs_one_now_and_pauses_and_resumes_it(
    console: Console, browser: Driver, jobs: dict[str, Any]
) -> None:
    sign_in(browser, console, console.admin_key)
    table = wait(browser).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "table.jobs"))
    )
    assert {"nightly-report", "webhook-ping", "always-fails", "every-minute"} <= {
        link.text for link in table.find_elements(By.CSS_SELECTOR, "td:first-child a")
    }

    def row_of(name: str) -> Any:
        return table.find_element(By.CSS_SELECTOR, f"tr[data-job-id='{jobs[name]['id']}']")

    row = row_of("nightly-report")
    assert "At 02:30" in row.text
    assert "30 2 * * *" in row.text
    assert "CET" in row.text or "CEST" in row.text  # the next run names its zone
    assert "in " in row.text  # and how far away it is
    stale_row = table.find_element(
        By.CSS_SELECTOR, f"tr[data-job-id='{jobs['webhook-ping']['id']}']"
    )
    assert "stale" in stale_row.text
    fail_row = table.find_element(
        By.CSS_SELECTOR, f"tr[data-job-id='{jobs['always-fails']['id']}']"
    )
    assert "failed" in fail_row.text
    screenshot(browser, "jobs")

    open_job(browser, console, "nightly-report")
    assert "Europe/Berlin" in browser.find_element(By.CSS_SELECTOR, ".next-runs").text
    button(browser, "Run now").click()
    wait(browser, 60).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "run-status"), "succeeded")
    )
    steps = browser.find_element(By.CSS_SELECTOR, ".steps").text
    assert "queued" in steps
    assert "started" in steps
    assert "finished" in steps
    screenshot(browser, "execution")

    job_id = jobs["nightly-report"]["id"]
    open_job(browser, console, "nightly-report")
    assert browser.find_elements(By.CSS_SELECTOR, ".timeline .tick.ok")  # the run, in green
    button(browser, "Pause").click()
    wait(browser).until(lambda d: buttons(d, "Resume"))
    assert not buttons(browser, "Pause")
    assert console.rest("GET", f"/jobs/{job_id}")["isEnabled"] is False
    button(browser, "Resume").click()
    wait(browser).until(lambda d: buttons(d, "Pause"))
    assert console.rest("GET", f"/jobs/{job_id}")["isEnabled"] is True
    screenshot(browser, "job")


def test_executions_filter_by_status(
    console: Console, browser: Driver, jobs: dict[str, Any]
) -> None:
    sign_in(browser, console, console.admin_key)
    browser.get(f"{console.base_url}/executions")
    Select(browser.find_element(By.ID, "filter-status")).select_by_value("failed")
    button(browser, "Filter").click()
    wait(browser).until(expected_conditions.url_contains("status=failed"))
    statuses = {
        row.get_attribute("data-status")
        for row in browser.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")
    }
    assert statuses == {"failed"}
    screenshot(browser, "executions-failed")
    Select(browser.find_element(By.ID, "filter-status")).select_by_value("succeeded")
    button(browser, "Filter").click()
    wait(browser).until(expected_conditions.url_contains("status=succeeded"))
    rows = browser.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")
    assert rows
    assert {row.get_attribute("data-status") for row in rows} == {"succeeded"}


def test_the_executions_table_refreshes_itself(
    console: Console, browser: Driver, jobs: dict[str, Any]
) -> None:
    sign_in(browser, console, console.viewer_key)
    browser.get(f"{console.base_url}/executions")
    browser.execute_script("window.notReloaded = true;")
    accepted = console.rest("POST", f"/jobs/{jobs['always-fails']['id']}/trigger")
    link = (By.CSS_SELECTOR, f"a[href='/ui/executions/{accepted['executionId']}']")
    wait(browser, 20).until(expected_conditions.presence_of_element_located(link))
    assert browser.execute_script("return window.notReloaded === true")  # fetched, not reloaded


def test_a_viewer_sees_no_action_buttons_and_its_forged_post_is_refused(
    console: Console, browser: Driver, jobs: dict[str, Any]
) -> None:
    job = jobs["webhook-ping"]
    before = console.rest("GET", "/executions", params={"jobId": job["id"]})["total"]
    sign_in(browser, console, console.viewer_key)
    open_job(browser, console, "webhook-ping")
    for text in ("Run now", "Pause", "Resume", "Delete"):
        assert not buttons(browser, text), text
    args = browser.find_element(By.ID, "job-args").text
    assert "s3cr3t-value" not in args
    assert "***" in args
    screenshot(browser, "job-viewer")

    # The same POST the admin's button sends, with this session's own CSRF token.
    status = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const csrf = document.querySelector("input[name=csrf]").value;
        fetch(arguments[0], {method: "POST", credentials: "same-origin",
              headers: {"Content-Type": "application/x-www-form-urlencoded"},
              body: "csrf=" + encodeURIComponent(csrf)})
          .then(r => done(r.status), e => done(String(e)));
        """,
        f"{console.base_url}/jobs/{job['id']}/run",
    )
    assert status == 403
    assert console.rest("GET", "/executions", params={"jobId": job["id"]})["total"] == before


def test_the_console_fits_a_phone(console: Console, browser: Driver, jobs: dict[str, Any]) -> None:
    browser.set_window_size(390, 844)
    sign_in(browser, console, console.admin_key)
    wait(browser).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "table.jobs"))
    )
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0  # the page itself never scrolls sideways (wide tables do, inside)
    screenshot(browser, "jobs-phone")


def test_the_console_works_from_the_keyboard(
    console: Console, browser: Driver, jobs: dict[str, Any]
) -> None:
    browser.get(console.base_url)
    field = browser.switch_to.active_element  # the key field has the focus
    assert field.get_attribute("id") == "api-key"
    field.send_keys(console.admin_key, Keys.ENTER)
    wait(browser).until(expected_conditions.title_contains("Jobs"))

    def tab_to(predicate: Any, limit: int = 40) -> Any:
        for _ in range(limit):
            browser.switch_to.active_element.send_keys(Keys.TAB)
            element = browser.switch_to.active_element
            if predicate(element):
                return element
        pytest.fail("not reachable with Tab")

    link = tab_to(lambda e: e.text == "nightly-report")
    link.send_keys(Keys.ENTER)
    wait(browser).until(expected_conditions.title_contains("nightly-report"))
    run_now = tab_to(lambda e: e.tag_name == "button" and e.text == "Run now")
    run_now.send_keys(Keys.ENTER)
    wait(browser, 60).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "run-status"), "succeeded")
    )
