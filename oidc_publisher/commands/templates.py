"""Fill the templates under ``templates/``: API server configuration per distribution, the pod identity
webhook, and the rotation job. Pure apart from reading the packaged template files (and writing them
when asked to).

Templates use ``string.Template`` placeholders; every placeholder must be filled, or rendering fails
before anything is written. Every value that reaches a template is validated first, so no option can
smuggle YAML or JSON structure into the output.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oidc_publisher import __version__
from oidc_publisher.core.errors import InputError, UsageError
from oidc_publisher.core.issuer import Issuer, object_keys_for, parse_issuer, validate_bucket_name
from oidc_publisher.core.permissions import policy_text, rotation_job_policy

if TYPE_CHECKING:
    from importlib.abc import Traversable

# Published by the upstream project (aws/amazon-eks-pod-identity-webhook) to ECR Public on each release
# tag, pinned here by digest: a tag can be moved, a digest cannot. This is v0.6.17's multi-arch index
# (`docker buildx imagetools inspect public.ecr.aws/eks/amazon-eks-pod-identity-webhook:v0.6.17`);
# override with --image (a mirror, a newer release).
WEBHOOK_IMAGE_TAG = "v0.6.17"
WEBHOOK_IMAGE = (
    "public.ecr.aws/eks/amazon-eks-pod-identity-webhook"
    "@sha256:3071570e8e8cba6d5aff01e86d52bc91025a0578782aa9cd2b681480845b0a50"
)
# Built from this repository's Dockerfile and pushed wherever the cluster pulls from: the project
# publishes no image, so this is only the tag docs/templates.md builds; --image is required.
DEFAULT_IMAGE = f"oidc-publisher:{__version__}"
# The audience kube-apiserver gives tokens when it was never told otherwise: the first issuer, which is
# this on kubeadm, kind, k3s and RKE2 (cluster domain cluster.local).
DEFAULT_CLUSTER_AUDIENCE = "https://kubernetes.default.svc.cluster.local"

FILES: dict[str, tuple[str, ...]] = {
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
# Files made from data rather than from a text template: the value that holds each one's text.
GENERATED = {"rotation-job/iam-policy.json": "iam_policy"}
DISTRIBUTIONS = tuple(FILES)
DESCRIPTIONS = {
    "kubeadm": "ClusterConfiguration (kubeadm v1beta4) with the issuer flags",
    "k3s": "kube-apiserver-arg lines for /etc/rancher/k3s/config.yaml",
    "rke2": "kube-apiserver-arg lines for /etc/rancher/rke2/config.yaml",
    "kind": "kind cluster config that mounts your key pair and sets the issuer flags",
    "talos": "machine config patch for control-plane nodes",
    "pod-identity-webhook": "amazon-eks-pod-identity-webhook for a non-EKS cluster (needs cert-manager)",
    "rotation-job": "kustomize base for the CronJob that runs publish --from-cluster, and its IAM policy",
}
# Audiences a distribution sets by itself, kept so that nothing which relies on them breaks: k3s and RKE2
# pass --api-audiences=https://kubernetes.default.svc.cluster.local,<program name> to kube-apiserver.
OWN_AUDIENCES = {
    "k3s": (DEFAULT_CLUSTER_AUDIENCE, "k3s"),
    "rke2": (DEFAULT_CLUSTER_AUDIENCE, "rke2"),
}
# Distributions whose configuration holds one value per flag: a second --service-account-issuer
# cannot be expressed there, so a non-disruptive issuer change is impossible and we refuse to pretend.
SINGLE_ISSUER = {
    "kind": "kind's kubeadm patch holds one value per flag; create the kind cluster with the new issuer instead",
    "talos": "Talos' cluster.apiServer.extraArgs holds one value per flag; plan the change for a maintenance "
    "window (pods' tokens are refreshed within the hour) and drop --previous-issuer",
}

_ROLE_ARN = re.compile(r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::(?P<account>\d{12}):role/[\w+=,.@/-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$")
_DISTRIBUTION_ID = re.compile(r"^[A-Z0-9]{1,32}$")
_SAFE_PATH = re.compile(r"^[^\s\"'\\$`#]+$")


@dataclass(frozen=True)
class TemplateSettings:
    distribution: str
    issuer_url: str
    previous_issuer: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    role_arn: str | None = None
    image: str | None = None
    region: str | None = None
    distribution_id: str | None = None
    key_dir: str | None = None
    member: str | None = None  # rotation-job: the cluster's name in an issuer shared by several


@dataclass
class Rendered:
    """The filled templates, by file name; and where they were written, when they were."""

    distribution: str
    files: dict[str, str] = field(default_factory=dict)
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


@dataclass
class Catalogue:
    """What ``templates list`` shows."""

    exit_code: int = 0

    def to_text(self) -> str:
        return "\n".join(
            f"{name:<21} {DESCRIPTIONS[name]} ({', '.join(Path(f).name for f in files)})"
            for name, files in FILES.items()
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "templates": [
                {"distribution": name, "description": DESCRIPTIONS[name], "files": [Path(f).name for f in files]}
                for name, files in FILES.items()
            ]
        }


def templates_root() -> Traversable:
    """The packaged ``templates/`` folder (``oidc_publisher/templates`` links to it in a checkout)."""
    return resources.files("oidc_publisher") / "templates"


def template_text(name: str) -> str:
    text: str = (templates_root() / name).read_text(encoding="utf-8")
    return text


def placeholders(text: str) -> set[str]:
    """Every ``$name`` / ``${name}`` in a template; a ``$`` that is neither (nor ``$$``) is an error."""
    found: set[str] = set()
    for match in string.Template.pattern.finditer(text):
        if match.group("invalid") is not None:
            line = text.count("\n", 0, match.start()) + 1
            raise InputError(f"template has a stray '$' on line {line}", "write '$$' for a literal dollar sign")
        name = match.group("named") or match.group("braced")
        if name:
            found.add(name)
    return found


def fill(name: str, text: str, values: dict[str, str]) -> str:
    """``text`` with every placeholder filled; fails naming each one that has no value."""
    missing = sorted(placeholders(text) - values.keys())
    if missing:
        raise InputError(
            f"template {name} has no value for {', '.join(missing)}",
            "this is a bug in the template or in oidc-publisher; please report it",
        )
    return string.Template(text).substitute(values)


def render_templates(settings: TemplateSettings, out_dir: Path | None = None, *, force: bool = False) -> Rendered:
    """Fill the templates for one distribution; write them into ``out_dir`` when given.

    Nothing is written unless every file rendered, and no file is overwritten without ``force``.
    """
    if settings.distribution not in FILES:
        raise InputError(
            f"unknown distribution {settings.distribution!r}", f"choose one of: {', '.join(DISTRIBUTIONS)}"
        )
    values = template_values(settings)
    rendered = Rendered(settings.distribution)
    for name in FILES[settings.distribution]:
        made = GENERATED.get(name)
        rendered.files[Path(name).name] = values[made] if made else fill(name, template_text(name), values)
    if out_dir is not None:
        write_files(rendered, out_dir, force=force)
    return rendered


def write_files(rendered: Rendered, out_dir: Path, *, force: bool) -> None:
    from oidc_publisher.files import ensure_dir, write_atomic

    targets = [out_dir / name for name in rendered.files]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise InputError(f"{existing[0]} already exists", "use --force to overwrite, or another --out directory")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} is not a directory", "give --out a directory")
    ensure_dir(out_dir)
    for path in targets:
        write_atomic(path, rendered.files[path.name].encode())
        rendered.written.append(path)


def template_values(settings: TemplateSettings) -> dict[str, str]:
    """Every placeholder's value for ``settings.distribution``, after validating each input."""
    issuer = parse_issuer(settings.issuer_url)
    _plain(issuer.url, "the issuer URL")
    previous = _previous_issuer(settings, issuer)
    region = _region(settings.region)
    issuers = [issuer.url, *([previous] if previous else [])]
    values = {
        "issuer_url": issuer.url,
        "jwks_uri": issuer.default_jwks_uri,
        "api_audiences": ",".join(api_audiences(settings.distribution, issuers)),
        "issuer_note": _issuer_note(previous),
        # kubeadm v1beta4: extraArgs is a list of name/value pairs, so a flag may repeat.
        "kubeadm_issuer_args": "\n".join(
            f'    - name: service-account-issuer\n      value: "{url}"' for url in issuers
        ),
        # k3s and RKE2 pass every list entry on as its own flag.
        "list_issuer_args": "\n".join(f'  - "service-account-issuer={url}"' for url in issuers),
        "key_dir": _key_dir(settings.key_dir),
        "webhook_image": _image(settings.image or WEBHOOK_IMAGE),
        "webhook_image_note": (
            "the image given with --image"
            if settings.image
            else f"amazon-eks-pod-identity-webhook {WEBHOOK_IMAGE_TAG}, pinned by digest"
        ),
        # Only when asked: the region every annotated pod's SDK uses is the workloads', not the issuer's.
        "region_arg": f"            - --aws-default-region={region}\n" if region else "",
    }
    if settings.distribution == "rotation-job":
        values.update(_rotation_job_values(settings, issuer, region))
    elif settings.member is not None:
        raise InputError("--member only applies to the rotation job", "add --distribution rotation-job or drop --member")
    return values


