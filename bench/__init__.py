"""Benchmarks: figures and ratios for cold start, workflow cost, detection lag, AWS API
budget, fleet-scale DynamoDB access and end-to-end time on the local engine.

`make bench` runs them all (`python -m bench.run`) and writes `bench/RESULTS.md`.
Benchmarks report; they never assert a time and never fail on a number.
"""
