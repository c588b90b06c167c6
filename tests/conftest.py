"""Shared fixtures: moto's server behind a recording proxy (tests/support/motoserver.py), HTTPS fronts,
the API server stand-in, and CloudFront's deployment delay."""

pytest_plugins = ["tests.support.motoserver", "tests.support.fronts", "tests.support.kube_api", "tests.support.deployments"]
