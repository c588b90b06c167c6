"""Fill the templates under ``templates/``: API server configuration per distribution, the pod
identity webhook, and the rotation job. Pure apart from reading the packaged template files.

Templates use ``string.Template`` placeholders; every placeholder must be filled, or rendering fails.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from oidc_publisher import __version__
from oidc_publisher.errors import InputError
from oidc_publisher.issuer import object_keys_for, parse_issuer

WEBHOOK_IMAGE = "amazon/amazon-eks-pod-identity-webhook:v0.5.7"
DEFAULT_IMAGE = f"oidc-publisher:{__version__}"

# Where each distribution keeps the service-account key pair by default.
KEY_FILES = {
    "kubeadm": ("/etc/kubernetes/pki/sa.pub", "/etc/kubernetes/pki/sa.key"),
    "k3s": ("/var/lib/rancher/k3s/server/tls/service.key", "/var/lib/rancher/k3s/server/tls/service.key"),
    "rke2": ("/var/lib/rancher/rke2/server/tls/service.key", "/var/lib/rancher/rke2/server/tls/service.key"),
    "kind": ("/etc/kubernetes/oidc/sa-signer.pub", "/etc/kubernetes/oidc/sa-signer.key"),
    "talos": ("", ""),
}
FILES = {
    "kubeadm": ("apiserver/kubeadm.yaml",),
    "k3s": ("apiserver/k3s.yaml",),
    "rke2": ("apiserver/rke2.yaml",),
    "kind": ("apiserver/kind.yaml",),
    "talos": ("apiserver/talos.yaml",),
    "pod-identity-webhook": ("pod-identity-webhook/webhook.yaml",),
    "rotation-job": (
        "rotation-job/kustomization.yaml",
        "rotation-job/namespace.yaml",
        "rotation-job/serviceaccount.yaml",
        "rotation-job/clusterrolebinding.yaml",
        "rotation-job/cronjob.yaml",
        "rotation-job/iam-policy.json",
    ),
}
DISTRIBUTIONS = tuple(FILES)


@dataclass(frozen=True)
class TemplateSettings:
    distribution: str
    issuer_url: str
    previous_issuer: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    role_arn: str | None = None
    image: str | None = None
    region: str = "us-east-1"
    distribution_id: str | None = None
    key_dir: str | None = None
    partition: str = "aws"


@dataclass
class Rendered:
    distribution: str
    files: dict[str, str] = field(default_factory=dict)  # name relative to the output dir -> text
    written: list[Path] = field(default_factory=list)
    exit_code: int = 0

    def to_text(self) -> str:
        if self.written:
            return "\n".join(f"Wrote {path}" for path in self.written)
        if len(self.files) == 1:
            return next(iter(self.files.values())).rstrip("\n")
        return "\n".join(f"# ==> {name} <==\n{text.rstrip()}" for name, text in self.files.items())

    def to_json(self) -> dict[str, Any]:
        return {"distribution": self.distribution, "files": self.files, "written": [str(p) for p in self.written]}


def template_text(name: str) -> str:
    return (resources.files("oidc_publisher") / "templates" / name).read_text(encoding="utf-8")


def _values(settings: TemplateSettings) -> dict[str, str]:
    issuer = parse_issuer(settings.issuer_url)
    previous = parse_issuer(settings.previous_issuer).url if settings.previous_issuer else None
    if previous == issuer.url:
        raise InputError("--previous-issuer is the same as --issuer-url", "give the issuer the cluster used before")
    issuers = [issuer.url, *([previous] if previous else [])]
    public_key, signing_key = KEY_FILES.get(settings.distribution, ("", ""))
    note = (
        f"The new issuer comes first (it signs new tokens); {previous} stays accepted until every token it "
        "signed has expired (24 h for IRSA tokens), then remove it."
        if previous
        else ""
    )
    values = {
        "issuer_url": issuer.url,
        "jwks_uri": issuer.default_jwks_uri,
        # The API server's own audiences: the issuer (what in-cluster clients get by default) and the
        # previous one while old tokens live. Never sts.amazonaws.com: tokens for STS must not be
        # accepted by the API server.
        "api_audiences": ",".join(issuers),
        "public_key_file": public_key,
        "signing_key_file": signing_key,
        "issuer_note": note,
        "kubeadm_issuer_args": "\n".join(
            f'    - name: service-account-issuer\n      value: "{url}"' for url in issuers
        ),
        "list_issuer_args": "\n".join(f'  - "service-account-issuer={url}"' for url in issuers),
        "kind_issuer_args": f'            service-account-issuer: "{issuer.url}"',
        "talos_note": (
            "Talos takes one value per flag, so a second --service-account-issuer cannot be kept here: "
            f"keep publishing {previous} until its tokens have expired."
            if previous
            else ""
        ),
        "key_dir": settings.key_dir or "./sa",
        "webhook_image": settings.image or WEBHOOK_IMAGE,
        "region": settings.region,
    }
    if settings.distribution == "kind" and previous:
        raise InputError("kind clusters take one issuer", "create the kind cluster with the new issuer; drop --previous-issuer")
    if settings.distribution == "rotation-job":
        if not settings.bucket:
            raise InputError("the rotation job needs --bucket", "give the bucket the issuer is published to")
        if not settings.role_arn:
            raise InputError(
                "the rotation job needs --role-arn (the IAM role its service account assumes)",
                "create one with the policy in iam-policy.json: oidc-publisher role create --policy-file ...",
            )
        keys = object_keys_for(issuer, settings.bucket, settings.prefix)
        image = settings.image or DEFAULT_IMAGE
        name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
        values.update(
            bucket=settings.bucket,
            role_arn=settings.role_arn,
            image_name=name,
            image_tag=tag,
            partition=settings.partition,
            key_prefix=f"{keys.prefix}/" if keys.prefix else "",
            prefix_arg=f"                - --prefix={keys.prefix}\n" if settings.prefix is not None else "",
            distribution_arg=(
                f"                - --distribution-id={settings.distribution_id}\n" if settings.distribution_id else ""
            ),
            invalidation_statement=(
                ',\n    {\n      "Sid": "InvalidateTheIssuerDocuments",\n      "Effect": "Allow",\n'
                '      "Action": "cloudfront:CreateInvalidation",\n'
                f'      "Resource": "arn:{settings.partition}:cloudfront::*:distribution/{settings.distribution_id}"\n    }}'
                if settings.distribution_id
                else ""
            ),
        )
    return values


def render_templates(settings: TemplateSettings, out_dir: Path | None = None, *, force: bool = False) -> Rendered:
    if settings.distribution not in FILES:
        raise InputError(
            f"unknown distribution {settings.distribution!r}", f"choose one of: {', '.join(DISTRIBUTIONS)}"
        )
    values = _values(settings)
    rendered = Rendered(settings.distribution)
    for name in FILES[settings.distribution]:
        try:
            text = string.Template(template_text(name)).substitute(values)
        except KeyError as exc:
            raise InputError(f"template {name} needs a value for {exc.args[0]}", "give the matching option") from None
        rendered.files[Path(name).name] = text
    if out_dir is not None:
        from oidc_publisher.files import ensure_dir, write_atomic

        targets = [out_dir / name for name in rendered.files]
        existing = [p for p in targets if p.exists()]
        if existing and not force:
            raise InputError(f"{existing[0]} already exists", "use --force to overwrite, or another --out directory")
        ensure_dir(out_dir)
        for path in targets:
            write_atomic(path, rendered.files[path.name].encode())
            rendered.written.append(path)
    return rendered
