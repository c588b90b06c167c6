"""CloudFront's deployment delay, in moto: distributions stay InProgress after a change until a test says
they have deployed (moto's state manager), as on CloudFront, where a change takes minutes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.support.motoserver import AwsWorld

MODEL = {"model_name": "cloudfront::distribution"}


def finish_deployments(aws: AwsWorld) -> None:
    """Every distribution that is InProgress deploys now (moto's default: at once)."""
    requests.post(f"{aws.moto_endpoint}/moto-api/state-manager/unset-transition", json=MODEL, timeout=10).raise_for_status()


@pytest.fixture
def slow_deployments(aws: AwsWorld) -> Iterator[None]:
    requests.post(
        f"{aws.moto_endpoint}/moto-api/state-manager/set-transition",
        json={**MODEL, "transition": {"progression": "manual", "times": 10_000}},
        timeout=10,
    ).raise_for_status()
    yield
    finish_deployments(aws)
