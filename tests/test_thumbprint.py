"""Thumbprints against real TLS servers with chains the tests make, cross-checked with openssl."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from oidc_publisher.errors import InputError
from oidc_publisher.thumbprint import merge_thumbprints, normalise_thumbprint
from tests.support.cli import invoke
from tests.support.https import HTTPSServer
from tests.support.pki import make_chain

HOST = "oidc.example.com"


def serve(tmp_path: Path, **kw: object) -> tuple[HTTPSServer, object]:
    chain = make_chain((HOST,), **kw).write(tmp_path / "pki")  # type: ignore[arg-type]
    return HTTPSServer(chain).start(), chain


def openssl_last_cert_sha1(port: int) -> str:
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", HOST, "-showcerts"],
        input=b"", capture_output=True, timeout=30, check=False,
    ).stdout.decode()
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(pems[-1].encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der).hexdigest()


@pytest.mark.parametrize("intermediates", [0, 1, 2])
def test_thumbprint_is_the_last_presented_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, intermediates: int) -> None:
    server, chain = serve(tmp_path, intermediates=intermediates)
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))  # type: ignore[attr-defined]
        result = invoke("thumbprint", f"https://{HOST}/clusters/prod", "--connect-to", f"{HOST}:443:127.0.0.1:{server.port}")
        assert result.exit_code == 0, result.stderr
        assert result.stdout.strip() == chain.expected_thumbprint  # type: ignore[attr-defined]
        if shutil.which("openssl"):
            assert result.stdout.strip() == openssl_last_cert_sha1(server.port)
        described = invoke("thumbprint", HOST, "--connect-to", f"{HOST}:443:127.0.0.1:{server.port}", "-o", "json").json()
        assert len(described["presented"]) == intermediates + 1
        assert described["presented"][0]["subject"] == f"CN={HOST}"
    finally:
        server.stop()


def test_requests_ca_bundle_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server, chain = serve(tmp_path)
    try:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(chain.files["ca"]))  # type: ignore[attr-defined]
        monkeypatch.setenv("OIDC_PUBLISHER_CONNECT_TO", f"{HOST}:443:127.0.0.1:{server.port}")
        result = invoke("thumbprint", f"https://{HOST}")
        assert (result.exit_code, result.stdout.strip()) == (0, chain.expected_thumbprint)  # type: ignore[attr-defined]
    finally:
        server.stop()


def test_untrusted_expired_and_wrong_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server, chain = serve(tmp_path / "a")
    expired, expired_chain = serve(tmp_path / "b", leaf_expired=True)
    try:
        route = f"{HOST}:443:127.0.0.1:{server.port}"
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        untrusted = invoke("thumbprint", HOST, "--connect-to", route)
        assert untrusted.exit_code == 1
        assert untrusted.stderr.strip().startswith(f"error: the certificate chain of {HOST} does not verify: unable to get local issuer certificate; ")
        assert "SSL_CERT_FILE" in untrusted.stderr

        monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))  # type: ignore[attr-defined]
        wrong = invoke("thumbprint", "other.example.com", "--connect-to", f"other.example.com:443:127.0.0.1:{server.port}")
        assert wrong.exit_code == 1
        assert wrong.stderr.strip().startswith("error: the certificate of other.example.com does not cover the host name other.example.com")

        monkeypatch.setenv("SSL_CERT_FILE", str(expired_chain.files["ca"]))  # type: ignore[attr-defined]
        old = invoke("thumbprint", HOST, "--connect-to", f"{HOST}:443:127.0.0.1:{expired.port}")
        assert (old.exit_code, old.stderr.strip()) == (1, f"error: the certificate of {HOST} has expired; renew it; STS refuses expired certificates")
    finally:
        server.stop()
        expired.stop()


def test_refused_dns_and_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OIDC_PUBLISHER_CONNECT_TO", raising=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    refused = invoke("thumbprint", HOST, "--connect-to", f"{HOST}:443:127.0.0.1:{free}")
    assert (refused.exit_code, refused.stderr.strip()) == (1, f"error: connection to {HOST} refused; check the host serves HTTPS on port 443")

    dns = invoke("thumbprint", "https://no-such-host.invalid")
    assert (dns.exit_code, dns.stderr.strip()) == (1, "error: cannot resolve no-such-host.invalid (DNS); check the host name and that its DNS record exists")

    # A server that accepts the connection but never answers the handshake.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True).start()
    try:
        slow = invoke("thumbprint", HOST, "--connect-to", f"{HOST}:443:127.0.0.1:{silent.getsockname()[1]}", "--timeout", "0.5")
        assert (slow.exit_code, slow.stderr.strip()) == (
            1, f"error: {HOST} did not answer within 0.5s; STS gives up after about 5 seconds: check the host, its firewall and its TLS"
        )
    finally:
        silent.close()
        for sock in held:
            sock.close()


def test_bad_urls_and_connect_to() -> None:
    assert invoke("thumbprint", "http://x.example.com").stderr.strip() == (
        "error: 'http://x.example.com' is not an https URL or a host name; give the issuer URL, e.g. https://oidc.example.com"
    )
    bad = invoke("thumbprint", HOST, "--connect-to", "nonsense")
    assert (bad.exit_code, bad.stderr.strip()) == (
        1, "error: connect-to 'nonsense' is not HOST:PORT:ADDR:PORT; write it like oidc.example.com:443:127.0.0.1:8443 "
        "(HOST and the first PORT may be empty: any)"
    )


def test_normalise_and_merge() -> None:
    assert normalise_thumbprint("9E:99:A4:8A:99:60:B1:49:26:BB:7F:3B:02:E2:2D:A2:B0:AB:72:80") == "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
    with pytest.raises(InputError, match="is not 40 hex digits"):
        normalise_thumbprint("abc")
    assert merge_thumbprints(["A" * 40], ["a" * 40, "b" * 40]) == ["a" * 40, "b" * 40]
    with pytest.raises(InputError) as info:
        merge_thumbprints([f"{i:040x}" for i in range(6)])
    assert str(info.value) == "6 thumbprints given; IAM keeps at most 5; drop the ones for certificates the hosts no longer present"
