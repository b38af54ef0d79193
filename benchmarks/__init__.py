"""Benchmarks for musiclust (``make bench``); not part of the test suite. Results go to benchmarks/results.md."""
