"""``demo --serve``: the demo's local stand-ins, kept up until Ctrl-C, for following the docs by hand.

It starts moto's server as AWS (with the demo's fixes, and AWS's managed policies loaded), one HTTPS
front for every S3 issuer host and ``*.cloudfront.net`` (a certificate chain of its own), and a stand-in
Kubernetes API that signs tokens with a key the playground generates. It prints the ``export`` lines
that make another shell's ``oidc-publisher`` talk to them, writes the same lines to ``env.sh``, and waits
for SIGINT or SIGTERM, then stops everything and removes its work directory (unless told to keep it).
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oidc_publisher.core.errors import Error

# The kubeadm quick start's issuer: its commands then run as written against the playground.
DEFAULT_ISSUER = "https://my-cluster-oidc.s3.eu-west-1.amazonaws.com"
REGION = "us-east-1"
CREDENTIAL = "playground"
# Variables of the user's shell that would send boto3 elsewhere than the playground's AWS.
UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class PlaygroundSettings:
    issuer_url: str = DEFAULT_ISSUER
    work_dir: Path | None = None
    keep: bool = False


@dataclass
class PlaygroundReport:
    exports: dict[str, str] = field(default_factory=dict)
    work_dir: str = ""  # only when it is kept
    stopped_by: str = ""

    @property
    def exit_code(self) -> int:
        return 0

    def to_text(self) -> str:
        kept = f"; kept {self.work_dir}" if self.work_dir else "; removed its work directory"
        return f"Playground stopped ({self.stopped_by}){kept}."

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"stopped_by": self.stopped_by, "exports": self.exports}
        if self.work_dir:
            body["work_dir"] = self.work_dir
        return body


def exports(
    *, endpoint: str, ca_file: Path, kubeconfig: Path, front_port: int, public_key: Path, work: Path
) -> dict[str, str]:
    """The environment another shell needs to use the playground, in the order it is printed."""
    from oidc_publisher_demo.emulator import local_aws_environment

    return {
        **local_aws_environment(endpoint=endpoint, credential=CREDENTIAL, region=REGION, ca_file=ca_file,
                                front_port=front_port, work=work),
        "KUBECONFIG": str(kubeconfig),
        # The cluster's service-account public key, where the kubeadm quick start reads it from.
        "SA_PUB": str(public_key),
    }


def shell_lines(values: dict[str, str]) -> list[str]:
    return [f"unset {' '.join(UNSET)}", *(f"export {name}={shlex.quote(value)}" for name, value in values.items())]


def front_hosts() -> tuple[str, ...]:
    """Every host an issuer of the playground can have: S3 in each region of the aws partition, CloudFront."""
    import boto3

    regions = sorted(boto3.session.Session().get_available_regions("s3"))
    return ("*.s3.amazonaws.com", *(f"*.s3.{region}.amazonaws.com" for region in regions), "*.cloudfront.net")


def bucket_for_host(host: str, distributions: Callable[[], list[dict[str, Any]]]) -> tuple[str, str] | None:
    """(bucket, key prefix) that serves ``host``: the bucket an S3 host names, or a distribution's origin."""
    from oidc_publisher.core.issuer import parse_issuer

    def s3_bucket(name: str) -> str | None:
        try:
            origin = parse_issuer(f"https://{name}").s3_origin()
        except Error:
            return None
        return origin[0] if origin else None

    if host.endswith(".cloudfront.net"):
        for distribution in distributions():
            if distribution.get("DomainName") == host:
                for origin in distribution.get("Origins", {}).get("Items", []):
                    bucket = s3_bucket(origin.get("DomainName", ""))
                    if bucket:
                        return bucket, origin.get("OriginPath", "").strip("/")
        return None
    bucket = s3_bucket(host)
    return (bucket, "") if bucket else None


