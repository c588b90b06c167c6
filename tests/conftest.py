"""Shared fixtures: moto's server behind a recording proxy (tests/support/motoserver.py)."""

pytest_plugins = ["tests.support.motoserver", "tests.support.fronts", "tests.support.kube_api"]
