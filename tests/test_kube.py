"""``--from-cluster`` against a local stand-in for the API server, through real kubeconfig files."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest
import yaml

from oidc_publisher.core.errors import SourceError
from oidc_publisher.core.keys import signing_key
from oidc_publisher.kube import read_issuer_documents, request_token, service_account_role_annotations
from tests.support import keys as k
from tests.support.cli import invoke, run
from tests.support.kube_api import KubeAPI

ISSUER = "https://oidc.example.com"


def render(kubeconfig: Path, out: Path, *extra: str, issuer: str = ISSUER) -> object:
    return invoke("render", "--issuer-url", issuer, "--from-cluster", "--kubeconfig", str(kubeconfig), "--out-dir", str(out), *extra)


@pytest.mark.parametrize("kind", ["token", "client-cert", "exec"])
def test_render_from_cluster_with_each_credential_kind(kube_api: KubeAPI, tmp_path: Path, kind: str) -> None:
    kube_api.keys.append(k.ec_key())
    config = kube_api.kubeconfig(tmp_path / "kubeconfig", kind=kind)
    result = render(config, tmp_path / "out")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    published = json.loads((tmp_path / "out/openid/v1/jwks").read_bytes())
    # The cluster's kids are republished unchanged.
    assert [key["kid"] for key in published["keys"]] == sorted(key["kid"] for key in kube_api.jwks()["keys"])
    discovery = json.loads((tmp_path / "out/.well-known/openid-configuration").read_bytes())
    # Never the API server's own jwks_uri: always the published JWKS's URL.
    assert discovery["jwks_uri"] == f"{ISSUER}/openid/v1/jwks"
    assert discovery["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    if kind == "client-cert":
        assert all(r.client_cert is not None for r in kube_api.requests)
    else:
        assert all({n.lower(): v for n, v in r.headers.items()}["authorization"] == "Bearer stand-in-bearer-token" for r in kube_api.requests)


def test_context_is_honoured(kube_api: KubeAPI, tmp_path: Path) -> None:
    config = kube_api.kubeconfig(tmp_path / "kubeconfig", context="prod", extra_contexts=("other",))
    assert render(config, tmp_path / "a", "--context", "prod").exit_code == 0  # type: ignore[attr-defined]
    missing = render(config, tmp_path / "b", "--context", "nope")
    assert missing.exit_code == 2  # type: ignore[attr-defined]
    assert missing.stderr.strip() == f"error: kubeconfig {config} has no context 'nope'; list them with 'kubectl config get-contexts'"  # type: ignore[attr-defined]
    assert not (tmp_path / "b").exists()


def test_in_cluster_service_account(kube_api: KubeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(kube_api.server.port))  # type: ignore[union-attr]
    sa_dir = kube_api.service_account_dir(tmp_path / "sa")
    documents = read_issuer_documents(None, None, service_account_dir=sa_dir)
    assert documents.issuer == ISSUER
    assert json.loads(documents.jwks) == kube_api.jwks()


def test_issuer_mismatch_is_refused_with_both_values(kube_api: KubeAPI, tmp_path: Path) -> None:
    config = kube_api.kubeconfig(tmp_path / "kubeconfig")
    other = render(config, tmp_path / "out", issuer="https://elsewhere.example.com")
    assert other.exit_code == 1  # type: ignore[attr-defined]
    assert other.stderr.strip().startswith(  # type: ignore[attr-defined]
        "error: the cluster's issuer is 'https://oidc.example.com' but --issuer-url is 'https://elsewhere.example.com'; "
    )
    slash = render(config, tmp_path / "out", issuer=ISSUER + "/")
    assert slash.stderr.strip() == (  # type: ignore[attr-defined]
        "error: trailing slash mismatch: the cluster's issuer is 'https://oidc.example.com' but --issuer-url is "
        "'https://oidc.example.com/'; STS compares 'iss' byte for byte: use exactly the cluster's --service-account-issuer value"
    )
    assert not (tmp_path / "out").exists()


def test_api_errors_are_one_line(kube_api: KubeAPI, tmp_path: Path) -> None:
    url = kube_api.url
    bad = kube_api.kubeconfig(tmp_path / "bad", kind="bad-token")
    assert render(bad, tmp_path / "o").stderr.strip() == (  # type: ignore[attr-defined]
        f"error: the API server {url} refused the credentials (401); refresh the kubeconfig's token or certificate"
    )
    good = kube_api.kubeconfig(tmp_path / "good")
    kube_api.forbidden = True
    assert render(good, tmp_path / "o").stderr.strip() == (  # type: ignore[attr-defined]
        f"error: the API server {url} forbids reading /.well-known/openid-configuration (403); "
        "bind the ClusterRole system:service-account-issuer-discovery to this identity (the rotation-job template does)"
    )
    kube_api.forbidden = False
    kube_api.status_override = 404
    assert render(good, tmp_path / "o").stderr.strip() == (  # type: ignore[attr-defined]
        f"error: the API server {url} does not serve /.well-known/openid-configuration (404); "
        "service account issuer discovery needs Kubernetes 1.21+ with --service-account-issuer set"
    )
    assert not (tmp_path / "o").exists()


def test_unreachable_and_untrusted_and_missing(kube_api: KubeAPI, tmp_path: Path) -> None:
    import yaml

    config = kube_api.kubeconfig(tmp_path / "kubeconfig")
    document = yaml.safe_load(config.read_text())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    document["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    refused = tmp_path / "refused"
    refused.write_text(yaml.safe_dump(document))
    assert render(refused, tmp_path / "o").stderr.strip() == (  # type: ignore[attr-defined]
        f"error: connection to the API server https://127.0.0.1:{port} refused; check the server address and that the API server is up"
    )
    document = yaml.safe_load(config.read_text())
    other_ca = make_other_ca(tmp_path)
    document["clusters"][0]["cluster"]["certificate-authority-data"] = other_ca
    untrusted = tmp_path / "untrusted"
    untrusted.write_text(yaml.safe_dump(document))
    assert render(untrusted, tmp_path / "o").stderr.strip() == (  # type: ignore[attr-defined]
        f"error: the API server {kube_api.url} presented a certificate that does not verify; check certificate-authority(-data) in the kubeconfig"
    )
    missing = render(tmp_path / "nope", tmp_path / "o")
    assert missing.stderr.strip() == f"error: kubeconfig {tmp_path / 'nope'} does not exist; check --kubeconfig / KUBECONFIG"  # type: ignore[attr-defined]
    garbage = tmp_path / "garbage"
    garbage.write_text("::: not yaml [")
    assert render(garbage, tmp_path / "o").exit_code == 2  # type: ignore[attr-defined]
    assert "Traceback" not in render(garbage, tmp_path / "o").stderr  # type: ignore[attr-defined]
    assert not (tmp_path / "o").exists()


def make_other_ca(tmp_path: Path) -> str:
    import base64

    from tests.support.pki import make_chain

    return base64.b64encode(make_chain(intermediates=0).root.pem).decode()


def test_token_request_and_annotations(kube_api: KubeAPI, tmp_path: Path) -> None:
    import jwt as pyjwt

    config = kube_api.kubeconfig(tmp_path / "kubeconfig")
    kube_api.service_accounts[("default", "app")] = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/app"}
    kube_api.service_accounts[("default", "plain")] = {}
    token = request_token(config, None, namespace="default", service_account="app")
    key = signing_key(kube_api.keys[0].public_key(), "x")
    claims = pyjwt.decode(token, key.public_pem(), algorithms=["RS256"], audience="sts.amazonaws.com", issuer=ISSUER)
    assert claims["sub"] == "system:serviceaccount:default:app"
    with pytest.raises(SourceError, match="service account default/ghost does not exist"):
        request_token(config, None, namespace="default", service_account="ghost")
    refs = service_account_role_annotations(config, None)
    assert [(r.namespace, r.name, r.role_arn) for r in refs] == [("default", "app", "arn:aws:iam::123456789012:role/app")]


def test_client_key_copies_are_gone_when_the_process_ends(kube_api: KubeAPI, tmp_path: Path) -> None:
    # The kubernetes client writes a kubeconfig's embedded client certificate and key to temporary files
    # and deletes them at exit. The tool ends its process its own way (cli.main freezes the collector):
    # a real process, with its own TMPDIR, must still leave no copy of the private key behind.
    config = kube_api.kubeconfig(tmp_path / "kubeconfig", kind="client-cert")
    key_pem = base64.b64decode(yaml.safe_load(config.read_text())["users"][0]["user"]["client-key-data"])
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = run("render", "--issuer-url", ISSUER, "--from-cluster", "--kubeconfig", str(config),
                 "--out-dir", str(tmp_path / "out"), env={"TMPDIR": str(scratch)})
    assert result.exit_code == 0, result.stderr
    assert kube_api.requests and all(r.client_cert is not None for r in kube_api.requests)
    assert sorted(scratch.iterdir()) == []
    # Nor anywhere else the run wrote (the kubeconfig holds it base64-encoded, not as PEM).
    assert [p for p in tmp_path.rglob("*") if p.is_file() and key_pem.strip() in p.read_bytes()] == []


def insecure_kubeconfig(kube_api: KubeAPI, tmp_path: Path) -> Path:
    """A real kubeconfig that skips TLS verification (no CA at all), as many a lab cluster's does."""
    document = yaml.safe_load(kube_api.kubeconfig(tmp_path / "kubeconfig").read_text())
    cluster = document["clusters"][0]["cluster"]
    del cluster["certificate-authority-data"]
    cluster["insecure-skip-tls-verify"] = True
    path = tmp_path / "insecure"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_kubeconfig_that_skips_tls_verification_is_refused(kube_api: KubeAPI, tmp_path: Path) -> None:
    """The cluster's JWKS is the root of trust of every role: read over an unverified connection, anyone on
    the path could add a key. Refused before the API server is even asked."""
    config = insecure_kubeconfig(kube_api, tmp_path)
    result = render(config, tmp_path / "out")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert result.stderr == (  # type: ignore[attr-defined]
        f"error: the kubeconfig {config} sets insecure-skip-tls-verify for the API server {kube_api.url}; "
        "the cluster's keys are the root of trust of every role: give the cluster's CA (certificate-authority-data) "
        "instead, or accept the risk with --insecure-skip-tls-verify\n"
    )
    assert kube_api.requests == []
    assert not (tmp_path / "out").exists()