def run_playground(
    settings: PlaygroundSettings, say: Callable[[str], None], ready: Callable[[list[str]], None]
) -> PlaygroundReport:
    from oidc_publisher.core.issuer import parse_issuer
    from oidc_publisher_demo.emulator import environment

    issuer = parse_issuer(settings.issuer_url)  # refuse a bad issuer before starting anything
    report = PlaygroundReport()
    work = (settings.work_dir or Path(tempfile.mkdtemp(prefix="oidc-publisher-playground-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    keep = settings.keep or settings.work_dir is not None
    with contextlib.ExitStack() as stack:  # unwinds in reverse: servers stop, then the work dir goes
        if keep:
            report.work_dir = str(work)
        else:
            stack.callback(shutil.rmtree, work, ignore_errors=True)
        # Block the stop signals before any server thread starts (threads inherit the mask): the main
        # thread takes them with sigwait, and no thread is interrupted half-way through a request.
        previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        stack.callback(signal.pthread_sigmask, signal.SIG_SETMASK, previous_mask)
        # moto reads this when it creates an account's IAM: the docs attach AWS managed policies (ReadOnlyAccess).
        stack.enter_context(environment({"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}))
        values = _start(issuer.url, work, say, stack)
        report.exports = values
        lines = shell_lines(values)
        env_file = work / "env.sh"
        env_file.write_text("\n".join(lines) + "\n")
        ready([*lines, "", f"(the same lines are in {env_file}: source it in another shell)"])
        report.stopped_by = signal.Signals(signal.sigwait(STOP_SIGNALS)).name
    return report


def _start(issuer: str, work: Path, say: Callable[[str], None], stack: contextlib.ExitStack) -> dict[str, str]:
    import boto3
    from cryptography.hazmat.primitives import serialization

    from oidc_publisher.commands.keys import KeygenSettings, generate
    from oidc_publisher_demo.emulator import HTTPSFront, s3_fetcher, start_moto
    from oidc_publisher_demo.emulator_kube import KubeAPIStandIn
    from oidc_publisher_demo.localca import make_chain

    aws = start_moto()
    stack.callback(aws.stop)
    session = boto3.session.Session(
        aws_access_key_id=CREDENTIAL, aws_secret_access_key=CREDENTIAL, region_name=REGION
    )
    iam = session.client("iam", endpoint_url=aws.endpoint)
    iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")  # loads them now, not in the user's first call
    say(f"==> Started a local AWS (moto's server, AWS managed policies loaded)\n    {aws.endpoint}")

    s3 = session.client("s3", endpoint_url=aws.endpoint)
    cloudfront = session.client("cloudfront", endpoint_url=aws.endpoint)

    def distributions() -> list[dict[str, Any]]:
        listing: dict[str, Any] = dict(cloudfront.list_distributions().get("DistributionList", {}))
        return list(listing.get("Items", []))

    def serve(host: str, path: str) -> tuple[int, bytes, dict[str, str]]:
        found = bucket_for_host(host, distributions)
        if found is None:
            return 404, f"the playground serves no bucket for {host}\n".encode(), {"Content-Type": "text/plain"}
        bucket, prefix = found
        return s3_fetcher(s3, bucket)(f"/{prefix}{path}" if prefix else path)

    chain = make_chain(front_hosts(), intermediates=1, root_name="oidc-publisher playground root CA").write(work / "pki" / "issuer")
    front = HTTPSFront(chain, by_host=serve)
    stack.callback(front.stop)
    say(
        f"==> Started an HTTPS front for every S3 issuer host and *.cloudfront.net\n"
        f"    127.0.0.1:{front.port}, serving the buckets of the local AWS, certificates from {chain.files['ca']}"
    )

    keys = generate(KeygenSettings(out_dir=work / "pki" / "sa", issuer_url=issuer))
    private_key = serialization.load_pem_private_key(keys.private_key.read_bytes(), password=None)
    kube = KubeAPIStandIn(issuer, private_key, work / "pki" / "kube")  # type: ignore[arg-type]
    stack.callback(kube.stop)
    kubeconfig = kube.write_kubeconfig(work / "kubeconfig")
    say(
        f"==> Started a local Kubernetes API (issuer discovery and TokenRequest)\n"
        f"    {kube.url}, issuer {issuer}, signing key {keys.public_key} (kid {keys.kid})"
    )
    return exports(
        endpoint=aws.endpoint, ca_file=chain.files["ca"], kubeconfig=kubeconfig, front_port=front.port,
        public_key=keys.public_key, work=work,
    )
