"""The client commands: `tickwork jobs …`, `tickwork runs …`, `tickwork apply …`.

They talk to a running api through `tickwork_client` (TICKWORK_API_URL, default
http://127.0.0.1:8000; TICKWORK_API_KEY, default ./tickwork-dev-admin.key). Exit 0 on
success, 1 when the api refused (its message on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys

from tickwork.client_cli.parsers import add_client_commands

COMMANDS = ("jobs", "runs", "apply")
__all__ = ["COMMANDS", "add_client_commands", "run_client_command"]


def run_client_command(args: argparse.Namespace) -> int:
    """Run one client command; its exit code."""
    from tickwork_client import ApiError, Client, TickworkClientError, Unauthorized

    from tickwork.client_cli import apply, jobs, runs

    handlers = {"jobs": jobs.run, "runs": runs.run}
    try:
        with Client() as client:
            if args.command == "apply":
                return apply.run(client, args)
            handlers[args.command](client, args)
            return 0
    except Unauthorized as error:
        print(f"tickwork {args.command}: {error} (set TICKWORK_API_KEY)", file=sys.stderr)
    except ApiError as error:
        print(f"tickwork {args.command}: {error}", file=sys.stderr)
    except TickworkClientError as error:
        print(f"tickwork {args.command}: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other commands do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 1
