"""Benchmarks: dmi_sensors against its peers in one run, results as JSON ratios.

Run all with ``make bench`` (``python -m benchmarks``) or some with
``python -m benchmarks NAME [NAME ...]``. Each ``bench_<name>.py`` module defines
``run() -> dict`` returning measured figures; results go to
``benchmarks/results/<name>.json`` together with machine facts.
"""
