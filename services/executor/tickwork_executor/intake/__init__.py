"""Intake: run messages from the pools' queues, parsed, given a slot, handed to the claim."""
