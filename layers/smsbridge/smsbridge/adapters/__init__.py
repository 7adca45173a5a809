"""Adapters: one module per outside system, each translating that system's errors at its boundary."""
