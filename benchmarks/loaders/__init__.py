"""Data sets for ``bench_match.py``: each loader writes Parquet inputs once (cached) and returns a
``Dataset`` describing them. Truth is only read by the scoring step, never by a matcher."""

from benchmarks.loaders.common import Dataset

__all__ = ["Dataset"]