def api_audiences(distribution: str, issuers: Iterable[str]) -> list[str]:
    """The API server's ``--api-audiences``: the issuers (the new one first, so that tokens which ask for
    no audience get it, as kube-apiserver does by default), then the audiences the distribution sets
    itself. The previous issuer stays an audience so that tokens already in pods, which were minted
    for it, keep authenticating until they are refreshed.

    Never ``sts.amazonaws.com``: the pod identity webhook asks for STS tokens by name (TokenRequest
    issues any audience), and putting STS in this list would make the API server accept tokens minted
    for STS, and give every pod's default token an audience STS accepts.
    """
    ordered: list[str] = []
    for audience in (*issuers, *OWN_AUDIENCES.get(distribution, ())):
        if audience not in ordered:
            ordered.append(audience)
    return ordered


def _previous_issuer(settings: TemplateSettings, issuer: Issuer) -> str | None:
    if settings.previous_issuer is None:
        return None
    if settings.distribution in SINGLE_ISSUER:
        raise InputError(f"{settings.distribution} takes one issuer", SINGLE_ISSUER[settings.distribution])
    # The previous issuer is whatever the cluster used (often https://kubernetes.default.svc.cluster.local):
    # it only has to be an acceptable --service-account-issuer, which the same rules cover.
    previous = _plain(parse_issuer(settings.previous_issuer).url, "--previous-issuer")
    if previous == issuer.url:
        raise InputError("--previous-issuer is the same as --issuer-url", "give the issuer the cluster used before")
    return previous


