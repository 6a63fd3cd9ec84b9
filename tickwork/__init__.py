"""The `tickwork` command line: the composition root that starts services by name."""