def test_the_named_flag_accepts_the_risk_and_warns_on_every_run(kube_api: KubeAPI, tmp_path: Path) -> None:
    config = insecure_kubeconfig(kube_api, tmp_path)
    warning = (
        f"warning: --insecure-skip-tls-verify: the API server {kube_api.url} is reached without verifying its "
        "certificate, as the kubeconfig says: anyone on the network path can add a signing key that every role trusts\n"
    )
    for run_number in range(2):
        result = render(config, tmp_path / f"out{run_number}", "--insecure-skip-tls-verify")
        assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
        assert result.stderr == warning  # type: ignore[attr-defined]
        published = json.loads((tmp_path / f"out{run_number}/openid/v1/jwks").read_bytes())
        assert [key["kid"] for key in published["keys"]] == [key["kid"] for key in kube_api.jwks()["keys"]]
    # A verified kubeconfig with the flag: nothing to warn about.
    verified = render(kube_api.kubeconfig(tmp_path / "kubeconfig"), tmp_path / "out3", "--insecure-skip-tls-verify")
    assert (verified.exit_code, verified.stderr) == (0, "")  # type: ignore[attr-defined]
    # The flag without --from-cluster is a usage error.
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    stray = invoke("render", "--issuer-url", ISSUER, "--public-key", str(pub), "--insecure-skip-tls-verify", "--out-dir", str(tmp_path / "o4"))
    assert (stray.exit_code, stray.stderr) == (2, "error: --insecure-skip-tls-verify only applies with --from-cluster; drop it\n")


def test_an_exec_plugin_that_hangs_times_out_with_one_line(kube_api: KubeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Kubernetes client waits for its exec plugin forever; the tool gives it EXEC_PLUGIN_TIMEOUT."""
    import sys
    import time

    from oidc_publisher import kube

    config = kube_api.kubeconfig(tmp_path / "kubeconfig", kind="exec")
    document = yaml.safe_load(config.read_text())
    hang = tmp_path / "hang.py"
    hang.write_text("import time\ntime.sleep(600)\n")
    document["users"][0]["user"]["exec"]["args"] = [str(hang)]
    config.write_text(yaml.safe_dump(document))
    monkeypatch.setattr(kube, "EXEC_PLUGIN_TIMEOUT", 0.5)
    started = time.monotonic()
    result = render(config, tmp_path / "out")
    assert time.monotonic() - started < 30
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert result.stderr == (  # type: ignore[attr-defined]
        f"error: the kubeconfig's exec plugin ({Path(sys.executable).name}) did not answer within 0.5 s; "
        "run it by hand to see what it waits for (a login prompt, the network), then re-run\n"
    )
    assert kube_api.requests == []
