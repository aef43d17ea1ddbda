"""Reliability scenarios: faults and load on the local engine, through the HTTP API.

`reliability.scenarios` holds each scenario once; tests/e2e/reliability (test_faults.py,
test_load.py) assert on them in CI, and `make reliability` runs them all and writes
their table into README.md.
"""
