"""Benchmarks behind `make bench`: each section module exposes `run() -> dict[str, object]`."""
