"""The client commands (`tickwork jobs|runs|apply`) as processes against a live
`tickwork dev` process: their output, their exit codes (0 done, 1 the api refused,
2 bad usage), and what they changed, read back over REST."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.conftest import Deployment, _dev
from tests.harness.processes import ROOT, TICKWORK
from tests.harness.waiting import wait_until

EXAMPLE = ROOT / "examples" / "jobs.yaml"


@dataclass
class Cli:
    deployment: Deployment
    workdir: Path

    @property
    def api(self) -> Any:
        return self.deployment.api

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
        # The key comes from ./tickwork-dev-admin.key: the default when none is set.
        return {**env, "TICKWORK_API_URL": self.api.base_url, **extra}

    async def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [TICKWORK, *args],
            cwd=self.workdir,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    async def ok(self, *args: str) -> list[str]:
        done = await self(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout.splitlines()

    def write(self, name: str, text: str) -> str:
        path = self.workdir / name
        path.write_text(text)
        return str(path)

    async def job(self, name: str) -> dict[str, Any] | None:
        page = await self.api.ok("GET", "/jobs", params={"search": name, "perPage": 100})
        return next((j for j in page["items"] if j["name"] == name), None)


@pytest.fixture(scope="module")
async def cli(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cli]:
    workdir = tmp_path_factory.mktemp("client-commands")
    async for deployment in _dev(workdir):
        yield Cli(deployment, workdir)


def _jobs_yaml(*jobs: str) -> str:
    return "jobs:\n" + "".join(jobs)


A1 = """
  - name: a1
    taskFunction: tickwork.noop
    schedule: {kind: interval, seconds: 3600}
    labels: {team: t1}
"""
A2 = """
  - name: a2
    taskFunction: tickwork.noop
    schedule: {kind: cron, expression: "0 2 * * *", timezone: Europe/Berlin}
    labels: {team: t1}
"""


async def test_apply_creates_leaves_unchanged_and_updates(cli: Cli) -> None:
    file = cli.write("jobs.yaml", _jobs_yaml(A1, A2))
    assert await cli.ok("apply", "-f", file) == ["created a1", "created a2"]
    first = await cli.job("a1")
    assert first is not None
    assert await cli.ok("apply", "-f", file) == ["unchanged a1", "unchanged a2"]
    again = await cli.job("a1")
    assert again is not None
    assert again["version"] == first["version"] == 1
    assert again["schedule"] == first["schedule"]

    # A plain list works too; --dry-run says what would change and changes nothing.
    plain_list = textwrap.dedent(A1 + "    priority: 5\n" + A2)
    changed = cli.write("list.yaml", plain_list)
    dry = await cli.ok("apply", "-f", changed, "--dry-run")
    assert dry == ["updated a1", "  priority: 0 -> 5", "unchanged a2"]
    still = await cli.job("a1")
    assert still is not None
    assert (still["priority"], still["version"]) == (0, 1)

    assert await cli.ok("apply", "-f", changed) == ["updated a1", "unchanged a2"]
    updated = await cli.job("a1")
    assert updated is not None
    assert (updated["priority"], updated["version"]) == (5, 2)


async def test_an_invalid_file_changes_nothing_and_names_job_and_field(cli: Cli) -> None:
    good = A1.replace("a1", "v1")
    bad = """
  - name: broken
    taskFunction: no.such.function
    schedule: {kind: cron, expression: "61 * * * *"}
