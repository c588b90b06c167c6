"""``demo``: the whole job against local stand-ins, in one command, with no AWS account.

moto's server plays AWS and a local HTTPS front with its own CA chain plays CloudFront. The tool
reaches them exactly as it reaches the real ones (``AWS_ENDPOINT_URL``, ``SSL_CERT_FILE``, and a
connect-to override), generates a signing key, bootstraps a private issuer behind the "distribution",
then mints a token the way kube-apiserver would and verifies it the way STS will.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUCKET = "oidc-publisher-demo"
REGION = "us-east-1"
SUBJECT = "system:serviceaccount:default:demo-app"


@dataclass(frozen=True)
class DemoSettings:
    work_dir: Path | None = None
    keep: bool = False


@dataclass
class DemoReport:
    issuer: str = ""
    provider_arn: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    verified: bool = False
    work_dir: str = ""
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 0 if self.verified else 1

    def to_text(self) -> str:
        if self.verified:
            return (
                f"Demo complete in {self.seconds:.1f}s: STS would accept tokens from {self.issuer}.\n"
                "Next: follow the quick starts locally with 'oidc-publisher demo --serve', then on a real cluster.\n"
                f"Every command: 'oidc-publisher --help'; the docs: {docs_url()}"
            )
        return f"Demo finished in {self.seconds:.1f}s, but verification FAILED (see the checklist above)."

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "issuer": self.issuer,
            "provider_arn": self.provider_arn,
            "verified": self.verified,
            "steps": self.steps,
            "seconds": round(self.seconds, 2),
        }
        if self.work_dir:  # only a directory that still exists
            body["work_dir"] = self.work_dir
        return body


def docs_url() -> str:
    """The documentation link of the installed package's metadata (what a pip user has), else the repository's docs/."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        urls: list[str] = metadata("oidc-publisher").get_all("Project-URL") or []
    except PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "documentation" and url.strip():
            return str(url.strip())
    return "the docs/ folder of the repository"


def run_demo(settings: DemoSettings, say: Callable[[str], None]) -> DemoReport:
    from oidc_publisher_demo.emulator import (
        HTTPSFront,
        cloudfront_chain,
        environment,
        local_aws_environment,
        s3_fetcher,
        start_moto,
    )

    started = time.monotonic()
    report = DemoReport()
    work = settings.work_dir or Path(tempfile.mkdtemp(prefix="oidc-publisher-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    kept = settings.keep or settings.work_dir is not None
    if kept:
        report.work_dir = str(work)

    def step(title: str, detail: str = "") -> None:
        report.steps.append({"step": title, "detail": detail})
        body = "".join(f"\n    {line}" for line in detail.splitlines())
        say(f"==> {title}{body}")

    aws = start_moto()
    front = None
    try:
        step("Started a local AWS (moto's server)", aws.endpoint)
        chain = cloudfront_chain(work / "pki")
        import boto3

        origin = boto3.client(
            "s3", region_name=REGION, endpoint_url=aws.endpoint, aws_access_key_id="demo", aws_secret_access_key="demo"  # noqa: S106 - moto
        )
        front = HTTPSFront(chain, s3_fetcher(origin, BUCKET))
        step(
            "Started a local HTTPS front standing in for CloudFront",
            f"127.0.0.1:{front.port}, certificate *.cloudfront.net from a demo root CA ({chain.files['ca']})",
        )
        env: dict[str, str | None] = {
            **local_aws_environment(endpoint=aws.endpoint, credential="demo", region=REGION,
                                    ca_file=Path(chain.files["ca"]), front_port=front.port, work=work),
            "AWS_SESSION_TOKEN": None,
            "AWS_PROFILE": None,
        }
        with environment(env):
            _run_steps(work, step, report)
    finally:
        if front is not None:
            front.stop()
        aws.stop()
        if not kept:
            shutil.rmtree(work, ignore_errors=True)
    report.seconds = time.monotonic() - started
    return report


def _run_steps(work: Path, step: Callable[[str, str], None], report: DemoReport) -> None:
    from cryptography.hazmat.primitives import serialization

    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.commands.bootstrap import BootstrapSettings, bootstrap
    from oidc_publisher.commands.keys import KeygenSettings, generate
    from oidc_publisher.commands.verify import VerifySettings, verify
    from oidc_publisher.core.tokens import mint_token
    from oidc_publisher.sources import KeySource

    keys = generate(KeygenSettings(out_dir=work / "keys"))
    step("Generated a service-account signing key", f"{keys.public_key} (kid {keys.kid}, {keys.alg})")

    source = KeySource(public_keys=(keys.public_key,))
    settings = BootstrapSettings(bucket=BUCKET, source=source, region=REGION, cloudfront=True)
    clients = AwsClients(region=REGION)
    result = bootstrap(settings, clients)
    report.issuer = result.issuer or ""
    report.provider_arn = result.provider_arn or ""
    step(
        "Bootstrapped a private issuer: bucket, CloudFront distribution (OAC), documents, IAM OIDC provider",
        "\n".join(c.to_text() for c in result.plan.changes),
    )
    step("Issuer", f"{report.issuer}\nIAM provider: {report.provider_arn}")

    again = bootstrap(settings, AwsClients(region=REGION))
    step("Ran bootstrap again", "no changes" if not again.plan.has_changes else f"{len(again.plan.changes)} changes (unexpected)")

    private_key = serialization.load_pem_private_key(keys.private_key.read_bytes(), password=None)
    token = mint_token(private_key, kid=keys.kid, issuer=report.issuer, subject=SUBJECT)  # type: ignore[arg-type]
    step("Minted a token as kube-apiserver would", f"sub {SUBJECT}, aud sts.amazonaws.com, kid {keys.kid}")

    checked = verify(VerifySettings(issuer_url=report.issuer, source=source, token=token), AwsClients(region=REGION))
    step("Verified the chain the way STS will", checked.to_text())
    report.verified = checked.ok
