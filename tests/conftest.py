"""Shared fixtures: moto's server behind a recording proxy (tests/support/motoserver.py), HTTPS fronts,
the API server stand-in, and CloudFront's deployment delay."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.support.motoserver", "tests.support.fronts", "tests.support.kube_api", "tests.support.deployments"]


@pytest.fixture(autouse=True, scope="session")
def _fast_botocore() -> Iterator[None]:
    """Retries without their waits (every attempt still happens, so the tests still prove and count
    them), and botocore's data files parsed once per process: see tests/support/fast_botocore.py."""
    from tests.support.fast_botocore import data_parsed_once, zero_backoff

    with zero_backoff(), data_parsed_once():
        yield


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (the README's command): one worker more than the cores this process may use. Much of the
    suite waits on its local servers (moto, the HTTPS fronts, Terraform, injected timeouts), not on the CPU:
    on 2 cores, 3 workers ran it in 4:32 where 2 took 5:45 to 6:35."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores + 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The Terraform tests take minutes between them: first, so that with ``-n`` (the README's command)
    they do not start last and leave one worker busy alone at the end. The rest keep their order."""
    items.sort(key=lambda item: item.get_closest_marker("terraform") is None)
