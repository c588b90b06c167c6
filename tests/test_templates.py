"""``templates render``: every template renders to valid YAML/JSON for every distribution; Kubernetes
objects pass kubernetes-validate's schemas; the rest (cert-manager, kubeadm, kind, k3s/RKE2, Talos,
kustomize) get a structural check of the fields we rely on, because no schema for them ships with a
validator on PyPI. The rotation job is hardened; its IAM policy names exactly what the job touches;
the CLI prints, writes, refuses to overwrite, and fails with one line having written nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from oidc_publisher.commands.templates import (
    DISTRIBUTIONS,
    FILES,
    GENERATED,
    WEBHOOK_IMAGE,
    fill,
    placeholders,
    templates_root,
)
from oidc_publisher.core.errors import InputError
from tests.support import keys
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.kube_api import KubeAPI
from tests.support.motoserver import AwsWorld

ROOT = Path(__file__).resolve().parents[1]
ISSUER = "https://oidc.example.com/prod"
S3_ISSUER = "https://my-cluster-oidc.s3.eu-west-1.amazonaws.com"
PREVIOUS = "https://kubernetes.default.svc.cluster.local"
ROLE = "arn:aws:iam::123456789012:role/oidc-publisher"
K8S_VERSION = kubernetes_validate.utils.latest_version()
CORE_KINDS = {
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Deployment",
    "Service",
    "MutatingWebhookConfiguration",
    "CronJob",
}
# The project publishes no image: the rotation job is always rendered with the one the user built.
JOB_IMAGE = "registry.example.com/oidc-publisher:0.1.0"
JOB = ["--bucket", "issuer-bucket", "--role-arn", ROLE, "--region", "eu-west-1", "--image", JOB_IMAGE]


def render_to(tmp_path: Path, distribution: str, *extra: str, issuer: str = ISSUER) -> dict[str, str]:
    out = tmp_path / distribution
    args = ["templates", "render", "--distribution", distribution, "--issuer-url", issuer, "--out", str(out), *extra]
    if distribution == "rotation-job" and "--role-arn" not in extra:
        args += JOB if issuer == ISSUER else ["--bucket", "my-cluster-oidc", "--role-arn", ROLE, "--image", JOB_IMAGE]
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"Wrote {out / Path(f).name}" for f in FILES[distribution]]
    return {p.name: p.read_text() for p in sorted(out.iterdir())}


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


VARIANTS = [(d, ()) for d in DISTRIBUTIONS] + [
    ("kubeadm", ("--previous-issuer", PREVIOUS)),
    ("k3s", ("--previous-issuer", PREVIOUS)),
    ("rke2", ("--previous-issuer", PREVIOUS)),
    ("pod-identity-webhook", ("--region", "eu-west-1", "--image", "registry.example.com/mirror/webhook:v0.6.17")),
    ("rotation-job", (*JOB, "--prefix", "clusters/prod", "--distribution-id", "E2EXAMPLE")),
    ("kind", ("--key-dir", "/home/me/sa")),
]


@pytest.mark.parametrize(
    ("distribution", "extra"), VARIANTS, ids=lambda v: v if isinstance(v, str) else "-".join(v)[:40]
)
def test_every_template_renders_to_valid_objects(tmp_path: Path, distribution: str, extra: tuple[str, ...]) -> None:
    files = render_to(tmp_path, distribution, *extra)
    assert sorted(files) == sorted(Path(f).name for f in FILES[distribution])
    kinds = []
    for name, text in files.items():
        assert "$" not in text, f"{name} has an unfilled placeholder"
        if name.endswith(".json"):
            assert set(json.loads(text)) == {"Version", "Statement"}
            continue
        for doc in documents(text):
            kinds.append(doc.get("kind"))
            if doc.get("kind") in CORE_KINDS:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            else:
                check_structure(doc)
    assert kinds, "no objects rendered"


def check_structure(doc: dict[str, Any]) -> None:
    """Kinds outside core Kubernetes: the fields their consumers read, and no others misplaced."""
    kind = doc.get("kind")
    if kind == "Issuer":
        assert doc == {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": "pod-identity-webhook-selfsigned", "namespace": "pod-identity-webhook"},
            "spec": {"selfSigned": {}},
        }
    elif kind == "Certificate":
        assert doc["apiVersion"] == "cert-manager.io/v1"
        assert doc["metadata"] == {"name": "pod-identity-webhook", "namespace": "pod-identity-webhook"}
        spec = doc["spec"]
        assert spec["secretName"] == "pod-identity-webhook-cert"
        assert spec["issuerRef"] == {"name": "pod-identity-webhook-selfsigned", "kind": "Issuer"}
        assert "pod-identity-webhook.pod-identity-webhook.svc" in spec["dnsNames"]
        assert set(spec) <= {
            "secretName",
            "commonName",
            "dnsNames",
            "duration",
            "renewBefore",
            "privateKey",
            "issuerRef",
        }
    elif kind == "ClusterConfiguration":
        assert doc["apiVersion"] == "kubeadm.k8s.io/v1beta4"
        args = doc["apiServer"]["extraArgs"]
        assert all(isinstance(a, dict) and set(a) == {"name", "value"} and isinstance(a["value"], str) for a in args)
        assert set(doc) == {"apiVersion", "kind", "apiServer"}
    elif kind == "Cluster":
        assert doc["apiVersion"] == "kind.x-k8s.io/v1alpha4"
        [node] = doc["nodes"]
        [patch_text] = node["kubeadmConfigPatches"]
        patch = yaml.safe_load(patch_text)
        assert patch["kind"] == "ClusterConfiguration"
        args = patch["apiServer"]["extraArgs"]
        assert all(isinstance(v, str) for v in args.values())  # kind's kubeadm v1beta3: a map of strings
        [mount] = node["extraMounts"]
        [volume] = patch["apiServer"]["extraVolumes"]
        assert volume["hostPath"] == mount["containerPath"] == "/etc/kubernetes/oidc"
        assert args["service-account-signing-key-file"].startswith(volume["mountPath"] + "/")
    elif kind == "Kustomization":
        assert doc["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    elif "kube-apiserver-arg" in doc:
        assert set(doc) == {"kube-apiserver-arg"}
        assert all(isinstance(a, str) and "=" in a and not a.startswith("-") for a in doc["kube-apiserver-arg"])
    elif "cluster" in doc:
        assert set(doc) == {"cluster"} and set(doc["cluster"]) == {"apiServer"}
        assert all(isinstance(v, str) for v in doc["cluster"]["apiServer"]["extraArgs"].values())
    else:
        pytest.fail(f"unexpected document {doc}")


def apiserver_flags(distribution: str, text: str) -> list[tuple[str, str]]:
    """The (flag, value) pairs the API server ends up with, in order, for each configuration shape."""
    [doc] = documents(text)
    if distribution == "kubeadm":
        return [(a["name"], a["value"]) for a in doc["apiServer"]["extraArgs"]]
    if distribution in ("k3s", "rke2"):
        return [tuple(a.split("=", 1)) for a in doc["kube-apiserver-arg"]]  # type: ignore[misc]
    if distribution == "kind":
        return list(yaml.safe_load(doc["nodes"][0]["kubeadmConfigPatches"][0])["apiServer"]["extraArgs"].items())
    return list(doc["cluster"]["apiServer"]["extraArgs"].items())


@pytest.mark.parametrize("distribution", ["kubeadm", "k3s", "rke2", "kind", "talos"])
def test_api_server_flags(tmp_path: Path, distribution: str) -> None:
    [text] = render_to(tmp_path, distribution).values()
    flags = dict(apiserver_flags(distribution, text))
    assert flags["service-account-issuer"] == ISSUER
    assert flags["service-account-jwks-uri"] == f"{ISSUER}/openid/v1/jwks"
    own = {"k3s": [PREVIOUS, "k3s"], "rke2": [PREVIOUS, "rke2"]}.get(distribution, [])
    assert flags["api-audiences"].split(",") == [ISSUER, *own]
    keys = {
        "kubeadm": ("/etc/kubernetes/pki/sa.pub", "/etc/kubernetes/pki/sa.key"),
        "kind": ("/etc/kubernetes/oidc/sa-signer.pub", "/etc/kubernetes/oidc/sa-signer.key"),
    }.get(distribution)
    if keys:
        assert (flags["service-account-key-file"], flags["service-account-signing-key-file"]) == keys
    else:  # k3s, RKE2 and Talos manage their key files themselves
        assert "service-account-key-file" not in flags and "service-account-signing-key-file" not in flags


@pytest.mark.parametrize("distribution", ["kubeadm", "k3s", "rke2"])
def test_non_disruptive_issuer_change_lists_the_new_issuer_first(tmp_path: Path, distribution: str) -> None:
    [text] = render_to(tmp_path, distribution, "--previous-issuer", PREVIOUS).values()
    flags = apiserver_flags(distribution, text)
    assert [v for f, v in flags if f == "service-account-issuer"] == [ISSUER, PREVIOUS]  # the first one signs
    [audiences] = [v for f, v in flags if f == "api-audiences"]
    # Tokens already in pods were minted for the previous issuer: it stays an audience too.
    assert audiences.split(",")[:2] == [ISSUER, PREVIOUS]
    assert "sts.amazonaws.com" not in audiences.split(",")
    assert f"# The new issuer comes first: it signs new tokens. {PREVIOUS} stays accepted" in text


@pytest.mark.parametrize(
    ("distribution", "message"),
    [
        (
            "kind",
            "error: kind takes one issuer; kind's kubeadm patch holds one value per flag; create the kind cluster "
            "with the new issuer instead",
        ),
        (
            "talos",
            "error: talos takes one issuer; Talos' cluster.apiServer.extraArgs holds one value per flag; plan the "
            "change for a maintenance window (pods' tokens are refreshed within the hour) and drop --previous-issuer",
        ),
    ],
)
def test_single_issuer_distributions_refuse_a_previous_issuer(tmp_path: Path, distribution: str, message: str) -> None:
    result = invoke(
        "templates",
        "render",
        "--distribution",
        distribution,
        "--issuer-url",
        ISSUER,
        "--previous-issuer",
        PREVIOUS,
        "--out",
        str(tmp_path / "o"),
    )
    assert (result.exit_code, result.stderr.strip(), result.stdout) == (2, message, "")
    assert not (tmp_path / "o").exists()


def test_webhook(tmp_path: Path) -> None:
    [text] = render_to(tmp_path, "pod-identity-webhook").values()
    objects = {d["kind"]: d for d in documents(text)}
    assert list(objects) == [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Issuer",
        "Certificate",
        "Deployment",
        "Service",
        "MutatingWebhookConfiguration",
    ]
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    # Pinned by digest (v0.6.17's multi-arch index), the tag in a comment beside it.
    assert container["image"] == WEBHOOK_IMAGE == (
        "public.ecr.aws/eks/amazon-eks-pod-identity-webhook@sha256:3071570e8e8cba6d5aff01e86d52bc91025a0578782aa9cd2b681480845b0a50"
    )
    assert "# amazon-eks-pod-identity-webhook v0.6.17, pinned by digest\n" in text
    args = container["command"]
    for arg in (
        "--in-cluster=false",
        "--annotation-prefix=eks.amazonaws.com",
        "--token-audience=sts.amazonaws.com",
        "--tls-cert=/etc/webhook/certs/tls.crt",
        "--tls-key=/etc/webhook/certs/tls.key",
        "--port=9443",
    ):
        assert arg in args
    assert not any(a.startswith("--aws-default-region") for a in args)  # only with --region
    [mount] = container["volumeMounts"]
    assert mount["mountPath"] == "/etc/webhook/certs"
    [volume] = pod["volumes"]
    assert volume["secret"]["secretName"] == objects["Certificate"]["spec"]["secretName"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["runAsNonRoot"] is True
    [port] = objects["Service"]["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (443, "https")
    assert {"name": "https", "containerPort": 9443} in container["ports"]
    hook = objects["MutatingWebhookConfiguration"]
    # cert-manager injects the CA of the Certificate NAMESPACE/NAME into the caBundle.
    cert = objects["Certificate"]["metadata"]
    assert hook["metadata"]["annotations"] == {"cert-manager.io/inject-ca-from": f"{cert['namespace']}/{cert['name']}"}
    [webhook] = hook["webhooks"]
    assert webhook["clientConfig"]["service"] == {
        "name": "pod-identity-webhook",
        "namespace": "pod-identity-webhook",
        "path": "/mutate",
    }
    assert webhook["failurePolicy"] == "Ignore"
    service_dns = f"{objects['Service']['metadata']['name']}.{objects['Service']['metadata']['namespace']}.svc"
    assert service_dns in objects["Certificate"]["spec"]["dnsNames"]
    [rule] = objects["ClusterRole"]["rules"]
    assert rule == {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "watch", "list"]}

    [text] = render_to(
        tmp_path / "r",
        "pod-identity-webhook",
        "--region",
        "ap-southeast-2",
        "--image",
        "registry.example.com/webhook@sha256:" + "a" * 64,
    ).values()
    [container] = next(d for d in documents(text) if d["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"
    ]
    assert "--aws-default-region=ap-southeast-2" in container["command"]
    assert container["image"] == "registry.example.com/webhook@sha256:" + "a" * 64


def test_rotation_job_is_hardened_and_least_privileged(tmp_path: Path) -> None:
    files = render_to(
        tmp_path,
        "rotation-job",
        *JOB,
        "--prefix",
        "/clusters/prod/",
        "--distribution-id",
        "E2EXAMPLE",
        "--image",
        "registry.example.com/oidc-publisher:0.1.0",
    )
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert set(kustomization) == {"apiVersion", "kind", "resources"}
    # Exactly the manifests present: every Kubernetes file, and nothing else (iam-policy.json is for IAM).
    assert sorted(kustomization["resources"]) == sorted(
        n for n in files if n.endswith(".yaml") and n != "kustomization.yaml"
    )
    assert sorted(files) == sorted(Path(f).name for f in FILES["rotation-job"])

    [cron] = documents(files["cronjob.yaml"])
    spec = cron["spec"]
    assert spec["schedule"] == "*/5 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["startingDeadlineSeconds"] < 300  # shorter than the period: a missed run is skipped
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 1 and job["activeDeadlineSeconds"] <= 300
    pod = job["template"]["spec"]
    assert pod["serviceAccountName"] == "oidc-publisher" and pod["restartPolicy"] == "Never"
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    [container] = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    resources = container["resources"]
    assert set(resources) == {"requests", "limits"}
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    assert container["image"] == "registry.example.com/oidc-publisher:0.1.0"
    assert container["args"] == [
        "publish",
        "--from-cluster",
        "--prefix",
        "clusters/prod",
        "--distribution-id",
        "E2EXAMPLE",
        "--output",
        "json",
    ]
    assert container["env"][:5] == [
        {"name": "AWS_DEFAULT_REGION", "value": "eu-west-1"},  # the one boto3 reads
        {"name": "AWS_REGION", "value": "eu-west-1"},
        {"name": "OIDC_PUBLISHER_ISSUER_URL", "value": ISSUER},  # said once, for every run of the job
        {"name": "OIDC_PUBLISHER_BUCKET", "value": "issuer-bucket"},
        {"name": "OIDC_PUBLISHER_REGION", "value": "eu-west-1"},
    ]
    # The read-only root filesystem leaves /tmp (HOME) as the only writable place.
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]

    [namespace] = documents(files["namespace.yaml"])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    [sa] = documents(files["serviceaccount.yaml"])
    assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": ROLE}
    [binding] = documents(files["clusterrolebinding.yaml"])
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "system:service-account-issuer-discovery",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": sa["metadata"]["namespace"]}
    ]

    policy = json.loads(files["iam-policy.json"])
    assert policy["Statement"] == [
        {
            "Sid": "ReadAndWriteTheIssuerDocumentsAndState",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [
                "arn:aws:s3:::issuer-bucket/clusters/prod/openid/v1/jwks",
                "arn:aws:s3:::issuer-bucket/clusters/prod/.well-known/openid-configuration",
                "arn:aws:s3:::issuer-bucket/clusters/prod/.oidc-publisher/state.json",
            ],
        },
        {
            "Sid": "TellMissingObjectsFromDenials",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::issuer-bucket",
        },
        {
            "Sid": "InvalidateTheIssuerDocuments",
            "Effect": "Allow",
            "Action": "cloudfront:CreateInvalidation",
            "Resource": "arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE",
        },
    ]


def test_rotation_job_for_an_s3_direct_issuer_in_another_partition(tmp_path: Path) -> None:
    files = render_to(
        tmp_path,
        "rotation-job",
        "--bucket",
        "my-cluster-oidc",
        "--role-arn",
        "arn:aws-cn:iam::123456789012:role/jobs/oidc-publisher",
        "--image",
        JOB_IMAGE,
        issuer=S3_ISSUER,
    )
    [cron] = documents(files["cronjob.yaml"])
    [container] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["publish", "--from-cluster", "--output", "json"]
    assert container["env"][:5] == [  # the issuer's region
        {"name": "AWS_DEFAULT_REGION", "value": "eu-west-1"},
        {"name": "AWS_REGION", "value": "eu-west-1"},
        {"name": "OIDC_PUBLISHER_ISSUER_URL", "value": S3_ISSUER},
        {"name": "OIDC_PUBLISHER_BUCKET", "value": "my-cluster-oidc"},
        {"name": "OIDC_PUBLISHER_REGION", "value": "eu-west-1"},
    ]
    assert container["image"] == JOB_IMAGE
    policy = json.loads(files["iam-policy.json"])
    assert [s["Sid"] for s in policy["Statement"]] == [
        "ReadAndWriteTheIssuerDocumentsAndState",
        "TellMissingObjectsFromDenials",
    ]
    assert policy["Statement"][0]["Resource"] == [
        "arn:aws-cn:s3:::my-cluster-oidc/openid/v1/jwks",
        "arn:aws-cn:s3:::my-cluster-oidc/.well-known/openid-configuration",
        "arn:aws-cn:s3:::my-cluster-oidc/.oidc-publisher/state.json",
    ]


def test_the_rotation_jobs_policy_is_what_publish_is_declared_to_call(tmp_path: Path) -> None:
    """Made from the declaration (core/permissions.py), not from a text template: its actions are exactly
    those of the calls publish may make, reads and writes, and the file is the policy as built."""
    from oidc_publisher.core.operations import SURFACE
    from oidc_publisher.core.permissions import COMMANDS, policy_text

    files = render_to(tmp_path, "rotation-job", "--distribution-id", "E2EXAMPLE")
    policy = json.loads(files["iam-policy.json"])
    granted = [a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert sorted(granted) == sorted({a for call in COMMANDS["publish"] for a in SURFACE[call].actions}) == [
        "cloudfront:CreateInvalidation", "s3:GetObject", "s3:ListBucket", "s3:PutObject",
    ]
    assert files["iam-policy.json"] == policy_text(policy)
    assert not (templates_root() / "rotation-job" / "iam-policy.json").is_file()


def test_rendered_rotation_job_runs_as_its_pod_would(aws: AwsWorld, front: Front, kube_api: KubeAPI, tmp_path: Path) -> None:
    """The CronJob's container, as rendered: its args, and only the environment the manifest gives it
    (boto3 reads AWS_DEFAULT_REGION, not AWS_REGION), against a CloudFront issuer in eu-west-1. The
    cluster has gained a key: the job publishes it and invalidates the JWKS."""
    from oidc_publisher.core.keys import signing_key

    front("job-issuer", ("*.cloudfront.net",), region="eu-west-1")
    k1, k2 = keys.rsa_key(), keys.rsa_key()  # both RS256: the discovery document stays as it is
    one = keys.write(tmp_path / "one.pub", keys.public_pem(k1))
    boot = invoke("bootstrap", "--bucket", "job-issuer", "--region", "eu-west-1", "--cloudfront", "--public-key", str(one), "-o", "json")
    assert boot.exit_code == 0, boot.stderr
    issuer, distribution_id = boot.json()["issuer"], boot.json()["distribution_id"]
    out = tmp_path / "job"
    rendered = invoke("templates", "render", "--distribution", "rotation-job", "--issuer-url", issuer, "--bucket", "job-issuer",
                      "--region", "eu-west-1", "--role-arn", ROLE, "--distribution-id", distribution_id, "--image", JOB_IMAGE,
                      "--out", str(out))
    assert rendered.exit_code == 0, rendered.stderr
    [cron] = [d for d in yaml.safe_load_all((out / "cronjob.yaml").read_text()) if d]
    [container] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    kube_api.issuer = issuer
    kube_api.keys = [k1, k2]
    # Nothing of the test machine's region settings: the pod has only what the manifest says.
    env: dict[str, str | None] = {"AWS_REGION": None, "AWS_DEFAULT_REGION": None}
    env.update({e["name"]: e["value"] for e in container["env"]})
    env["KUBECONFIG"] = str(kube_api.kubeconfig(tmp_path / "kubeconfig"))  # in-cluster, the pod's service account
    cf = aws.client("cloudfront")
    before = len(cf.list_invalidations(DistributionId=distribution_id)["InvalidationList"].get("Items", []))
    aws.recorder.reset()

    result = invoke(*container["args"], env=env)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.stdout + result.stderr
    body = result.json()
    kid1, kid2 = (signing_key(p.public_key(), "x").kid for p in (k1, k2))
    assert body["added"] == [kid2] and sorted(body["keys"]) == sorted([kid1, kid2])
    jwks = json.loads(aws.client("s3", "eu-west-1").get_object(Bucket="job-issuer", Key="openid/v1/jwks")["Body"].read())
    assert sorted(key["kid"] for key in jwks["keys"]) == sorted([kid1, kid2])
    invalidations = cf.list_invalidations(DistributionId=distribution_id)["InvalidationList"]["Items"]
    assert len(invalidations) == before + 1
    assert body["invalidation_id"] in [i["Id"] for i in invalidations]
    made = cf.get_invalidation(DistributionId=distribution_id, Id=body["invalidation_id"])["Invalidation"]
    assert made["InvalidationBatch"]["Paths"]["Items"] == ["/openid/v1/jwks"]
    # Every call the job made is one its rendered iam-policy.json allows, on exactly that resource.
    policy = json.loads((out / "iam-policy.json").read_text())
    calls = list(zip(aws.recorder.calls, aws.recorder.paths))
    assert {op for (_, op), _ in calls} == {"GetObject", "PutObject", "CreateInvalidation"}
    for (service, operation), path in calls:
        path = path.split("?")[0]
        if service == "s3" and operation in ("GetObject", "PutObject"):
            action, resource = f"s3:{operation}", f"arn:aws:s3:::{path.lstrip('/')}"
        elif service == "s3" and operation in ("HeadBucket", "ListObjects"):
            action, resource = "s3:ListBucket", f"arn:aws:s3:::{path.strip('/')}"
        elif service == "cloudfront" and operation == "CreateInvalidation":
            target = path.split("/distribution/")[1].split("/")[0]
            action, resource = "cloudfront:CreateInvalidation", f"arn:aws:cloudfront::123456789012:distribution/{target}"
        else:
            pytest.fail(f"the job called {service}:{operation}, which its iam-policy.json does not allow")
        assert any(
            st["Effect"] == "Allow" and action in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
            and resource in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])
            for st in policy["Statement"]
        ), f"iam-policy.json does not allow {action} on {resource}"
    again = invoke(*container["args"], env=env)  # type: ignore[arg-type]
    assert (again.exit_code, again.json()["changed"]) == (0, False)


def test_stdout(tmp_path: Path) -> None:
    single = invoke("templates", "render", "--distribution", "pod-identity-webhook", "--issuer-url", ISSUER)
    assert single.exit_code == 0
    written = render_to(tmp_path, "pod-identity-webhook")["webhook.yaml"]
    assert single.stdout == written  # the same bytes, printed
    assert [d["kind"] for d in documents(single.stdout)][-1] == "MutatingWebhookConfiguration"
    several = invoke("templates", "render", "--distribution", "rotation-job", "--issuer-url", ISSUER, *JOB)
    assert several.exit_code == 0
    headers = [line for line in several.stdout.splitlines() if line.startswith("# ==> ")]
    assert headers == [f"# ==> {Path(f).name} <==" for f in FILES["rotation-job"]]
    as_json = invoke("templates", "render", "--distribution", "k3s", "--issuer-url", ISSUER, "--output", "json").json()
    assert set(as_json) == {"distribution", "files", "written"} and list(as_json["files"]) == ["k3s.yaml"]
    listing = invoke("templates", "list")
    assert [line.split()[0] for line in listing.stdout.splitlines()] == list(DISTRIBUTIONS)
    assert invoke("templates", "list", "--output", "json").json()["templates"][-1]["files"][-1] == "iam-policy.json"


def test_writes_and_refuses_to_overwrite(tmp_path: Path) -> None:
    files = render_to(tmp_path, "k3s")
    target = tmp_path / "k3s" / "k3s.yaml"
    target.write_text("mine\n")
    again = invoke(
        "templates", "render", "--distribution", "k3s", "--issuer-url", ISSUER, "--out", str(tmp_path / "k3s")
    )
    assert (again.exit_code, again.stdout) == (2, "")
    assert again.stderr == f"error: {target} already exists; use --force to overwrite, or another --out directory\n"
    assert target.read_text() == "mine\n"
    forced = invoke(
        "templates",
        "render",
        "--distribution",
        "k3s",
        "--issuer-url",
        ISSUER,
        "--out",
        str(tmp_path / "k3s"),
        "--force",
    )
    assert (forced.exit_code, forced.stdout) == (0, f"Wrote {target}\n")
    assert target.read_text() == files["k3s.yaml"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--distribution", "kubeadm", "--issuer-url", "http://x.example.com"),
            "error: issuer URL 'http://x.example.com' is not https; IAM and STS only accept https:// issuers; serve the "
            "documents over HTTPS (S3, CloudFront)",
        ),
        (
            ("--distribution", "minikube", "--issuer-url", ISSUER),
            f"error: unknown distribution 'minikube'; choose one of: {', '.join(DISTRIBUTIONS)}",
        ),
        (
            ("--distribution", "kubeadm", "--issuer-url", ISSUER, "--previous-issuer", ISSUER),
            "error: --previous-issuer is the same as --issuer-url; give the issuer the cluster used before",
        ),
        (
            ("--distribution", "rotation-job", "--issuer-url", ISSUER, "--role-arn", ROLE, "--region", "eu-west-1"),
            "error: the rotation job needs --bucket; give the bucket the issuer is published to",
        ),
        (
            ("--distribution", "rotation-job", "--issuer-url", ISSUER, "--bucket", "b-1", "--region", "eu-west-1"),
            "error: the rotation job needs --role-arn (the IAM role its service account assumes); create one with the "
            "policy in iam-policy.json: oidc-publisher role create --policy-file ...",
        ),
        (
            (
                "--distribution",
                "rotation-job",
                "--issuer-url",
                ISSUER,
                "--bucket",
                "b-1",
                "--role-arn",
                'x"\n  evil: 1',
            ),
            "error: --role-arn 'x\"\\n  evil: 1' is not an IAM role ARN; give one like arn:aws:iam::123456789012:role/NAME",
        ),
        (
            ("--distribution", "rotation-job", "--issuer-url", ISSUER, "--bucket", "b-1", "--role-arn", ROLE),
            "error: the rotation job needs --region for an issuer that is not S3-direct; give the bucket's region",
        ),
        (
            (
                "--distribution",
                "rotation-job",
                "--issuer-url",
                S3_ISSUER,
                "--bucket",
                "my-cluster-oidc",
                "--role-arn",
                ROLE,
                "--region",
                "us-east-1",
            ),
            "error: --region us-east-1 disagrees with the issuer URL's region eu-west-1; drop --region",
        ),
        (
            (
                "--distribution",
                "rotation-job",
                "--issuer-url",
                S3_ISSUER,
                "--bucket",
                "other-bucket",
                "--role-arn",
                ROLE,
            ),
            f"error: issuer {S3_ISSUER} is served by bucket 'my-cluster-oidc', not 'other-bucket'; use the bucket named in "
            "the issuer URL, or an issuer URL for this bucket",
        ),
        (
            ("--distribution", "rotation-job", "--issuer-url", ISSUER, *JOB, "--prefix", 'a"b'),
            "error: --prefix 'a\"b' contains quotes, backslashes or control characters; remove them",
        ),
        (
            ("--distribution", "rotation-job", "--issuer-url", "https://d111111abcdef8.cloudfront.net", *JOB),
            "error: the issuer https://d111111abcdef8.cloudfront.net is served by CloudFront, and the rotation job "
            "invalidates it after each change; give --distribution-id (bootstrap prints it) so that the job's policy "
            "allows cloudfront:CreateInvalidation",
        ),
        (
            ("--distribution", "rotation-job", "--issuer-url", ISSUER, *JOB, "--distribution-id", "e2-bad"),
            "error: --distribution-id 'e2-bad' is not a CloudFront distribution ID; give one like E2EXAMPLE123",
        ),
        (
            ("--distribution", "pod-identity-webhook", "--issuer-url", ISSUER, "--region", "Europe"),
            "error: region 'Europe' is not an AWS region name; give one like eu-west-1",
        ),
        (
            ("--distribution", "pod-identity-webhook", "--issuer-url", ISSUER, "--image", "img:1\n  hostNetwork: true"),
            "error: image 'img:1\\n  hostNetwork: true' is not a container image reference; give one like REGISTRY/NAME:TAG",
        ),
        (
            ("--distribution", "kind", "--issuer-url", ISSUER, "--key-dir", "/tmp/my keys"),
            "error: --key-dir '/tmp/my keys' contains whitespace, quotes or shell characters; give a plain directory path",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    out = tmp_path / "out"
    result = invoke("templates", "render", *args, "--out", str(out))
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message + "\n")
    assert not out.exists()
    as_json = invoke("templates", "render", *args, "--output", "json")
    assert as_json.exit_code == 2


def test_rotation_job_without_image_is_refused_with_the_fix(tmp_path: Path) -> None:
    """No registry has an oidc-publisher image: a default reference would only fail later, in the cluster
    (ImagePullBackOff). Without --image the job is refused: one line, exit 2, nothing written."""
    out = tmp_path / "job"
    args = ("templates", "render", "--distribution", "rotation-job", "--issuer-url", S3_ISSUER, "--bucket", "my-cluster-oidc",
            "--role-arn", ROLE)
    result = invoke(*args, "--out", str(out))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: the rotation job needs --image: no registry publishes an oidc-publisher image; build it from the "
        "repository's Dockerfile, push it where the cluster pulls from, and give --image REGISTRY/oidc-publisher:0.1.0\n"
    )
    assert not out.exists()
    assert invoke(*args, "--output", "json").exit_code == 2
    assert invoke(*args, "--image", JOB_IMAGE, "--out", str(out)).exit_code == 0


def test_unfilled_or_stray_placeholders_fail_clearly() -> None:
    with pytest.raises(InputError) as missing:
        fill("x.yaml", "a: ${issuer_url}\nb: $bucket\nc: $$literal\n", {"issuer_url": ISSUER})
    assert str(missing.value) == (
        "template x.yaml has no value for bucket; this is a bug in the template or in oidc-publisher; please report it"
    )
    with pytest.raises(InputError) as stray:
        placeholders("a: 1\nb: $ 2\n")
    assert str(stray.value) == "template has a stray '$' on line 2; write '$$' for a literal dollar sign"
    assert fill("x", "c: $$literal", {}) == "c: $literal"


def test_every_template_file_is_listed_and_every_listed_file_exists() -> None:
    on_disk = {p.relative_to(ROOT / "templates").as_posix() for p in (ROOT / "templates").rglob("*") if p.is_file()}
    assert on_disk == {f for files in FILES.values() for f in files} - set(GENERATED)  # those are made from data
    packaged = templates_root()
    for files in FILES.values():
        for name in set(files) - set(GENERATED):
            assert (packaged / name).read_text(encoding="utf-8") == (ROOT / "templates" / name).read_text()


def test_templates_ship_in_the_wheel(tmp_path: Path) -> None:
    """Built the way a release is; the installed wheel finds them through importlib.resources, as the CLI does."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = (tmp_path / "dist").glob("oidc_publisher-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for files in FILES.values():
            for name in set(files) - set(GENERATED):
                assert (
                    archive.read(f"oidc_publisher/templates/{name}").decode() == (ROOT / "templates" / name).read_text()
                )
        archive.extractall(tmp_path / "site")
    assert not any(n.startswith("templates/") for n in names)  # inside the package, not a top-level folder
    code = (
        "from oidc_publisher.commands.templates import render_templates, TemplateSettings; import oidc_publisher; "
        "print(oidc_publisher.__file__); "
        f"print(render_templates(TemplateSettings('k3s', {ISSUER!r})).files['k3s.yaml'])"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r}); {code}"],
        capture_output=True,
        text=True,
        check=True,
    )
    where, _, text = result.stdout.partition("\n")
    assert where.startswith(str(tmp_path / "site"))
    assert f'"service-account-issuer={ISSUER}"' in text
