"""What a check found (passed, failed with what to do, or skipped), and how the findings
are shown: a table of marked lines for an operator, or JSON for a script."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass

import orjson


class Status(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


MARKS = {Status.OK: "✓", Status.FAILED: "✗", Status.SKIPPED: "·"}


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str
    fix: str = ""


def passed(check: str, detail: str) -> Finding:
    return Finding(check, Status.OK, detail)


def failed(check: str, detail: str, fix: str = "") -> Finding:
    return Finding(check, Status.FAILED, detail, fix)


def render_table(findings: list[Finding]) -> str:
    width = max(len(finding.check) for finding in findings)
    lines = []
    for finding in findings:
        lines.append(f"{MARKS[finding.status]} {finding.check:<{width}}  {finding.detail}")
        if finding.fix:
            lines.append(f"  {'':<{width}}  fix: {finding.fix}")
    failures = sum(finding.status is Status.FAILED for finding in findings)
    if not failures:
        lines.append("all checks passed")
    else:
        lines.append(f"{failures} check{'s' if failures > 1 else ''} failed")
    return "\n".join(lines)


def render_json(findings: list[Finding]) -> str:
    ok = not any(finding.status is Status.FAILED for finding in findings)
    body = {"ok": ok, "checks": [asdict(finding) for finding in findings]}
    return orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()
