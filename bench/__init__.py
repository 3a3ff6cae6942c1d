"""Benchmarks: programs run by `bench/run`, not timed unit tests."""
