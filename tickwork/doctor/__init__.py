"""`tickwork doctor`: check a deployment with the services' own environment, one line per
check, each passed (✓) or failed (✗) with what to do; exit 0 when every check passes.

The first thing to run when something is wrong: it reads the same `TICKWORK_*` variables
as the services and asks the database and the broker what the services would need. A
check that depends on a failed one (the schema on a database that does not answer) is
skipped (·), so a broken piece shows as its own line alone. Read-only but for a private,
self-deleting queue on RabbitMQ (to prove the user may declare, publish and read). On a
SQLite database (`tickwork dev`) only the checks that apply run.

Here the order of the checks and the command; `database` and `rabbitmq` hold the checks,
`judgements` the pure rules they apply, `findings` what they found and how it is shown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from tickwork_shared.db.engine import create_engine
from tickwork_shared.logs import redact
from tickwork_shared.setting_errors import SettingsInvalid, unknown_variables
from tickwork_shared.settings import Settings, load_settings
from tickwork_shared.startup_rules import classify_database_error

from tickwork.doctor.checks import Check
from tickwork.doctor.database import check_database
from tickwork.doctor.findings import (
    Finding,
    Status,
    failed,
    passed,
    render_json,
    render_table,
)
from tickwork.doctor.rabbitmq import check_rabbitmq

__all__ = [
    "Finding",
    "Status",
    "diagnose",
    "doctor_command",
    "failed",
    "passed",
    "render_json",
    "render_table",
]


class _Doctor:
    """The findings in the order checked, and the checks that did not pass: a check that
    needs one of those is skipped rather than run, so a broken piece fails alone."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.findings: list[Finding] = []
        self.failed_checks: set[str] = set()

    async def run(self, check: str, work: Check, *needs: str) -> None:
        missing = [need for need in needs if need in self.failed_checks]
        if missing:
            self.failed_checks.add(check)
            self.findings.append(Finding(check, Status.SKIPPED, f"needs {missing[0]}"))
            return
        try:
            finding = await work()
        except Exception as error:  # a connection lost midway, a query refused: say it
            message = redact(" ".join(str(error).split()))[:200]
            finding = failed(check, f"could not check: {type(error).__name__}: {message}")
        if finding.status is not Status.OK:
            self.failed_checks.add(check)
        self.findings.append(finding)


async def diagnose(environ: dict[str, str]) -> list[Finding]:
    try:
        settings = load_settings()
    except SettingsInvalid as error:
        return [failed("settings", "; ".join(error.problems), "fix the variables named")]
    doctor = _Doctor(settings)
    doctor.findings.append(passed("settings", "valid"))
    typos = unknown_variables(environ, Settings)
    if typos:
        doctor.findings.append(failed("environment", "; ".join(typos), "rename or remove it"))
    else:
        doctor.findings.append(passed("environment", "no unknown TICKWORK_* variables"))
    try:
        engine = create_engine(settings.database_url, pool_size=1)
    except Exception as error:
        doctor.findings.append(failed("database", classify_database_error(error).reason))
    else:
        try:
            await check_database(doctor.run, settings, engine)
        finally:
            await engine.dispose()
    if not settings.is_sqlite:
        await check_rabbitmq(doctor.run, settings)
    return doctor.findings


def doctor_command(output: str) -> int:
    """Print the findings (a table, or JSON with `-o json`); 0 when every check passed."""
    logging.basicConfig(level=logging.CRITICAL)
    findings = asyncio.run(diagnose(dict(os.environ)))
    print(render_json(findings) if output == "json" else render_table(findings))
    sys.stdout.flush()
    return 1 if any(finding.status is Status.FAILED for finding in findings) else 0
