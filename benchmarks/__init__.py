"""Benchmarks of zyntro_async (not part of the package): ``python -m benchmarks``."""
