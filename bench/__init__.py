"""Benchmarks: ``python -m bench.<name>`` prints figures next to a same-run baseline."""
