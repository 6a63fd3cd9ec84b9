"""Queries: one function per question the services ask of the database."""
