"""Business rules and their side effects (audit, events, runs), one unit of work each."""
