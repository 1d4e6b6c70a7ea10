"""Benchmarks: each module has main(); `python -m bench` runs them all."""
