"""Loaded by every Python process started with this folder on PYTHONPATH (bench only).

When `TICKWORK_BENCH_PROBE` names a file prefix, counts the process's database work from
SQLAlchemy's events and writes it to `<prefix>.<pid>.json` twice a second and at exit:
statements (one round trip each), commits, rollbacks, connection checkouts, pings (of
connections that sat idle in the pool) and resets on return that really rolled back (one
round trip each).
Nothing is touched when the variable is unset.
"""

from __future__ import annotations

import os

_PREFIX = os.environ.get("TICKWORK_BENCH_PROBE")

if _PREFIX:
    import atexit
    import json
    import threading
    from typing import Any

    from sqlalchemy import event
    from sqlalchemy.dialects.mysql.pymysql import MySQLDialect_pymysql  # asyncmy's base
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    _counts = {
        "statements": 0,
        "commits": 0,
        "rollbacks": 0,
        "checkouts": 0,
        "pings": 0,
        "resets": 0,
    }

    def _bump(key: str) -> Any:
        def listener(*_args: Any, **_kwargs: Any) -> None:
            _counts[key] += 1

        return listener

    event.listen(Engine, "before_cursor_execute", _bump("statements"))
    event.listen(Engine, "commit", _bump("commits"))
    event.listen(Engine, "rollback", _bump("rollbacks"))
    event.listen(Pool, "checkout", _bump("checkouts"))

    _unprobed_ping = MySQLDialect_pymysql.do_ping

    def _counted_ping(self: Any, dbapi_connection: Any) -> Any:
        _counts["pings"] += 1
        return _unprobed_ping(self, dbapi_connection)

    MySQLDialect_pymysql.do_ping = _counted_ping  # type: ignore[method-assign]

    def _on_reset(_dbapi: Any, _record: Any, state: Any) -> None:
        if not getattr(state, "transaction_was_reset", False):
            _counts["resets"] += 1

    event.listen(Pool, "reset", _on_reset)

    _path = f"{_PREFIX}.{os.getpid()}.json"

    def _dump() -> None:
        tmp = _path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(_counts, handle)
        os.replace(tmp, _path)

    def _writer() -> None:
        stop = threading.Event()
        while not stop.wait(0.5):
            _dump()

    threading.Thread(target=_writer, name="bench-probe", daemon=True).start()
    atexit.register(_dump)
