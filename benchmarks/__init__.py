"""Benchmark scripts and their data loaders (importable so tests can check the loaders)."""
