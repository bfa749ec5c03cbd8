"""Benchmarks: commands that print figures (`make bench`), never part of the product or the test suite."""
