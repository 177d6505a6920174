"""Benchmarks: `make bench` (harness.py), not part of the tests."""
