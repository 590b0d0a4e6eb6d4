"""Workflows: one module per long operation. Deterministic code only."""
