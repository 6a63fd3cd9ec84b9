"""Record: how a run ended, decided and written under its lease with its events."""
