"""`scripts/bench celery`: the same drain on tickwork at its default settings and on Celery.

Both drain `RUNS` no-op tasks queued before the workers start, on the same machine and
the same MariaDB and RabbitMQ, with 2 worker processes each:
- tickwork: 2 executors at the default `TICKWORK_EXECUTOR_CONCURRENCY`, 1 planner
  relaying (benchmark 1's drain, figures `throughput_2_executors_defaults_…`);
- Celery: 2 `celery worker` processes, prefork pool at its default concurrency (one child
  per core), results in MariaDB through Celery's SQLAlchemy backend (PyMySQL), acks and
  prefetch at Celery's defaults — what a team running Celery beat has.

Celery is installed into a venv of its own (`.bench-venvs/celery`, made once, pinned
below) so it never meets tickwork's dependencies. Celery's rate is counted on the clock
of this process: from the first result seen to the last (each poll 0.1 s), the same
"first to last" span benchmark 1 counts on the database clock for tickwork.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tickwork_shared.settings import Settings

from bench import throughput
from bench.infra import ROOT, figure, log, place, wait_until

CELERY_PINS = ("celery[sqlalchemy]==5.7.0", "pymysql==1.2.4", "sqlalchemy==2.1.9")
VENV = ROOT / ".bench-venvs" / "celery"
WORKERS = 2

_TASKS = """
import os
from celery import Celery

app = Celery(
    "bench",
    broker=os.environ["BENCH_BROKER"],
    backend="db+" + os.environ["BENCH_RESULTS"],
)
app.conf.update(result_extended=False, worker_hijack_root_logger=False)


@app.task
def noop():
    return None
"""

_ENQUEUE = """
import sys
from tasks import app, noop

with app.producer_pool.acquire(block=True) as producer:
    for _ in range(int(sys.argv[1])):
        noop.apply_async(producer=producer)
"""


def celery_python() -> Path:
    """The venv's python, made (and Celery installed) on first use."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".pins"
    if not (python.exists() and stamp.exists() and stamp.read_text() == "\n".join(CELERY_PINS)):
        log(f"installing {', '.join(CELERY_PINS)} into {VENV}")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *CELERY_PINS,
            ],
            check=True,
        )
        stamp.write_text("\n".join(CELERY_PINS))
    return python


async def celery_drain(runs: int) -> float:
    python = celery_python()
    async with place("celery") as where:
        app_dir = where.workdir / "app"
        app_dir.mkdir()
        (app_dir / "tasks.py").write_text(textwrap.dedent(_TASKS))
        (app_dir / "enqueue.py").write_text(textwrap.dedent(_ENQUEUE))
        results_url = where.database_url.replace("mysql+asyncmy://", "mysql+pymysql://")
        env = {
            **os.environ,
            "BENCH_BROKER": where.amqp_url,
            "BENCH_RESULTS": results_url,
            "PYTHONDONTWRITEBYTECODE": "",
        }
        log(f"celery: queueing {runs} noop tasks")
        await asyncio.to_thread(
            subprocess.run,
            [str(python), "enqueue.py", str(runs)],
            cwd=app_dir,
            env=env,
            check=True,
        )
        logs = [(where.workdir / f"worker{index}.log").open("w") for index in range(WORKERS)]
        workers = [
            subprocess.Popen(
                [
                    str(python),
                    "-m",
                    "celery",
                    "-A",
                    "tasks",
                    "worker",
                    "--pool",
                    "prefork",
                    "--hostname",
                    f"bench{index}@%h",
                    "--loglevel",
                    "WARNING",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=app_dir,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=logs[index],
            )
            for index in range(WORKERS)
        ]
        try:
            log(f"celery: {WORKERS} workers, prefork, default concurrency ({os.cpu_count()})")
            first: tuple[float, int] | None = None
            results_table = False  # Celery creates it with its first result

            async def done() -> bool:
                nonlocal first, results_table
                for index, worker in enumerate(workers):
                    if worker.poll() is not None:
                        log((where.workdir / f"worker{index}.log").read_text()[-2000:])
                        raise RuntimeError(f"a celery worker exited ({worker.returncode})")
                results_table = results_table or bool(
                    await where.scalar(
                        "SELECT COUNT(*) FROM information_schema.tables"
                        " WHERE table_schema = DATABASE() AND table_name = 'celery_taskmeta'"
                    )
                )
                if not results_table:
                    return False
                count = int(
                    await where.scalar(
                        "SELECT COUNT(*) FROM celery_taskmeta WHERE status = 'SUCCESS'"
                    )
                )
                if first is None and count:
                    first = (time.monotonic(), count)
                return count >= runs

            await wait_until(done, timeout=1800, interval=0.1, what="celery to drain")
            assert first is not None
            return (runs - first[1]) / (time.monotonic() - first[0])
        finally:
            for worker in workers:
                worker.terminate()
            for worker, log_file in zip(workers, logs, strict=True):
                worker.wait(timeout=30)
                log_file.close()


async def run() -> None:
    slots = Settings.model_fields["executor_concurrency"].default
    figure("celery_compare_runs", throughput.RUNS, "runs")
    figure("tickwork_default_executor_concurrency", slots, "slots")
    tickwork = await throughput.drain(2, concurrency=str(slots), suffix="_defaults")
    celery = await celery_drain(throughput.RUNS)
    figure("celery_2_workers", celery, "executions/s")
    figure("throughput_ratio_vs_celery", tickwork / celery, "x")
