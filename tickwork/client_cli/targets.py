"""Parsing what users type: NAME_OR_ID, `k=v` labels, times."""

from __future__ import annotations

from tickwork_client import Client, Job, NotFound


def resolve_job(client: Client, name_or_id: str) -> Job:
    """The job with that id (all digits) or else that exact name."""
    if name_or_id.isdigit():
        try:
            return client.get_job(int(name_or_id))
        except NotFound:
            pass  # a job may be named "42"
    job = client.find_job(name_or_id)
    if job is None:
        raise NotFound(f"No active job named or numbered {name_or_id!r}", status_code=404)
    return job