def _issuer_note(previous: str | None) -> str:
    if not previous:
        return ""
    return (
        f"\n# The new issuer comes first: it signs new tokens. {previous} stays accepted (issuer and audience)"
        "\n# until every token minted for it has been refreshed (a day at most); then render again without"
        "\n# --previous-issuer."
    )


def _plain(value: str, what: str) -> str:
    """Refuse quotes, backslashes and control characters: values are written inside quoted strings."""
    if re.search(r'["\\\x00-\x1f\x7f]', value):
        raise InputError(f"{what} {value!r} contains quotes, backslashes or control characters", "remove them")
    return value


def _region(region: str | None) -> str | None:
    if region is not None and not _REGION.match(region):
        raise InputError(f"region {region!r} is not an AWS region name", "give one like eu-west-1")
    return region


def _job_region(region: str | None, issuer: Issuer) -> str:
    """The bucket's region: an S3-direct issuer names it; otherwise --region must."""
    origin = issuer.s3_origin()
    if origin is None:
        if region is None:
            raise InputError(
                "the rotation job needs --region for an issuer that is not S3-direct", "give the bucket's region"
            )
        return region
    if region is not None and region != origin[1]:
        raise InputError(f"--region {region} disagrees with the issuer URL's region {origin[1]}", "drop --region")
    return origin[1]


