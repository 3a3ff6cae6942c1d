"""Tooling the test suite and benchmarks use to run real infrastructure."""
