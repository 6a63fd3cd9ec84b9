"""Claim: one short transaction that turns delivered run messages into running runs."""
