"""Request and response shapes (all `CamelModel`: camelCase on the wire)."""
