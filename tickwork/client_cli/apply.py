"""`tickwork apply -f FILE [--dry-run] [--prune -l k=v…]`: make the api's jobs match a file.

Every job is validated by the api itself first (`PUT … ?dryRun=true`, the same checks as
the real call), so one invalid job means nothing is changed. Then each job is PUT by name
(created / updated / unchanged), and `--prune` deletes the active jobs that carry every
given label and are not in the file.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml
from tickwork_client import ApiError, Client, Job, JobSpec, PutResult

from tickwork.client_cli import output

# What a job's spec is (compared by --dry-run); the rest is the scheduler's bookkeeping.
SPEC_FIELDS = tuple(
    (info.alias or name) for name, info in JobSpec.model_fields.items() if name != "name"
)


class FileProblem(Exception):
    """FILE cannot be used as it is (exit 1, nothing changed)."""


def load_jobs(text: str) -> list[dict[str, Any]]:
    """The jobs of a file: a YAML list of jobs, or `{"jobs": [...]}`; each a mapping
    with a `name`, names unique. Raises `FileProblem` naming the job and field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise FileProblem(f"not valid YAML: {error}") from None
    if isinstance(data, dict) and set(data) == {"jobs"}:
        data = data["jobs"]
    if not isinstance(data, list):
        raise FileProblem('must be a list of jobs, or {"jobs": [...]}')
    problems: list[str] = []
    seen: set[str] = set()
    for index, job in enumerate(data):
        where = f"job #{index + 1}"
        if not isinstance(job, dict):
            problems.append(f"{where}: must be a mapping of job fields")
            continue
        name = job.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}: name: required (a non-empty string)")
            continue
        if name in seen:
            problems.append(f"{name}: name: appears twice in the file")
        seen.add(name)
    if problems:
        raise FileProblem("\n".join(problems))
    return data


def changed_fields(current: Job, proposed: Job) -> list[tuple[str, Any, Any]]:
    """The spec fields whose values differ, as (camelCase name, now, then)."""
    now = current.model_dump(mode="json", by_alias=True)
    then = proposed.model_dump(mode="json", by_alias=True)
    return [
        (name, now.get(name), then.get(name))
        for name in SPEC_FIELDS
        if now.get(name) != then.get(name)
    ]


@dataclass
class Plan:
    """What the validation pass found: each job's dry result, the errors, the pruned."""

    results: list[tuple[str, PutResult]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    prune: list[Job] = field(default_factory=list)


def run(client: Client, args: argparse.Namespace) -> int:
    if args.prune and not args.label:
        print(
            "tickwork apply: --prune needs at least one -l k=v (the jobs FILE owns)",
            file=sys.stderr,
        )
        return 2
    try:
        text = args.file.read_text()
    except OSError as error:
        print(f"tickwork apply: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 2
    try:
        jobs = load_jobs(text)
    except FileProblem as problem:
        print(f"tickwork apply: {args.file}: {problem}\nnothing was changed", file=sys.stderr)
        return 1
    plan = _validate(client, jobs, args)
    if plan.errors:
        print("\n".join(plan.errors), file=sys.stderr)
        print(
            f"tickwork apply: {len(plan.errors)} job(s) invalid; nothing was changed",
            file=sys.stderr,
        )
        return 1
    if args.dry_run:
        _show_dry_run(client, plan)
        return 0
    progress = output.Progress("applying", len(jobs) + len(plan.prune))
    for index, job in enumerate(jobs):
        result = client.put_job(job["name"], job)
        print(f"{result.change} {job['name']}", flush=True)
        progress.step(index + 1)
    for index, gone in enumerate(plan.prune):
        client.delete_job(gone.id)
        print(f"deleted {gone.name}", flush=True)
        progress.step(len(jobs) + index + 1)
    progress.close()
    return 0


def _validate(client: Client, jobs: list[dict[str, Any]], args: argparse.Namespace) -> Plan:
    """Every job through the api's own checks (dry run), every error collected."""
    plan = Plan()
    progress = output.Progress("validating", len(jobs))
    for index, job in enumerate(jobs):
        name = job["name"]
        try:
            plan.results.append((name, client.put_job(name, job, dry_run=True)))
        except ApiError as error:
            if error.errors:
                plan.errors += [f"{name}: {e.field}: {e.message}" for e in error.errors]
            else:
                plan.errors.append(f"{name}: {error}")
        progress.step(index + 1)
    progress.close()
    if args.prune:
        names = {job["name"] for job in jobs}
        plan.prune = [j for j in client.iter_jobs(labels=args.label) if j.name not in names]
    return plan


def _show_dry_run(client: Client, plan: Plan) -> None:
    for name, result in plan.results:
        print(f"{result.change} {name}")
        if result.change == "updated":
            current = client.find_job(name)
            if current is not None:
                for field_name, now, then in changed_fields(current, result.job):
                    print(f"  {field_name}: {output.show(now)} -> {output.show(then)}")
    for gone in plan.prune:
        print(f"deleted {gone.name}")
    print("(dry run: nothing was changed)", file=sys.stderr)