def _image(image: str) -> str:
    if not _IMAGE.match(image):
        raise InputError(f"image {image!r} is not a container image reference", "give one like REGISTRY/NAME:TAG")
    return image


def _key_dir(key_dir: str | None) -> str:
    if key_dir is None:
        return "./sa"
    if not _SAFE_PATH.match(key_dir):
        raise InputError(
            f"--key-dir {key_dir!r} contains whitespace, quotes or shell characters", "give a plain directory path"
        )
    return key_dir


def _rotation_job_values(settings: TemplateSettings, issuer: Issuer, region: str | None) -> dict[str, str]:
    if not settings.bucket:
        raise InputError("the rotation job needs --bucket", "give the bucket the issuer is published to")
    validate_bucket_name(settings.bucket, s3_direct=issuer.s3_origin() is not None)
    keys = object_keys_for(issuer, settings.bucket, settings.prefix)
    _plain(keys.prefix, "--prefix")
    if not settings.role_arn:
        raise InputError(
            "the rotation job needs --role-arn (the IAM role its service account assumes)",
            "create one with the policy in iam-policy.json: oidc-publisher role create --policy-file ...",
        )
    role = _ROLE_ARN.match(settings.role_arn)
    if not role:
        raise InputError(
            f"--role-arn {settings.role_arn!r} is not an IAM role ARN",
            "give one like arn:aws:iam::123456789012:role/NAME",
        )
    if settings.distribution_id is None and issuer.host.endswith(".cloudfront.net"):
        # publish invalidates the distribution its state object names after every change: without the
        # policy statement that --distribution-id adds, each of those calls would be denied.
        raise InputError(
            f"the issuer {issuer.url} is served by CloudFront, and the rotation job invalidates it after each change",
            "give --distribution-id (bootstrap prints it) so that the job's policy allows cloudfront:CreateInvalidation",
        )
    if settings.distribution_id is not None and not _DISTRIBUTION_ID.match(settings.distribution_id):
        raise InputError(
            f"--distribution-id {settings.distribution_id!r} is not a CloudFront distribution ID",
            "give one like E2EXAMPLE123",
        )
    partition, account = role["partition"], role["account"]
    region = _job_region(region, issuer)
    if settings.image is None:
        # A CronJob with an image no registry has fails only later, in the cluster, as ImagePullBackOff.
        raise UsageError(
            "the rotation job needs --image: no registry publishes an oidc-publisher image",
            f"build it from the repository's Dockerfile, push it where the cluster pulls from, and give "
            f"--image REGISTRY/{DEFAULT_IMAGE}",
        )
    # The issuer, bucket and region come from the container's environment (OIDC_PUBLISHER_ISSUER_URL, ...),
    # said once there; the region is given, so the job never asks S3 for it.
    args = ["publish", "--from-cluster"]
    if settings.prefix is not None:
        args += ["--prefix", keys.prefix]
    if settings.distribution_id:
        args += ["--distribution-id", settings.distribution_id]
    if settings.member is not None:
        from oidc_publisher.core.members import check_member_name

        # Each cluster's job publishes its own member: the others' keys are never touched by it.
        args += ["--member", check_member_name(settings.member)]
    args += ["--output", "json"]
    return {
        "bucket": settings.bucket,
        "role_arn": settings.role_arn,
        "image": _image(settings.image),
        "region": region,
        "issuer_url": issuer.url,
        "job_args": "\n".join(f'                - "{arg}"' for arg in args),
        # publish's declared calls, each on its resource (core/permissions.py).
        "iam_policy": policy_text(rotation_job_policy(
            partition=partition, account=account, bucket=settings.bucket,
            object_keys=(*keys.published, keys.state), distribution_id=settings.distribution_id,
        )),
    }
