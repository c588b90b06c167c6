"""The thumbprint (pure) and ``oidc-publisher thumbprint`` end to end against real local TLS servers,
cross-checked with ``openssl s_client -showcerts``."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from oidc_publisher.core.errors import InputError
from oidc_publisher.core.thumbprint import (
    CA_PRIVATE,
    CA_PUBLIC,
    ca_case,
    merge_thumbprints,
    normalise_thumbprint,
    thumbprint_of,
    unregistered_pinned,
)
from oidc_publisher.tls import CONNECT_TO_ENV, PresentedChain, verifies_with_public_roots
from tests.support.cli import invoke, run
from tests.support.https import HTTPSServer
from tests.support.pki import Chain, make_chain

HOST = "oidc.example.com"
OPENSSL = shutil.which("openssl")


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


def serve(servers: list[HTTPSServer], directory: Path, **kw: object) -> tuple[HTTPSServer, Chain]:
    chain = make_chain((HOST,), **kw).write(directory)  # type: ignore[arg-type]
    server = HTTPSServer(chain).start()
    servers.append(server)
    return server, chain


def route(server: HTTPSServer, host: str = HOST) -> str:
    return f"{host}:443:127.0.0.1:{server.port}"


# --- pure ----------------------------------------------------------------------------------------------


def test_thumbprint_of_is_the_sha1_of_the_last_certificate() -> None:
    chain = make_chain((HOST,), intermediates=2)
    presented = [der(c) for c in chain.presented]
    assert thumbprint_of(presented) == hashlib.sha1(der(chain.intermediates[0])).hexdigest()
    assert thumbprint_of(presented[:1]) == hashlib.sha1(presented[0]).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{40}", thumbprint_of(presented))
    with pytest.raises(ValueError, match="no certificates presented"):
        thumbprint_of([])


def test_normalise_thumbprint() -> None:
    expected = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
    for given in [
        expected,
        expected.upper(),
        "9E:99:A4:8A:99:60:B1:49:26:BB:7F:3B:02:E2:2D:A2:B0:AB:72:80",
        f" {expected}\n",
    ]:
        assert normalise_thumbprint(given) == expected
    for bad in ["abc", expected + "00", expected[:-1] + "g", "", "sha1 Fingerprint=" + expected]:
        with pytest.raises(InputError) as info:
            normalise_thumbprint(bad)
        assert str(info.value) == (
            f"thumbprint {bad!r} is not 40 hex digits; "
            "give the SHA-1 of the issuer host's top certificate (oidc-publisher thumbprint URL prints it)"
        )


def test_merge_thumbprints_dedupes_and_keeps_at_most_five() -> None:
    assert merge_thumbprints(["A" * 40], ["a" * 40, "b" * 40], []) == ["a" * 40, "b" * 40]
    five = [f"{i:040x}" for i in range(5)]
    assert merge_thumbprints(five, five[:2]) == five
    with pytest.raises(InputError) as info:
        merge_thumbprints(five, ["f" * 40])
    assert (
        str(info.value)
        == "6 thumbprints given; IAM keeps at most 5; drop the ones for certificates the hosts no longer present"
    )
    with pytest.raises(InputError, match="'nope' is not 40 hex digits"):
        merge_thumbprints(["nope"])


# --- the command, against real TLS ---------------------------------------------------------------------


def test_ca_case_is_public_only_when_the_public_bundle_alone_verifies_the_chain() -> None:
    assert ca_case(True) == CA_PUBLIC
    assert ca_case(False) == CA_PRIVATE


def test_unregistered_pinned_names_only_private_ca_hosts_whose_thumbprint_is_missing() -> None:
    a, b, c = "a" * 40, "b" * 40, "c" * 40
    live = {"issuer.example": (a, CA_PRIVATE), "keys.example": (b, CA_PUBLIC)}
    assert unregistered_pinned(live, [a]) == {}  # the public one needs no thumbprint
    assert unregistered_pinned(live, []) == {"issuer.example": a}
    assert unregistered_pinned(live, [c]) == {"issuer.example": a}
    assert unregistered_pinned(live, [a.upper()]) == {}  # registered values compare normalised
    assert unregistered_pinned({"issuer.example": (a, CA_PUBLIC)}, [c]) == {}


def _presented(chain: Chain, host: str) -> PresentedChain:
    return PresentedChain(host, 443, tuple(c.cert.public_bytes(serialization.Encoding.DER) for c in chain.presented))


def test_verifies_with_public_roots_against_a_bundle_file(tmp_path: Path) -> None:
    chain = make_chain(("oidc.example.com",), intermediates=2).write(tmp_path / "a")
    other = make_chain(("oidc.example.com",), root_name="another root").write(tmp_path / "b")
    presented = _presented(chain, "oidc.example.com")
    assert verifies_with_public_roots(presented, str(chain.files["ca"])) is True
    assert verifies_with_public_roots(presented, str(other.files["ca"])) is False  # another CA
    assert verifies_with_public_roots(_presented(chain, "other.example.com"), str(chain.files["ca"])) is False
    assert verifies_with_public_roots(presented, None) is False  # no public bundle: assume private
    assert verifies_with_public_roots(presented, str(tmp_path / "missing.pem")) is False


@pytest.mark.parametrize("intermediates", [0, 1, 2])
def test_prints_the_thumbprint_of_the_last_presented_certificate(
    tmp_path: Path, servers: list[HTTPSServer], monkeypatch: pytest.MonkeyPatch, intermediates: int
) -> None:
    server, chain = serve(servers, tmp_path, intermediates=intermediates)
    monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))
    result = invoke("thumbprint", f"https://{HOST}/clusters/prod", "--connect-to", route(server))
    assert (result.exit_code, result.stdout, result.stderr) == (0, chain.expected_thumbprint + "\n", "")
    top = chain.intermediates[0] if intermediates else chain.leaf  # with no intermediate, the leaf itself
    assert result.stdout.strip() == hashlib.sha1(der(top)).hexdigest()

    described = invoke("thumbprint", HOST, "--connect-to", route(server), "-o", "json").json()
    assert {k: described[k] for k in ("host", "port", "thumbprint")} == {
        "host": HOST,
        "port": 443,
        "thumbprint": chain.expected_thumbprint,
    }
    presented = described["presented"]
    assert [p["subject"] for p in presented] == [c.cert.subject.rfc4514_string() for c in chain.presented]
    assert [p["issuer"] for p in presented] == [c.cert.issuer.rfc4514_string() for c in chain.presented]
    assert [p["sha1"] for p in presented] == [c.sha1 for c in chain.presented]
    assert presented[0]["subject"] == f"CN={HOST}"
    assert presented[-1]["issuer"] == "CN=oidc-publisher test root"
    assert presented[0]["not_after"] == chain.leaf.cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def openssl_presented(port: int, host: str = HOST) -> list[bytes]:
    """The DER certificates ``openssl s_client -showcerts`` shows the server presenting."""
    assert OPENSSL
    out = subprocess.run(
        [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", host, "-showcerts"],
        input=b"",
        capture_output=True,
        timeout=30,
        check=False,
    ).stdout.decode()
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    return [x509.load_pem_x509_certificate(p.encode()).public_bytes(serialization.Encoding.DER) for p in pems]


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed: the cross-check needs its s_client")
@pytest.mark.parametrize("intermediates", [0, 1, 2])
def test_agrees_with_openssl_s_client(
    tmp_path: Path, servers: list[HTTPSServer], monkeypatch: pytest.MonkeyPatch, intermediates: int
) -> None:
    server, chain = serve(servers, tmp_path, intermediates=intermediates)
    monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))
    ours = invoke("thumbprint", HOST, "--connect-to", route(server)).stdout.strip()
    shown = openssl_presented(server.port)
    assert len(shown) == intermediates + 1
    assert ours == hashlib.sha1(shown[-1]).hexdigest()
    # And openssl's own fingerprint of that certificate, in its colon form, normalises to the same value.
    fingerprint = subprocess.run(
        [str(OPENSSL), "x509", "-inform", "DER", "-noout", "-fingerprint", "-sha1"],
        input=shown[-1],
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert normalise_thumbprint(fingerprint.strip().split("=", 1)[1]) == ours


def test_in_a_shell_substitution(tmp_path: Path, servers: list[HTTPSServer]) -> None:
    """As a separate process, the way ``THUMBPRINT=$(oidc-publisher thumbprint URL)`` runs it."""
    server, chain = serve(servers, tmp_path)
    env = {"SSL_CERT_FILE": str(chain.files["ca"]), CONNECT_TO_ENV: route(server)}
    result = run("thumbprint", f"https://{HOST}", env=env)
    assert (result.exit_code, result.stdout, result.stderr) == (0, chain.expected_thumbprint + "\n", "")
    failed = run("thumbprint", f"https://{HOST}", env={**env, "SSL_CERT_FILE": str(tmp_path / "missing.pem")})
    assert (failed.exit_code, failed.stdout, failed.stderr) == (
        1,
        "",
        f"error: SSL_CERT_FILE names {tmp_path / 'missing.pem'}, which is not a file; point it at a PEM CA bundle, or unset it\n",
    )


def test_requests_ca_bundle_and_the_environment_override(
    tmp_path: Path, servers: list[HTTPSServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, chain = serve(servers, tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(chain.files["ca"]))
    monkeypatch.setenv(CONNECT_TO_ENV, f"other.example.com:443:127.0.0.1:1,{route(server)}")
    result = invoke("thumbprint", f"https://{HOST}")
    assert (result.exit_code, result.stdout.strip()) == (0, chain.expected_thumbprint)


def test_untrusted_expired_and_wrong_host(
    tmp_path: Path, servers: list[HTTPSServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, chain = serve(servers, tmp_path / "a")
    expired, expired_chain = serve(servers, tmp_path / "b", leaf_expired=True)

    untrusted = invoke("thumbprint", HOST, "--connect-to", route(server))
    assert (untrusted.exit_code, untrusted.stdout, untrusted.stderr) == (
        1,
        "",
        f"error: the certificate chain of {HOST} does not verify: unable to get local issuer certificate "
        "(the top certificate presented was issued by CN=oidc-publisher test root); "
        "serve the full chain from a CA AWS trusts; for a private CA, set SSL_CERT_FILE to its bundle\n",
    )

    monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))
    wrong = invoke("thumbprint", "https://other.example.com", "--connect-to", route(server, "other.example.com"))
    assert (wrong.exit_code, wrong.stderr) == (
        1,
        f"error: the certificate of other.example.com does not cover the host name other.example.com (it covers {HOST}); "
        "serve a certificate whose subject alternative names include the issuer's host\n",
    )

    monkeypatch.setenv("SSL_CERT_FILE", str(expired_chain.files["ca"]))
    old = invoke("thumbprint", HOST, "--connect-to", route(expired))
    assert (old.exit_code, old.stderr) == (
        1,
        f"error: the certificate of {HOST} has expired; renew it; STS refuses expired certificates\n",
    )

    as_json = invoke("thumbprint", HOST, "--connect-to", route(expired), "--output", "json")
    assert as_json.exit_code == 1
    assert as_json.json() == {
        "error": {
            "type": "TLSError",
            "message": f"the certificate of {HOST} has expired",
            "hint": "renew it; STS refuses expired certificates",
        }
    }


def test_refused_dns_and_timeout() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    refused = invoke("thumbprint", HOST, "--connect-to", f"{HOST}:443:127.0.0.1:{free}")
    assert (refused.exit_code, refused.stderr) == (
        1,
        f"error: connection to {HOST} (via 127.0.0.1:{free}) refused; check the host serves HTTPS on port {free}\n",
    )

    dns = invoke("thumbprint", "https://no-such-host.invalid")
    assert (dns.exit_code, dns.stderr) == (
        1,
        "error: cannot resolve no-such-host.invalid (DNS); check the host name and that its DNS record exists\n",
    )

    # A server that accepts the connection but never answers the handshake.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    port = silent.getsockname()[1]
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True).start()
    try:
        slow = invoke("thumbprint", HOST, "--connect-to", f"{HOST}:443:127.0.0.1:{port}", "--timeout", "0.5")
        assert (slow.exit_code, slow.stderr) == (
            1,
            f"error: {HOST} (via 127.0.0.1:{port}) did not answer within 0.5s; "
            "STS gives up after about 5 seconds: check the host, its firewall and its TLS\n",
        )
    finally:
        silent.close()
        for sock in held:
            sock.close()


@pytest.mark.parametrize("url", ["http://x.example.com", "https://", "https://x.example.com:abc", "ftp://x"])
def test_bad_urls(url: str) -> None:
    bad, option = invoke("thumbprint", url), invoke("thumbprint", "--issuer-url", url)
    assert (option.exit_code, option.stdout, option.stderr) == (bad.exit_code, bad.stdout, bad.stderr)
    assert (bad.exit_code, bad.stdout, bad.stderr) == (
        2,
        "",
        f"error: {url!r} is not an https URL or a host name; give the issuer URL, e.g. https://oidc.example.com\n",
    )


def test_bad_connect_to_and_timeout() -> None:
    bad = invoke("thumbprint", HOST, "--connect-to", "nonsense")
    assert (bad.exit_code, bad.stderr) == (
        2,
        "error: connect-to 'nonsense' is not HOST:PORT:ADDR:PORT; write it like oidc.example.com:443:127.0.0.1:8443 "
        "(HOST and the first PORT may be empty: any)\n",
    )
    env = invoke("thumbprint", HOST, env={CONNECT_TO_ENV: f"{HOST}:443:127.0.0.1"})
    assert (env.exit_code, env.stderr) == (
        2,
        f"error: connect-to '{HOST}:443:127.0.0.1' is not HOST:PORT:ADDR:PORT; write it like oidc.example.com:443:127.0.0.1:8443 "
        "(HOST and the first PORT may be empty: any)\n",
    )
    for timeout in ["0", "-1", "inf"]:
        zero = invoke("thumbprint", HOST, "--timeout", timeout)
        assert (zero.exit_code, zero.stderr) == (
            2,
            f"error: --timeout {float(timeout):g} is not a positive number of seconds; STS waits about 5: try 5\n",
        )
    usage = invoke("thumbprint", HOST, "--timeout", "soon")
    assert usage.exit_code == 2


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed: the documented pipeline needs it")
def test_the_documented_openssl_pipeline_agrees(
    tmp_path: Path, servers: list[HTTPSServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/thumbprint.md's by-hand openssl recipe, run as written (only the address dialled changes)."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "thumbprint.md").read_text()
    (recipe,) = [b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if "openssl s_client" in b]
    server, chain = serve(servers, tmp_path, intermediates=2)
    command = recipe.replace(f"-connect {HOST}:443", f"-connect 127.0.0.1:{server.port}")
    assert command != recipe
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30, check=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))
    ours = invoke("thumbprint", HOST, "--connect-to", route(server)).stdout
    assert out.stdout == ours == chain.expected_thumbprint + "\n"


def test_issuer_url_option_and_variable_like_every_other_command(tmp_path: Path, servers: list[HTTPSServer]) -> None:
    server, chain = serve(servers, tmp_path)
    env = {"SSL_CERT_FILE": str(chain.files["ca"]), CONNECT_TO_ENV: route(server)}
    for args, extra in (
        (("--issuer-url", f"https://{HOST}"), {}),
        ((), {"OIDC_PUBLISHER_ISSUER_URL": f"https://{HOST}"}),
        ((f"https://{HOST}",), {"OIDC_PUBLISHER_ISSUER_URL": "https://other.example.com"}),  # the argument wins
    ):
        result = invoke("thumbprint", *args, env={**env, **extra})
        assert (result.exit_code, result.stdout, result.stderr) == (0, chain.expected_thumbprint + "\n", ""), args
    both = invoke("thumbprint", f"https://{HOST}", "--issuer-url", "https://other.example.com", env=env)
    assert (both.exit_code, both.stderr) == (
        2, f"error: URL 'https://{HOST}' and --issuer-url 'https://other.example.com' disagree; give one of them\n")
