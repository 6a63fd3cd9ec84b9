"""tickwork planner: turns schedules into runs, relays the outbox, retries, reaps, purges.

Any number of planners run at once, none a leader: every decision is taken inside a short
transaction on rows claimed with `FOR UPDATE SKIP LOCKED`, and the database's unique keys
make each (job, fire time, attempt) exist once. Entry points: `tickwork_planner.service.
Planner` (the service, for `tickwork dev` and tests) and `tickwork_planner.main.run` (the
`tickwork planner` process).
"""
