"""Benchmarks (run as commands, never as timed tests)."""
