"""Every tickwork metric, defined once (Prometheus names prefixed `tickwork_`).

Labels have bounded cardinality: statuses, reasons, job types, services — never
execution ids. The api serves them on `/metrics`; planners and executors on
`TICKWORK_METRICS_PORT` when set (`serve_metrics`).

Who feeds what: executors count `tickwork_executions` (every run they brought to a final
status, at claim or after running) with its lag, duration, in-flight and capacity; planners
the misfire skips, reaper recoveries, outbox backlog and tick times; the api the runs it
skipped (a job disabled or deleted) and, at scrape time, the stale jobs and the pools
(queued runs, oldest queued age, capacity, in flight, live executors). Runs that never
reached an executor (skipped, lost with their executor) are counted by
`tickwork_runs_skipped{reason}` and `tickwork_reaper_recoveries`, not by
`tickwork_executions`. Gauges that are states of the whole system (stale jobs, outbox
backlog) are reported alike by every replica: aggregate them with `max`, not `sum`.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from tickwork_shared.enums import SkipReason

LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
DURATION_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)

EXECUTIONS = Counter(
    "tickwork_executions",
    "Executions that reached a final status",
    ["job_type", "status"],
)
SCHEDULE_LAG = Histogram(
    "tickwork_schedule_lag_seconds",
    "Start of a run minus its scheduled fire time",
    ["trigger"],
    buckets=LAG_BUCKETS,
)
RUN_DURATION = Histogram(
    "tickwork_run_duration_seconds",
    "How long task functions ran",
    ["status"],
    buckets=DURATION_BUCKETS,
)
RUNS_SKIPPED = Counter("tickwork_runs_skipped", "Runs that did not run, by reason", ["reason"])
for _reason in SkipReason:  # every reason's series exists from the start, at 0
    RUNS_SKIPPED.labels(reason=_reason.value)
REAPER_RECOVERIES = Counter(
    "tickwork_reaper_recoveries", "Running executions whose executor was lost"
)
RETRIES_SCHEDULED = Counter("tickwork_retries_scheduled", "Retry attempts written")
RUNS_PLANNED = Counter("tickwork_runs_planned", "Execution rows written by planners", ["trigger"])
OUTBOX_BACKLOG = Gauge("tickwork_outbox_backlog", "Queued runs not yet published")
OUTBOX_OLDEST_AGE = Gauge(
    "tickwork_outbox_oldest_age_seconds", "Age of the oldest queued run not yet published"
)
RUNS_PUBLISHED = Counter("tickwork_runs_published", "Run messages confirmed by the broker")
EVENT_OUTBOX_BACKLOG = Gauge(
    "tickwork_event_outbox_backlog", "Events written and not yet published (event outbox)"
)
EVENTS_PUBLISHED = Counter(
    "tickwork_events_published", "Events the relay got confirmed by the broker"
)
PLANNER_TICK = Histogram(
    "tickwork_planner_tick_seconds",
    "Duration of one planning transaction",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EXECUTOR_IN_FLIGHT = Gauge("tickwork_executor_in_flight", "Tasks running in this executor")
EXECUTOR_CAPACITY = Gauge("tickwork_executor_capacity", "Tasks this executor may run at once")
BUS_RECONNECTS = Gauge(
    "tickwork_bus_reconnects", "Times this process's bus connection was re-established"
)
STALE_JOBS = Gauge(
    "tickwork_stale_jobs", "Enabled jobs with no successful run within their staleAfterSeconds"
)

# Per executor pool (from the database at the api's scrape: every replica reports the
# same, aggregate with `max`). Scale a pool's executors on `tickwork_pool_queued`.
POOL_QUEUED = Gauge("tickwork_pool_queued", "Runs of the pool waiting queued", ["pool"])
POOL_OLDEST_QUEUED_AGE = Gauge(
    "tickwork_pool_oldest_queued_age_seconds",
    "How long the pool's oldest queued run has waited (0 when none)",
    ["pool"],
)
POOL_CAPACITY = Gauge("tickwork_pool_capacity", "Slots of the pool's live executors", ["pool"])
POOL_IN_FLIGHT = Gauge(
    "tickwork_pool_in_flight", "Runs in the slots of the pool's live executors", ["pool"]
)
POOL_EXECUTORS = Gauge("tickwork_pool_executors", "Live executors serving the pool", ["pool"])
POOL_GAUGES = (POOL_QUEUED, POOL_OLDEST_QUEUED_AGE, POOL_CAPACITY, POOL_IN_FLIGHT, POOL_EXECUTORS)


def serve_metrics(port: int | None) -> None:
    """Serve `/metrics` on `port` in a background thread (planner, executor); None: off."""
    if port is not None:
        start_http_server(port)
