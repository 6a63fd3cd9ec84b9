"""Alembic migrations of the tickwork schema (run by `tickwork migrate`)."""
