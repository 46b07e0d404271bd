"""okta-guard benchmarks: ``make bench`` (``python -m bench``) runs every ``bench_*`` module."""
