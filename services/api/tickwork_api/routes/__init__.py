"""HTTP routes: parse, authorise, call a service, shape the answer — nothing more."""
