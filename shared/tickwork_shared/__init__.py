"""tickwork package."""
