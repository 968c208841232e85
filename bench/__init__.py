"""Benchmarks for gitops-sandbox; `make bench` runs them all (python -m bench)."""
