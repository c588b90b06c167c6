"""A local HTTPS front for the bucket (standing in for S3's own HTTPS endpoint, or for CloudFront),
with its own CA chain, that the tool reaches through SSL_CERT_FILE and the connect-to override."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from oidc_publisher_demo.emulator import HTTPSFront, s3_fetcher
from oidc_publisher_demo.localca import Chain, make_chain

from tests.support.motoserver import AwsWorld
from tests.support.servers import stop_promptly

Front = Callable[..., tuple[HTTPSFront, Chain]]


@pytest.fixture
def front(aws: AwsWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Front]:
    """``front(bucket, hosts)`` serves the bucket's objects over HTTPS for ``hosts`` (wildcards allowed)."""
    started: list[HTTPSFront] = []

    def start(bucket: str, hosts: tuple[str, ...], region: str = "us-east-1", intermediates: int = 1) -> tuple[HTTPSFront, Chain]:
        chain = make_chain(hosts, intermediates=intermediates).write(tmp_path / f"front-{len(started)}")
        server = HTTPSFront(chain, s3_fetcher(aws.client("s3", region), bucket))
        started.append(server)
        monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(chain.files["ca"]))
        monkeypatch.setenv("OIDC_PUBLISHER_CONNECT_TO", f"::127.0.0.1:{server.port}")
        return server, chain

    yield start
    for server in started:
        stop_promptly(server.stop, server.port)
