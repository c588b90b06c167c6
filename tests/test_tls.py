"""The TLS edge against real local TLS servers: chains as presented, trust, connect-to, https_get, errors."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from oidc_publisher.core.errors import InputError, TLSError
from oidc_publisher.tls import CONNECT_TO_ENV, ConnectTo, connect_overrides, fetch_chain, https_get, route
from tests.support.https import HTTPSServer, Response
from tests.support.pki import Chain, make_chain

HOST = "oidc.example.com"


def der(issued: object) -> bytes:
    return issued.cert.public_bytes(serialization.Encoding.DER)  # type: ignore[attr-defined,no-any-return]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", CONNECT_TO_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def servers() -> Iterator[list[HTTPSServer]]:
    started: list[HTTPSServer] = []
    yield started
    for server in started:
        server.stop()


def serve(
    servers: list[HTTPSServer], directory: Path, chain: Chain | None = None, **kw: object
) -> tuple[HTTPSServer, Chain]:
    chain = (chain or make_chain((HOST,), **kw)).write(directory)  # type: ignore[arg-type]
    server = HTTPSServer(chain).start()
    servers.append(server)
    return server, chain


def via(server: HTTPSServer, host: str = HOST) -> list[str]:
    return [f"{host}:443:127.0.0.1:{server.port}"]


# --- fetch_chain ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("intermediates", [0, 1, 2])
def test_fetch_chain_returns_what_the_server_presented(
    tmp_path: Path, servers: list[HTTPSServer], monkeypatch: pytest.MonkeyPatch, intermediates: int
) -> None:
    server, chain = serve(servers, tmp_path, intermediates=intermediates)
    monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))
    presented = fetch_chain(HOST, connect_to=via(server))
    assert (presented.host, presented.port) == (HOST, 443)
    # Leaf first, then the intermediates bottom-up; never the root the client trusts.
    assert presented.certificates == tuple(der(c) for c in chain.presented)
    assert der(chain.root) not in presented.certificates
    top = chain.intermediates[0] if intermediates else chain.leaf
    assert presented.thumbprint == hashlib.sha1(der(top)).hexdigest() == chain.expected_thumbprint


def test_requests_ca_bundle_file_and_directory(
    tmp_path: Path, servers: list[HTTPSServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, chain = serve(servers, tmp_path / "pki")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(chain.files["ca"]))
    assert fetch_chain(HOST, connect_to=via(server)).thumbprint == chain.expected_thumbprint

    # A c_rehash-style directory (SUBJECT_HASH.0), which requests accepts too.
    hashed = tmp_path / "hashed"
    hashed.mkdir()
    name = subprocess.run(
        ["openssl", "x509", "-noout", "-subject_hash", "-in", str(chain.files["ca"])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (hashed / f"{name}.0").write_bytes(chain.root.pem)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(hashed))
    assert fetch_chain(HOST, connect_to=via(server)).thumbprint == chain.expected_thumbprint


def test_ssl_cert_file_wins_over_requests_ca_bundle(
    tmp_path: Path, servers: list[HTTPSServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, chain = serve(servers, tmp_path / "a")
    other = make_chain((HOST,), root_name="some other root").write(tmp_path / "b")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(chain.files["ca"]))
    monkeypatch.setenv("SSL_CERT_FILE", str(other.files["ca"]))
    with pytest.raises(TLSError) as info:
        fetch_chain(HOST, connect_to=via(server))
    assert str(info.value).startswith(
        f"the certificate chain of {HOST} does not verify: unable to get local issuer certificate"
    )


def test_bundles_that_do_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nope.pem"))
    with pytest.raises(TLSError) as info:
        fetch_chain(HOST, connect_to=[f"{HOST}:443:127.0.0.1:1"])
    assert (
        str(info.value)
        == f"SSL_CERT_FILE names {tmp_path / 'nope.pem'}, which is not a file; point it at a PEM CA bundle, or unset it"
    )

    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "nope.pem"))
    with pytest.raises(TLSError) as info:
        fetch_chain(HOST, connect_to=[f"{HOST}:443:127.0.0.1:1"])
    assert str(info.value) == (
        f"cannot load the CA bundle {tmp_path / 'nope.pem'} (No such file or directory); "
        "point REQUESTS_CA_BUNDLE at a PEM CA bundle, or unset it"
    )


# --- failures, each one line naming what is wrong ------------------------------------------------------


def test_untrusted_chain_names_the_issuer_it_needs(tmp_path: Path, servers: list[HTTPSServer]) -> None:
    server, _ = serve(servers, tmp_path)
    with pytest.raises(TLSError) as info:
        fetch_chain(HOST, connect_to=via(server))
    assert str(info.value) == (
        f"the certificate chain of {HOST} does not verify: unable to get local issuer certificate "
        "(the top certificate presented was issued by CN=oidc-publisher test root); "
        "serve the full chain from a CA AWS trusts; for a private CA, set SSL_CERT_FILE to its bundle"
    )


def test_self_signed_certificate(tmp_path: Path, servers: list[HTTPSServer]) -> None:
    chain = make_chain((HOST,), intermediates=0)
    directory = tmp_path / "self"
    directory.mkdir()
    (directory / "chain.pem").write_bytes(chain.root.pem)  # the server presents the root itself
    (directory / "key.pem").write_bytes(chain.root.key_pem)
    chain.files = {"ca": directory / "chain.pem", "chain": directory / "chain.pem", "key": directory / "key.pem"}
    server = HTTPSServer(chain).start()
    servers.append(server)
    with pytest.raises(TLSError) as info:
        fetch_chain(HOST, connect_to=via(server))
    assert str(info.value) == (
        f"the certificate chain of {HOST} does not verify: self-signed certificate "
        "(the top certificate presented was issued by CN=oidc-publisher test root); "
        "serve the full chain from a CA AWS trusts; for a private CA, set SSL_CERT_FILE to its bundle"
    )


def test_wrong_host_names_what_the_certificate_covers(
    tmp_path: Path, servers: list[HTTPSServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, chain = serve(servers, tmp_path, chain=make_chain((HOST, "alt.example.com", "127.0.0.1")))
    monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))
    with pytest.raises(TLSError) as info:
        fetch_chain("other.example.com", connect_to=via(server, "other.example.com"))
    assert str(info.value) == (
        "the certificate of other.example.com does not cover the host name other.example.com "
        f"(it covers {HOST}, alt.example.com, 127.0.0.1); "
        "serve a certificate whose subject alternative names include the issuer's host"
    )
    # And a name it does cover verifies through the same server.
    assert (
        fetch_chain("alt.example.com", connect_to=via(server, "alt.example.com")).thumbprint
        == chain.expected_thumbprint
    )


def test_expired_leaf(tmp_path: Path, servers: list[HTTPSServer], monkeypatch: pytest.MonkeyPatch) -> None:
    server, chain = serve(servers, tmp_path, leaf_expired=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))
    with pytest.raises(TLSError) as info:
        fetch_chain(HOST, connect_to=via(server))
    assert str(info.value) == f"the certificate of {HOST} has expired; renew it; STS refuses expired certificates"


def test_handshake_failure_against_plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = socket.socket()
    plain.bind(("127.0.0.1", 0))
    plain.listen(1)
    port = plain.getsockname()[1]

    def answer() -> None:
        conn, _ = plain.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        with pytest.raises(TLSError) as info:
            fetch_chain(HOST, connect_to=[f"{HOST}:443:127.0.0.1:{port}"])
        assert str(info.value) == (
            f"the TLS handshake with {HOST} (via 127.0.0.1:{port}) failed (WRONG_VERSION_NUMBER); "
            "check the host serves HTTPS with TLS 1.2 or newer on that port"
        )
    finally:
        thread.join(5)
        plain.close()


def test_refused_dns_and_timeout_name_the_address_dialled() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    with pytest.raises(TLSError) as info:
        fetch_chain(HOST, connect_to=[f"{HOST}:443:127.0.0.1:{free}"])
    assert (
        str(info.value)
        == f"connection to {HOST} (via 127.0.0.1:{free}) refused; check the host serves HTTPS on port {free}"
    )

    with pytest.raises(TLSError) as info:
        fetch_chain("issuer.example.invalid")
    assert (
        str(info.value)
        == "cannot resolve issuer.example.invalid (DNS); check the host name and that its DNS record exists"
    )
    with pytest.raises(TLSError) as info:  # with an override, the name that failed is the override's
        fetch_chain(HOST, connect_to=[f"{HOST}:443:front.example.invalid:443"])
    assert (
        str(info.value)
        == "cannot resolve front.example.invalid (DNS); check the host name and that its DNS record exists"
    )

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    port = silent.getsockname()[1]
    try:
        with pytest.raises(TLSError) as info:
            fetch_chain(HOST, 8443, timeout=0.3, connect_to=[f"{HOST}:8443:127.0.0.1:{port}"])
        assert str(info.value) == (
            f"{HOST}:8443 (via 127.0.0.1:{port}) did not answer within 0.3s; "
            "STS gives up after about 5 seconds: check the host, its firewall and its TLS"
        )
    finally:
        silent.close()


# --- https_get -----------------------------------------------------------------------------------------


def test_https_get_returns_status_headers_body_and_chain(
    tmp_path: Path, servers: list[HTTPSServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, chain = serve(servers, tmp_path)
    server.routes["/clusters/prod/.well-known/openid-configuration"] = Response(
        200, b'{"issuer":"x"}', {"Cache-Control": "public, max-age=3600"}
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))
    monkeypatch.setenv(CONNECT_TO_ENV, via(server)[0])
    response = https_get(f"https://{HOST}/clusters/prod/.well-known/openid-configuration?x=1")
    assert (response.status, response.body) == (200, b'{"issuer":"x"}')
    assert response.headers["cache-control"] == response.headers["Cache-Control"] == "public, max-age=3600"
    assert response.headers["content-type"] == "application/json"
    assert response.redirect_location is None
    assert response.chain.thumbprint == chain.expected_thumbprint
    (request,) = server.requests
    assert (request.method, request.path) == ("GET", "/clusters/prod/.well-known/openid-configuration?x=1")
    assert request.headers["Host"] == HOST  # the issuer's host, not the address dialled

    missing = https_get(f"https://{HOST}/nothing")
    assert (missing.status, missing.body) == (404, b'{"error":"not found"}')


def test_https_get_reports_redirects_without_following_them(
    tmp_path: Path, servers: list[HTTPSServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, chain = serve(servers, tmp_path)
    server.routes["/old"] = Response(301, b"", {"Location": f"https://{HOST}/new"})
    server.routes["/new"] = Response(200, b"{}")
    monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))
    response = https_get(f"https://{HOST}/old", connect_to=via(server))
    assert (response.status, response.redirect_location) == (301, f"https://{HOST}/new")
    assert [r.path for r in server.requests] == ["/old"]


def test_https_get_bounds_the_body(tmp_path: Path, servers: list[HTTPSServer], monkeypatch: pytest.MonkeyPatch) -> None:
    server, chain = serve(servers, tmp_path)
    server.routes["/big"] = Response(200, b"x" * 2048)
    monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))
    assert len(https_get(f"https://{HOST}/big", connect_to=via(server), max_bytes=2048).body) == 2048
    with pytest.raises(TLSError) as info:
        https_get(f"https://{HOST}/big", connect_to=via(server), max_bytes=1024)
    assert (
        str(info.value)
        == f"https://{HOST}/big answered with more than 1024 bytes; an issuer document is a few KiB: check the URL"
    )


def test_https_get_verifies_like_fetch_chain_and_refuses_http(tmp_path: Path, servers: list[HTTPSServer]) -> None:
    server, _ = serve(servers, tmp_path)
    with pytest.raises(TLSError, match="does not verify: unable to get local issuer certificate"):
        https_get(f"https://{HOST}/", connect_to=via(server))
    assert server.requests == []  # nothing was sent over the unverified connection
    with pytest.raises(InputError) as info:
        https_get(f"http://{HOST}/")
    assert str(info.value) == f"'http://{HOST}/' is not an https URL; STS only fetches https URLs"


# --- connect-to ----------------------------------------------------------------------------------------


def test_connect_to_parsing() -> None:
    assert ConnectTo.parse("OIDC.example.com:443:127.0.0.1:8443") == ConnectTo(HOST, 443, "127.0.0.1", 8443)
    assert ConnectTo.parse("::10.0.0.1:443") == ConnectTo("", None, "10.0.0.1", 443)
    assert ConnectTo.parse(f"{HOST}:443:[::1]:8443") == ConnectTo(HOST, 443, "::1", 8443)
    assert ConnectTo.parse(f" {HOST}::d111.cloudfront.net:443 ") == ConnectTo(HOST, None, "d111.cloudfront.net", 443)
    for bad in [
        "nonsense",
        f"{HOST}:443:127.0.0.1",
        f"{HOST}:443::8443",
        f"{HOST}:x:127.0.0.1:8443",
        f"{HOST}:443:127.0.0.1:",
        f"{HOST}:443:127.0.0.1:70000",
        f"{HOST}:443:::1:8443",
        f"{HOST}:0:127.0.0.1:1",
    ]:
        with pytest.raises(InputError) as info:
            ConnectTo.parse(bad)
        assert str(info.value) == (
            f"connect-to {bad!r} is not HOST:PORT:ADDR:PORT; write it like oidc.example.com:443:127.0.0.1:8443 "
            "(HOST and the first PORT may be empty: any)"
        )


def test_connect_to_matching_and_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONNECT_TO_ENV, f"{HOST}:443:10.0.0.2:443, ::10.0.0.9:9443")
    overrides = connect_overrides([f"{HOST}:443:10.0.0.1:443"])
    assert [o.address for o in overrides] == ["10.0.0.1", "10.0.0.2", "10.0.0.9"]  # flags first, then the env
    assert route(HOST, 443, overrides) == ("10.0.0.1", 443)
    assert route("OIDC.EXAMPLE.COM", 443, overrides) == ("10.0.0.1", 443)
    assert route(HOST, 8443, overrides) == ("10.0.0.9", 9443)  # only the catch-all matches another port
    assert route("jwks.example.com", 443, overrides) == ("10.0.0.9", 9443)
    assert route("jwks.example.com", 443, connect_overrides(None)[:1]) == ("jwks.example.com", 443)
    monkeypatch.setenv(CONNECT_TO_ENV, "broken")
    with pytest.raises(InputError, match="connect-to 'broken' is not HOST:PORT:ADDR:PORT"):
        connect_overrides()
