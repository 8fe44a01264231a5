"""Benchmarks: commands, not tests. ``python -m benchmarks --help``."""
