"""Checks: one module per family; each turns facts about an endpoint into findings."""