"""
    new = A2.replace("a2", "v-new")
    file = cli.write("invalid.yaml", _jobs_yaml(good, bad, new))
    done = await cli("apply", "-f", file)
    assert done.returncode == 1, done.stdout
    assert done.stdout == ""
    assert "broken: taskFunction: unknown task function 'no.such.function'" in done.stderr
    assert "broken: schedule.expression:" in done.stderr
    assert "nothing was changed" in done.stderr
    assert await cli.job("v1") is None
    assert await cli.job("v-new") is None

    nameless = cli.write("nameless.yaml", "- taskFunction: tickwork.noop\n")
    done = await cli("apply", "-f", nameless)
    assert (done.returncode, done.stdout) == (1, "")
    assert "job #1: name: required" in done.stderr
    not_jobs = cli.write("scalar.yaml", "just words\n")
    assert (await cli("apply", "-f", not_jobs)).returncode == 1
    missing = await cli("apply", "-f", str(cli.workdir / "absent.yaml"))
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr


async def test_prune_deletes_only_unlisted_jobs_with_all_the_labels(cli: Cli) -> None:
    spec = {"schedule": {"kind": "interval", "seconds": 3600}}
    await cli.api.create_job("p-keep", **spec, labels={"team": "p1"})
    await cli.api.create_job("p-gone", **spec, labels={"team": "p1", "tier": "x"})
    await cli.api.create_job("p-other-team", **spec, labels={"team": "p2"})
    await cli.api.create_job("p-unlabelled", **spec)
    file = cli.write("prune.yaml", _jobs_yaml(A1.replace("a1", "p-keep").replace("t1", "p1")))

    refused = await cli("apply", "-f", file, "--prune")
    assert refused.returncode == 2
    assert "--prune needs" in refused.stderr

    dry = await cli.ok("apply", "-f", file, "--prune", "-l", "team=p1", "--dry-run")
    assert dry == ["unchanged p-keep", "deleted p-gone"]
    assert await cli.job("p-gone") is not None

    lines = await cli.ok("apply", "-f", file, "--prune", "-l", "team=p1")
    assert lines == ["unchanged p-keep", "deleted p-gone"]
    assert await cli.job("p-gone") is None
    for name in ("p-keep", "p-other-team", "p-unlabelled"):
        assert await cli.job(name) is not None, name


async def test_the_example_jobs_file_applies(cli: Cli) -> None:
    names = [line.split()[-1] for line in await cli.ok("apply", "-f", str(EXAMPLE))]
    assert names == ["example-heartbeat", "example-nightly-report", "example-weekly-cleanup"]
    again = await cli.ok("apply", "-f", str(EXAMPLE))
    assert again == [f"unchanged {name}" for name in names]
    listed = orjson.loads("".join(await cli.ok("jobs", "list", "-l", "app=example", "-o", "json")))
    assert sorted(job["name"] for job in listed) == sorted(names)


async def test_jobs_commands(cli: Cli) -> None:
    await cli.api.create_job(
        "j-sleepy-job-with-a-name-long-enough-to-be-cut-in-the-table",
        args={"seconds": 5},
        taskFunction="tickwork.sleep",
        schedule={"kind": "cron", "expression": "0 3 * * *", "timezone": "America/New_York"},
        labels={"team": "j"},
    )
    job = await cli.api.create_job(
        "j-plain", schedule={"kind": "interval", "seconds": 3600}, labels={"team": "j"}
    )
    table = await cli.ok("jobs", "list", "-l", "team=j")
    assert table[0].split() == ["ID", "NAME", "SCHEDULE", "ON", "NEXT", "RUN", "(UTC)"]
    assert len(table) == 3
    assert all(len(line) <= 80 for line in table), table
    assert "…" in table[1] + table[2]  # the long name was cut to fit
    searched = await cli.ok("jobs", "list", "--search", "j-pl", "-o", "json")
    assert [j["name"] for j in orjson.loads("\n".join(searched))] == ["j-plain"]

    by_id = orjson.loads("\n".join(await cli.ok("jobs", "get", str(job["id"]), "-o", "json")))
    assert by_id["name"] == "j-plain"
    details = await cli.ok("jobs", "get", "j-plain")
    assert any(line.split() == ["labels", "team=j"] for line in details)

    assert await cli.ok("jobs", "disable", "j-plain") == ["disabled j-plain"]
    assert (await cli.job("j-plain") or {})["isEnabled"] is False
    assert await cli.ok("jobs", "enable", "j-plain") == ["enabled j-plain"]

    sleepy = "j-sleepy-job-with-a-name-long-enough-to-be-cut-in-the-table"
    queued = await cli.ok("jobs", "trigger", sleepy, "--args", '{"seconds": 60}')
    assert queued[0].startswith("queued ")
    execution_id = queued[0].split()[1]
    run = await cli.api.ok("GET", f"/executions/{execution_id}")
    assert run["trigger"] == "manual"
    again = await cli("jobs", "trigger", sleepy)  # a `skip` job with a run queued/running
    assert again.returncode == 1
    assert "Job already has a running execution" in again.stderr
    bad_args = await cli("jobs", "trigger", "j-plain", "--args", '{"unknown": 1}')
    assert bad_args.returncode == 1
    assert "args" in bad_args.stderr
    with_key = await cli.ok("jobs", "trigger", "j-plain", "--idempotency-key", "k1", "-o", "json")
    same_key = await cli.ok("jobs", "trigger", "j-plain", "--idempotency-key", "k1", "-o", "json")
    assert orjson.loads("\n".join(with_key)) == orjson.loads("\n".join(same_key))

    assert await cli.ok("jobs", "delete", "j-plain") == ["deleted j-plain"]
    gone = await cli("jobs", "get", "j-plain")
    assert gone.returncode == 1
    assert "j-plain" in gone.stderr
    assert (await cli("jobs", "get", "99999")).returncode == 1

    for usage in (
        ["jobs"],
        ["jobs", "fly", "x"],
        ["jobs", "list", "-l", "no-equals"],
        ["jobs", "backfill", sleepy, "--from", "yesterday", "--to", "2026-01-01"],
        ["jobs", "trigger", sleepy, "--args", "[1]"],
        ["runs", "list", "--status", "sleeping"],
    ):
        done = await cli(*usage)
        assert done.returncode == 2, (usage, done.stderr)
    refused = await cli("jobs", "list", TICKWORK_API_KEY="tw_not_a_key")
    assert refused.returncode == 1
    assert "TICKWORK_API_KEY" in refused.stderr
    await cli.api.wait_execution(execution_id, {"succeeded"}, timeout=90)


async def test_backfill_runs_every_missed_fire_time_one_at_a_time(cli: Cli) -> None:
    # 02:30 Berlin does not exist on 2026-03-29 (spring forward): it fires at 03:30 CEST.
    await cli.api.create_job(
        "b-nightly",
        taskFunction="tickwork.sleep",
        args={"seconds": 0.5},
        schedule={"kind": "cron", "expression": "30 2 * * *", "timezone": "Europe/Berlin"},
    )
    window = ["--from", "2026-03-27T00:00:00Z", "--to", "2026-04-01T00:00:00Z"]
    lines = await cli.ok("jobs", "backfill", "b-nightly", *window, "--wait")
    assert lines == [
        "queued 5 runs of b-nightly, 2026-03-27 01:30:00Z to 2026-03-31 00:30:00Z",
        "backfill of b-nightly done",
    ]
    job = await cli.job("b-nightly")
    assert job is not None
    runs = await cli.api.executions(job["id"], status="succeeded")
    runs.sort(key=lambda run: run["scheduledAt"])
    assert [run["scheduledAt"] for run in runs] == [
        "2026-03-27T01:30:00Z",
        "2026-03-28T01:30:00Z",
        "2026-03-29T01:30:00Z",
        "2026-03-30T00:30:00Z",
        "2026-03-31T00:30:00Z",
    ]
    spans = [(_at(run["startedAt"]), _at(run["finishedAt"])) for run in runs]
    for (_, finished), (started, _) in itertools.pairwise(spans):
        assert started >= finished  # oldest first, one at a time

    again = await cli.ok("jobs", "backfill", "b-nightly", *window, "-o", "json")
    assert orjson.loads("\n".join(again))["count"] == 0
    listed = await cli.ok("runs", "list", "--job", "b-nightly", "--trigger", "backfill")
    assert len(listed) == 6
    assert all(len(line) <= 80 for line in listed)
    too_many = await cli("jobs", "backfill", "b-nightly", *window, "--max-runs", "2")
    assert too_many.returncode == 1
    assert "maxRuns" in too_many.stderr


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_runs_commands(cli: Cli) -> None:
    job = await cli.api.create_job(
        "r-sleepy",
        taskFunction="tickwork.sleep",
        args={"seconds": 600},
        schedule={"kind": "interval", "seconds": 3600},
        isEnabled=False,
    )
    accepted = await cli.api.ok("POST", f"/jobs/{job['id']}/trigger", 202)
    execution_id = accepted["executionId"]
    await cli.api.wait_execution(execution_id, {"running"})

    listed = await cli.ok("runs", "list", "--job", "r-sleepy", "--status", "running")
    assert listed[1].split()[:4] == [execution_id, str(job["id"]), "running", "manual"]
    shown = await cli.ok("runs", "get", execution_id)
    assert shown[0].split() == ["executionId", execution_id]
    as_json = orjson.loads("\n".join(await cli.ok("runs", "get", execution_id, "-o", "json")))
    assert (as_json["executionId"], as_json["status"]) == (execution_id, "running")

    cancelled = await cli.ok("runs", "cancel", execution_id)
    assert cancelled[0].startswith(f"cancel requested {execution_id}")
    await cli.api.wait_execution(execution_id, {"cancelled"})
    ended = await cli("runs", "cancel", execution_id)
    assert ended.returncode == 1
    assert "already ended" in ended.stderr
    assert (await cli("runs", "get", "no-such-execution")).returncode == 1

    watched = cli.workdir / "watch.out"
    with watched.open("w") as sink:
        watch = subprocess.Popen(
            [TICKWORK, "runs", "list", "--job", "r-sleepy", "--watch"],
            cwd=cli.workdir,
            env=cli.env(),
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            # Ctrl-C in a terminal: a run started in the background (a CI job, `cmd &`)
            # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt.
            preexec_fn=_interruptible,
        )

    async def refreshed() -> bool:
        return watch.poll() is not None or watched.read_text().count("EXECUTION") >= 2

    await wait_until(refreshed, timeout=60, what="runs list --watch to refresh")
    watch.send_signal(signal.SIGINT)
    _, err = await asyncio.to_thread(watch.communicate, timeout=20)
    assert watch.returncode == 0, err
    out = watched.read_text()
    assert out.count("EXECUTION") >= 2
    assert execution_id in out


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
