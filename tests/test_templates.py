"""Every template renders to valid YAML; Kubernetes objects pass schema validation; the rotation job is
hardened; its IAM policy names exactly what the job touches."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from oidc_publisher.templating import DISTRIBUTIONS, FILES
from tests.support.cli import invoke

ISSUER = "https://oidc.example.com/prod"
PREVIOUS = "https://kubernetes.default.svc.cluster.local"
ROLE = "arn:aws:iam::123456789012:role/oidc-publisher"
K8S_VERSION = kubernetes_validate.utils.latest_version()
# Kinds whose schemas ship with kubernetes-validate (core Kubernetes).
CORE_KINDS = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service",
              "MutatingWebhookConfiguration", "CronJob"}


def render_to(tmp_path: Path, distribution: str, *extra: str) -> dict[str, str]:
    out = tmp_path / distribution
    args = ["templates", "render", "--distribution", distribution, "--issuer-url", ISSUER, "--out", str(out), *extra]
    if distribution == "rotation-job":
        args += ["--bucket", "issuer-bucket", "--role-arn", ROLE]
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    return {p.name: p.read_text() for p in sorted(out.iterdir())}


def documents(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_every_template_renders_to_valid_objects(tmp_path: Path, distribution: str) -> None:
    files = render_to(tmp_path, distribution)
    assert sorted(files) == sorted(Path(f).name for f in FILES[distribution])
    for name, text in files.items():
        assert "${" not in text and "$" not in text.replace("$$", ""), name
        if name.endswith(".json"):
            json.loads(text)
            continue
        for doc in documents(text):
            if doc.get("kind") in CORE_KINDS:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            else:
                check_structure(doc)


def check_structure(doc: dict) -> None:
    """Non-core kinds (cert-manager, kubeadm, kind, k3s/RKE2 and Talos configs): the fields we rely on."""
    kind = doc.get("kind")
    if kind in ("Issuer", "Certificate"):
        assert doc["apiVersion"] == "cert-manager.io/v1" and doc["metadata"]["namespace"] == "pod-identity-webhook"
        if kind == "Certificate":
            assert doc["spec"]["secretName"] == "pod-identity-webhook-cert"
            assert "pod-identity-webhook.pod-identity-webhook.svc" in doc["spec"]["dnsNames"]
    elif kind == "ClusterConfiguration":
        assert doc["apiVersion"] == "kubeadm.k8s.io/v1beta4"
        args = doc["apiServer"]["extraArgs"]
        assert all(set(a) == {"name", "value"} for a in args)
    elif kind == "Cluster":
        assert doc["apiVersion"] == "kind.x-k8s.io/v1alpha4"
        patch = yaml.safe_load(doc["nodes"][0]["kubeadmConfigPatches"][0])
        assert patch["apiServer"]["extraArgs"]["service-account-issuer"] == ISSUER
    elif kind == "Kustomization":
        assert doc["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    elif "kube-apiserver-arg" in doc:
        assert all(isinstance(a, str) and "=" in a for a in doc["kube-apiserver-arg"])
    elif "cluster" in doc:
        assert doc["cluster"]["apiServer"]["extraArgs"]["service-account-issuer"] == ISSUER
    else:
        pytest.fail(f"unexpected document {doc}")


@pytest.mark.parametrize("distribution,expected", [
    ("kubeadm", [ISSUER, PREVIOUS]),
    ("k3s", [ISSUER, PREVIOUS]),
    ("rke2", [ISSUER, PREVIOUS]),
])
def test_non_disruptive_issuer_change_lists_the_new_issuer_first(tmp_path: Path, distribution: str, expected: list[str]) -> None:
    text = next(iter(render_to(tmp_path, distribution, "--previous-issuer", PREVIOUS).values()))
    [doc] = documents(text)
    if distribution == "kubeadm":
        issuers = [a["value"] for a in doc["apiServer"]["extraArgs"] if a["name"] == "service-account-issuer"]
        audiences = next(a["value"] for a in doc["apiServer"]["extraArgs"] if a["name"] == "api-audiences")
    else:
        issuers = [a.split("=", 1)[1] for a in doc["kube-apiserver-arg"] if a.startswith("service-account-issuer=")]
        audiences = next(a.split("=", 1)[1] for a in doc["kube-apiserver-arg"] if a.startswith("api-audiences="))
    assert issuers == expected
    assert audiences == ",".join(expected)  # old tokens keep working against the API server; STS's never do
    assert "sts.amazonaws.com" not in audiences


def test_rotation_job_is_hardened_and_least_privileged(tmp_path: Path) -> None:
    files = render_to(tmp_path, "rotation-job", "--prefix", "prod", "--distribution-id", "E2EXAMPLE")
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert sorted(kustomization["resources"]) == sorted(n for n in files if n.endswith(".yaml") and n != "kustomization.yaml")
    [cron] = documents(files["cronjob.yaml"])
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = pod["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["args"] == ["publish", "--from-cluster", f"--issuer-url={ISSUER}", "--bucket=issuer-bucket",
                                 "--prefix=prod", "--distribution-id=E2EXAMPLE", "--output=json"]
    [sa] = documents(files["serviceaccount.yaml"])
    assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": ROLE}
    [binding] = documents(files["clusterrolebinding.yaml"])
    assert binding["roleRef"]["name"] == "system:service-account-issuer-discovery"
    policy = json.loads(files["iam-policy.json"])
    objects = next(s for s in policy["Statement"] if s["Sid"] == "ReadAndWriteTheIssuerDocuments")
    assert sorted(objects["Action"]) == ["s3:GetObject", "s3:PutObject"]
    assert objects["Resource"] == [
        "arn:aws:s3:::issuer-bucket/prod/.well-known/openid-configuration",
        "arn:aws:s3:::issuer-bucket/prod/openid/v1/jwks",
        "arn:aws:s3:::issuer-bucket/prod/.oidc-publisher/state.json",
    ]
    invalidate = next(s for s in policy["Statement"] if s["Sid"] == "InvalidateTheIssuerDocuments")
    assert invalidate == {"Sid": "InvalidateTheIssuerDocuments", "Effect": "Allow", "Action": "cloudfront:CreateInvalidation",
                          "Resource": "arn:aws:cloudfront::*:distribution/E2EXAMPLE"}
    assert all("*" not in r for s in policy["Statement"] if s["Sid"] != "InvalidateTheIssuerDocuments"
               for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]))


def test_stdout_refusals_and_overwrite(tmp_path: Path) -> None:
    single = invoke("templates", "render", "--distribution", "pod-identity-webhook", "--issuer-url", ISSUER)
    assert single.exit_code == 0
    assert [d["kind"] for d in documents(single.stdout)] == ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Issuer", "Certificate", "Deployment", "Service", "MutatingWebhookConfiguration"]
    missing = invoke("templates", "render", "--distribution", "rotation-job", "--issuer-url", ISSUER, "--bucket", "b", "--out", str(tmp_path / "o"))
    assert (missing.exit_code, missing.stderr.strip()) == (1, "error: the rotation job needs --role-arn (the IAM role its service account assumes); "
                                                          "create one with the policy in iam-policy.json: oidc-publisher role create --policy-file ...")
    assert not (tmp_path / "o").exists()
    bad = invoke("templates", "render", "--distribution", "kubeadm", "--issuer-url", "http://x.example.com", "--out", str(tmp_path / "o"))
    assert (bad.exit_code, bad.stderr.strip()) == (1, "error: issuer URL 'http://x.example.com' is not https; IAM and STS only accept https:// issuers; serve the documents over HTTPS (S3, CloudFront)")
    assert not (tmp_path / "o").exists()
    unknown = invoke("templates", "render", "--distribution", "minikube", "--issuer-url", ISSUER)
    assert unknown.stderr.strip() == f"error: unknown distribution 'minikube'; choose one of: {', '.join(DISTRIBUTIONS)}"
    render_to(tmp_path, "k3s")
    again = invoke("templates", "render", "--distribution", "k3s", "--issuer-url", ISSUER, "--out", str(tmp_path / "k3s"))
    assert again.exit_code == 1
    assert again.stderr.strip() == f"error: {tmp_path / 'k3s' / 'k3s.yaml'} already exists; use --force to overwrite, or another --out directory"
    assert invoke("templates", "render", "--distribution", "k3s", "--issuer-url", ISSUER, "--out", str(tmp_path / "k3s"), "--force").exit_code == 0


def test_templates_ship_in_the_wheel(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(root)],
                   check=True, capture_output=True)
    [wheel] = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for files in FILES.values():
        for name in files:
            assert f"oidc_publisher/templates/{name}" in names


def test_dockerfile_is_small_non_root_and_pinned() -> None:
    """No Docker engine runs on these machines (only the client), so the Dockerfile is linted here; where
    `docker info` works, `docker build` is the real check (see docs/templates.md)."""
    text = (Path(__file__).resolve().parents[1] / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    froms = [line.split()[1] for line in lines if line.startswith("FROM")]
    assert len(froms) == 2 and all(":" in f and not f.endswith(":latest") for f in froms)  # multi-stage, pinned
    users = [line for line in lines if line.startswith("USER")]
    assert users and users[-1] == "USER 65532:65532"  # the last stage runs as non-root
    assert lines.index(users[-1]) > max(i for i, line in enumerate(lines) if line.startswith("FROM"))
    assert not any(line.startswith("ADD ") for line in lines)  # no remote ADDs
    assert any(line.startswith('ENTRYPOINT ["oidc-publisher"]') for line in lines)
    assert all("--no-cache-dir" in line for line in lines if "pip " in line)
