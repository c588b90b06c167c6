"""``thumbprint`` connects with SNI: a server that picks its certificate by the name the client sends (as
CloudFront and S3 do) answers with the issuer host's chain, and the name it saw was the issuer's host."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from oidc_publisher.tls import CONNECT_TO_ENV
from tests.support.cli import invoke
from tests.support.https import HTTPSServer
from tests.support.pki import make_chain

HOST = "oidc.example.com"


def test_the_certificate_is_chosen_by_the_name_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", CONNECT_TO_ENV):
        monkeypatch.delenv(name, raising=False)
    default = make_chain(("default.example.net",), intermediates=1).write(tmp_path / "default")
    issuer = make_chain((HOST,), intermediates=2).write(tmp_path / "issuer")
    assert default.expected_thumbprint != issuer.expected_thumbprint
    by_name = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    by_name.load_cert_chain(str(issuer.files["chain"]), str(issuer.files["key"]))
    names: list[str | None] = []

    def choose(sock: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext) -> None:
        names.append(server_name)
        if server_name == HOST:
            sock.context = by_name

    server = HTTPSServer(default)  # without SNI (or for another name), the default certificate
    server._context.sni_callback = choose  # type: ignore[assignment]
    server.start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(issuer.files["ca"]))
        result = invoke("thumbprint", f"https://{HOST}/prod", "--connect-to", f"{HOST}:443:127.0.0.1:{server.port}")
    finally:
        server.stop()
    assert (result.exit_code, result.stdout.strip(), result.stderr) == (0, issuer.expected_thumbprint, "")
    assert names == [HOST]
