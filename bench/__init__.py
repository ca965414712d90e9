"""Benchmarks: `python -m bench [name ...]` runs bench/<name>.py's run() and writes bench/results/<name>.json."""
