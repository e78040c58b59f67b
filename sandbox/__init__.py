"""Sandbox simulators of the vendor APIs dealbridge talks to (demo, tests, benchmarks)."""
