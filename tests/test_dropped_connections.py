"""A dropped connection on any AWS call of any command: one line that names the call and says what to
do, exit 1, no traceback, and never "internal error ... this is a bug" (exit 70).

Each command that calls AWS (publish, publish --create-bucket, publish --fleet, bootstrap --cloudfront,
register, register --account-role, role create, audit, verify, doctor, teardown) runs once on its own
(to record the calls it makes), then once per distinct operation with that call's connection dropped on
every attempt (botocore's retries included), from the same starting state. ``bootstrap`` (its S3 and IAM
calls) and ``publish`` get the same on every call, and more faults, in test_faults.py. A timeout is one
line too, and so is a non-AWS server answering at the endpoint (a proxy's or a captive portal's HTML page).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from oidc_publisher.aws.clients import MAX_ATTEMPTS
from oidc_publisher.core.policies import PUBLIC_READ_SID
from oidc_publisher.core.trust import ROLE_ARN_ANNOTATION
from tests.support import keys as k
from tests.support.cli import Outcome, invoke
from tests.support.deployments import finish_deployments
from tests.support.fronts import Front
from tests.support.irsa import BUCKET, ISSUER, READONLY
from tests.support.kube_api import KubeAPI
from tests.support.motoserver import AwsWorld
from tests.support.servers import LocalServer

CF_BUCKET = "cf-issuer"
ROLE = ("--issuer-url", ISSUER, "--namespace", "apps", "--service-account", "api")
DROP = {"kind": "drop", "status": 0, "body": b"", "hold": 0}


@dataclass(frozen=True)
class Case:
    name: str
    given: Callable[[AwsWorld, Path], None]  # the state the command starts from, made with the CLI itself
    args: Callable[[Path], list[str]]
    # The operations to drop when another case (or test_faults.py) already drops the others of this command.
    only: tuple[str, ...] = ()


THUMBPRINT = ("--thumbprint", "a" * 40)  # the starting states skip the TLS round trip


def bootstrapped(aws: AwsWorld, tmp: Path) -> None:
    assert invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(tmp / "one.pub"), *THUMBPRINT).exit_code == 0


def bootstrapped_with_its_thumbprint(aws: AwsWorld, tmp: Path) -> None:
    assert invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(tmp / "one.pub")).exit_code == 0


def two_members(aws: AwsWorld, tmp: Path) -> None:
    """An issuer shared by two clusters (docs/shared-issuer.md)."""
    assert invoke("bootstrap", "--bucket", BUCKET, "--member", "blue", "--public-key", str(tmp / "one.pub"), *THUMBPRINT).exit_code == 0
    assert invoke("publish", "--bucket", BUCKET, "--member", "green", "--public-key", str(tmp / "two.pub")).exit_code == 0


def with_role(aws: AwsWorld, tmp: Path) -> None:
    bootstrapped(aws, tmp)
    assert invoke("role", "create", *ROLE, "--policy-arn", READONLY).exit_code == 0


def nothing(aws: AwsWorld, tmp: Path) -> None:
    pass


def a_bucket(aws: AwsWorld, tmp: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)


def published_in_their_bucket(aws: AwsWorld, tmp: Path) -> None:
    """An issuer published into a bucket the tool did not create: teardown keeps the bucket and trims
    its policy (the GetBucketPolicy a dropped connection used to turn into an internal error)."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="theirs")
    s3.put_object(Bucket="theirs", Key="data.csv", Body=b"a,b")
    assert invoke("publish", "--issuer-url", "https://issuer.example.com/prod", "--bucket", "theirs",
                  "--public-key", str(tmp / "one.pub")).exit_code == 0
    s3.put_bucket_policy(Bucket="theirs", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": PUBLIC_READ_SID, "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": ["arn:aws:s3:::theirs/prod/openid/v1/jwks", "arn:aws:s3:::theirs/other"]}]}))


def cloudfront_issuer(aws: AwsWorld, tmp: Path) -> None:
    boot = invoke("bootstrap", "--bucket", CF_BUCKET, "--cloudfront", "--public-key", str(tmp / "one.pub"), *THUMBPRINT, "-o", "json")
    assert boot.exit_code == 0, boot.stderr
    (tmp / "cf-issuer-url").write_text(boot.json()["issuer"])


def fleet(tmp: Path) -> list[str]:
    (tmp / "fleet.json").write_text(json.dumps({
        "defaults": {"bucket": BUCKET, "public_keys": ["one.pub", "two.pub"]},
        "clusters": [{"name": "a", "prefix": "a"}, {"name": "b", "prefix": "b"}],
    }))
    return ["publish", "--fleet", str(tmp / "fleet.json"), "--concurrency", "1"]


def teardown_cloudfront(tmp: Path) -> list[str]:
    return ["teardown", "--issuer-url", (tmp / "cf-issuer-url").read_text(), "--bucket", CF_BUCKET, "--yes"]


def publish_cloudfront(tmp: Path) -> list[str]:
    return ["publish", "--bucket", CF_BUCKET, "--issuer-url", (tmp / "cf-issuer-url").read_text(),
            "--public-key", str(tmp / "one.pub"), "--public-key", str(tmp / "two.pub")]


OTHER_ACCOUNT = "arn:aws:iam::111111111111:role/oidc-publisher"


CASES = [
    Case("bootstrap --cloudfront", nothing,
         lambda t: ["bootstrap", "--bucket", CF_BUCKET, "--cloudfront", "--public-key", str(t / "one.pub")],
         only=("ListOriginAccessControls", "ListDistributions", "ListCachePolicies", "CreateOriginAccessControl",
               "CreateCachePolicy", "CreateDistributionWithTags", "GetCallerIdentity", "CreateInvalidation")),
    Case("publish --fleet", a_bucket, fleet),
    Case("register --dry-run", bootstrapped, lambda t: ["register", "--issuer-url", ISSUER, "--client-id", "other", "--dry-run"]),
    Case("register", bootstrapped, lambda t: ["register", "--issuer-url", ISSUER, "--client-id", "sts.amazonaws.com", "--client-id", "other"]),
    Case("verify", bootstrapped_with_its_thumbprint, lambda t: ["verify", "--issuer-url", ISSUER, "--public-key", str(t / "one.pub")]),
    Case("role create", bootstrapped, lambda t: ["role", "create", *ROLE, "--policy-arn", READONLY]),
    Case("role trust-policy", bootstrapped, lambda t: ["role", "trust-policy", *ROLE]),
    Case("audit", with_role, lambda t: ["audit", "--issuer-url", ISSUER]),
    Case("publish --member", two_members,
         lambda t: ["publish", "--bucket", BUCKET, "--member", "green", "--public-key", str(t / "two.pub"),
                    "--public-key", str(t / "one.pub")]),
    Case("members list", two_members, lambda t: ["members", "list", "--bucket", BUCKET]),
    Case("members remove", two_members, lambda t: ["members", "remove", "green", "--bucket", BUCKET, "--revoke"]),
    Case("teardown", with_role, lambda t: ["teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes"]),
    Case("teardown, their bucket", published_in_their_bucket,
         lambda t: ["teardown", "--issuer-url", "https://issuer.example.com/prod", "--bucket", "theirs", "--yes"],
         only=("GetBucketPolicy", "PutBucketPolicy")),
    Case("publish", bootstrapped,
         lambda t: ["publish", "--bucket", BUCKET, "--public-key", str(t / "one.pub"), "--public-key", str(t / "two.pub")]),
    Case("publish --create-bucket", nothing,
         lambda t: ["publish", "--bucket", BUCKET, "--create-bucket", "--public-key", str(t / "one.pub")]),
    Case("publish behind CloudFront", cloudfront_issuer, publish_cloudfront),
    Case("bootstrap --cloudfront --wait, converged", cloudfront_issuer,
         lambda t: ["bootstrap", "--bucket", CF_BUCKET, "--cloudfront", "--public-key", str(t / "one.pub"), *THUMBPRINT, "--wait"],
         only=("GetDistributionConfig", "GetDistribution")),
    Case("register --account-role", bootstrapped,
         lambda t: ["register", "--issuer-url", ISSUER, "--account-role", OTHER_ACCOUNT, *THUMBPRINT]),
    Case("teardown --delete-bucket", with_role,
         lambda t: ["teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes", "--delete-bucket"],
         only=("ListOpenIDConnectProviders", "DeleteBucket")),
    Case("teardown --cloudfront", cloudfront_issuer, teardown_cloudfront,
         only=("ListTagsForResource", "GetDistributionConfig", "UpdateDistribution", "GetDistribution", "DeleteDistribution",
               "GetOriginAccessControl", "DeleteOriginAccessControl", "GetCachePolicy", "DeleteCachePolicy")),
]


@pytest.fixture
def world(aws: AwsWorld, front: Front, tmp_path: Path) -> AwsWorld:
    front(BUCKET, ("*.s3.us-east-1.amazonaws.com", "*.cloudfront.net"))
    k.write(tmp_path / "one.pub", k.K8S_RSA_PUBLIC_KEY)
    k.write(tmp_path / "two.pub", k.K8S_EC_PUBLIC_KEY)
    return aws


def start_over(aws: AwsWorld, case: Case, tmp: Path) -> None:
    """An empty AWS with one customer-managed policy, then the case's starting state."""
    requests.post(f"{aws.moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    aws.cache_policies.clear()
    aws.proxy.positional = None  # type: ignore[attr-defined]
    aws.client("iam").create_policy(PolicyName="read-only", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    case.given(aws, tmp)
    finish_deployments(aws)
    aws.recorder.reset()


def assert_one_line(result: Outcome, where: str) -> str:
    assert result.exit_code == 1, (where, result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, (where, lines)
    assert lines[0].startswith("error: ") and "; " in lines[0], (where, lines)  # what failed; what to do
    assert "internal error" not in lines[0] and "Traceback" not in result.stderr, (where, lines)
    return lines[0]


def dropped_on_every_call(aws: AwsWorld, case: Case, tmp: Path, fault: dict = DROP) -> Iterator[tuple[str, str, Outcome]]:
    """Run the case once per distinct operation it calls, its first call dropped for good: (where, the
    dropped operation, outcome). The starting state is made again only after a run that changed it (one
    whose drop came after a write)."""
    start_over(aws, case, tmp)
    args = case.args(tmp)
    assert invoke(*args).exit_code in (0, 3), args
    calls = list(aws.recorder.calls)
    assert calls, f"{case.name} made no AWS call"
    changed = bool(aws.recorder.writes)
    firsts = {call: index for index, call in reversed(list(enumerate(calls)))}
    assert set(case.only) <= {op for _, op in firsts}, (case.name, calls)
    for (service, operation), index in sorted(firsts.items(), key=lambda item: item[1]):
        if case.only and operation not in case.only:
            continue
        if changed:
            start_over(aws, case, tmp)
            args = case.args(tmp)  # a new distribution is a new issuer URL
        aws.recorder.reset()
        aws.proxy.fail_call(index, fault, times=MAX_ATTEMPTS)
        result = invoke(*args)
        dropped = aws.proxy.positional["op"]  # type: ignore[attr-defined]
        # Every attempt reached the wire: the tool really retried before giving up.
        assert aws.recorder.operations().count(dropped) >= MAX_ATTEMPTS, (case.name, index, aws.recorder.calls)
        writes = len(aws.recorder.writes) - (MAX_ATTEMPTS if (service, dropped) in aws.recorder.writes else 0)
        changed = writes > 0
        yield f"{case.name}: drop on call {index} ({service} {operation})", dropped, result


PER_ITEM = ("publish --fleet", "verify", "register --account-role")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_dropped_connection_on_any_call_is_one_line(world: AwsWorld, tmp_path: Path, case: Case) -> None:
    cause = f"could not connect to the AWS endpoint ({world.endpoint}/"
    for where, _, result in dropped_on_every_call(world, case, tmp_path):
        if case.name in PER_ITEM:
            # These report per item: the fleet goes on cluster by cluster, verify check by check, register
            # account by account. The failed item's line says why; the exit code says it failed.
            assert result.exit_code == 1, (where, result.stdout, result.stderr)
            assert len([line for line in result.stdout.splitlines() if cause in line]) == 1, (where, result.stdout)
            assert "internal error" not in result.stdout and "Traceback" not in result.stderr, where
            continue
        line = assert_one_line(result, where)
        assert cause in line, (where, line)


def test_doctor_reports_a_dropped_connection_on_any_call_as_its_checks_failure(
    world: AwsWorld, kube_api: KubeAPI, tmp_path: Path
) -> None:
    """doctor reports check by check: the check whose read was dropped fails naming the call and the
    endpoint; the others go on; never an internal error."""
    kubeconfig = str(kube_api.kubeconfig(tmp_path / "kubeconfig"))

    def pod_of_a_role(aws: AwsWorld, tmp: Path) -> None:
        kube_api.issuer = ISSUER
        pem = k.write(tmp / "cluster.pub", k.public_pem(kube_api.keys[0]))
        assert invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pem)).exit_code == 0
        made = invoke("role", "create", *ROLE, "--policy-arn", READONLY, "-o", "json")
        assert made.exit_code == 0, made.stderr
        role_arn = made.json()["role_arn"]
        kube_api.service_accounts[("apps", "api")] = {ROLE_ARN_ANNOTATION: role_arn}
        kube_api.install_webhook()
        kube_api.add_pod("apps", "api-1", "api", mutated_for=role_arn)

    case = Case("doctor", pod_of_a_role, lambda t: ["doctor", "-n", "apps", "--pod", "api-1", "--kubeconfig", kubeconfig])
    cause = f"could not connect to the AWS endpoint ({world.endpoint}/"
    seen = []
    for where, dropped, result in dropped_on_every_call(world, case, tmp_path):
        seen.append(dropped)
        assert result.exit_code == 1, (where, result.stdout, result.stderr)
        failed = [line for line in result.stdout.splitlines() if cause in line]
        assert len(failed) == 1 and failed[0].lstrip().startswith("[FAIL]"), (where, result.stdout)
        assert "internal error" not in result.stdout + result.stderr and "Traceback" not in result.stderr, where
    assert {"GetOpenIDConnectProvider", "GetRole", "AssumeRoleWithWebIdentity"} <= set(seen)


def test_a_timeout_on_any_call_is_one_line(world: AwsWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No answer within the read timeout, on every attempt, on calls of each service a teardown makes (S3,
    IAM, STS; reads and a write): one line that says it timed out and what to do. botocore raises a timeout
    where a dropped connection raises ConnectionClosedError, and both are translated in the same place (the
    test below has every such kind); the timeout is made short (OIDC_PUBLISHER_AWS_TIMEOUT) so that the
    attempts take a second, not minutes."""
    monkeypatch.setenv("OIDC_PUBLISHER_AWS_TIMEOUT", "0.25")
    [every] = [c for c in CASES if c.name == "teardown"]
    case = Case(every.name, every.given, every.args, only=(
        "GetCallerIdentity", "GetOpenIDConnectProvider", "ListRoles", "HeadBucket", "GetObject", "GetBucketTagging",
        "DeleteOpenIDConnectProvider"))
    timeout = {**DROP, "kind": "timeout", "hold": 0.4}
    seen = []
    for where, dropped, result in dropped_on_every_call(world, case, tmp_path, timeout):
        seen.append(dropped)
        line = assert_one_line(result, where)
        assert line.endswith(" timed out after retries; check the network path to AWS and re-run"), (where, line)
    assert {"GetCallerIdentity", "GetOpenIDConnectProvider", "ListRoles", "HeadBucket", "GetObject",
            "DeleteOpenIDConnectProvider"} <= set(seen), seen


@pytest.mark.parametrize("error", ["ReadTimeoutError", "ConnectTimeoutError", "EndpointConnectionError",
                                   "ConnectionClosedError", "ProxyConnectionError", "SSLError", "HTTPClientError"])
def test_every_kind_of_lost_connection_is_one_line_naming_the_call(error: str) -> None:
    import botocore.exceptions

    from oidc_publisher.aws.clients import unhandled_aws_error

    kind = getattr(botocore.exceptions, error)
    exc = kind(endpoint_url="https://s3.amazonaws.com/b?policy", proxy_url="http://proxy:3128", error=OSError("reset"))
    exc.aws_action = "s3:GetBucketPolicy"
    line = str(unhandled_aws_error(exc))
    assert line.startswith("s3:GetBucketPolicy ") and "; " in line and "\n" not in line, line
    assert "internal error" not in line


def test_teardown_reading_their_bucket_policy_over_a_dropped_connection(world: AwsWorld, tmp_path: Path) -> None:
    """The gap the issue names: teardown's GetBucketPolicy on a dropped connection was exit 70."""
    [case] = [c for c in CASES if c.name == "teardown, their bucket"]
    start_over(world, case, tmp_path)
    world.proxy.fail_next("GetBucketPolicy", kind="drop", times=MAX_ATTEMPTS)
    line = assert_one_line(invoke(*case.args(tmp_path)), "GetBucketPolicy dropped")
    assert line == (
        f"error: s3:GetBucketPolicy on s3://theirs failed: could not connect to the AWS endpoint ({world.endpoint}/theirs?policy); "
        "check the network, proxies and AWS_ENDPOINT_URL, then re-run"
    )
    assert world.recorder.writes == []


PORTAL = b"""<!DOCTYPE html>
<html><head><title>Hotel  Guest WiFi - Log in</title></head>
<body><form action="/login">Room number <input name="room"></form></body></html>
"""


@pytest.fixture
def captive_portal(aws: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> LocalServer:
    from http.server import BaseHTTPRequestHandler

    class Portal(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _page(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PORTAL)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(PORTAL)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _page

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = LocalServer(Portal).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    yield server  # type: ignore[misc]
    server.stop()


@pytest.mark.parametrize(("args", "action"), [
    (["register", "--issuer-url", ISSUER, "--thumbprint", "a" * 40], "iam:ListOpenIDConnectProviders"),
    (["role", "trust-policy", *ROLE], "sts:GetCallerIdentity"),
    (["audit", "--issuer-url", ISSUER], "sts:GetCallerIdentity"),
])
def test_a_captive_portal_at_the_endpoint_is_one_line_naming_it(captive_portal: LocalServer, args: list[str], action: str) -> None:
    result = invoke(*args)
    line = assert_one_line(result, " ".join(args))
    assert line.startswith(f"error: {action}"), line
    assert f"{captive_portal.url} answered with an HTML page titled 'Hotel Guest WiFi - Log in', not AWS" in line, line
    assert "<" not in line, line  # not the page itself


@pytest.mark.parametrize(("reply", "described"), [
    (b"<html><body>Access denied by policy</body></html>", "an HTML page"),
    (b"<HTML><HEAD><TITLE>\n  Sign in\n</TITLE></HEAD></HTML>", "an HTML page titled 'Sign in'"),
    (b"proxy says no", "a reply that is not AWS's ('proxy says no')"),
    (b"", "an empty or unreadable reply"),
])
def test_what_answered_is_named_not_quoted(reply: bytes, described: str) -> None:
    from botocore.parsers import ResponseParserError

    from oidc_publisher.aws.clients import aws_error

    exc = ResponseParserError(f"Unable to parse response (syntax error), invalid XML received. Further retries may succeed:\n{reply!r}")
    exc.aws_endpoint = "https://iam.amazonaws.com"  # type: ignore[attr-defined]
    assert str(aws_error(exc, "iam:GetOpenIDConnectProvider")) == (
        f"iam:GetOpenIDConnectProvider failed: https://iam.amazonaws.com answered with {described}, not AWS "
        "(a proxy or a captive portal in the way?); check the network, proxies (HTTPS_PROXY) and AWS_ENDPOINT_URL, then re-run"
    )


def test_the_safety_net_takes_only_aws_failures() -> None:
    from botocore.exceptions import EndpointConnectionError, ParamValidationError

    from oidc_publisher.aws.clients import unhandled_aws_error

    assert unhandled_aws_error(ValueError("a bug")) is None
    assert unhandled_aws_error(KeyError("Policy")) is None
    unnamed = unhandled_aws_error(EndpointConnectionError(endpoint_url="https://s3.amazonaws.com/"))
    assert str(unnamed) == ("an AWS call failed: could not connect to the AWS endpoint (https://s3.amazonaws.com/); "
                            "check the network, proxies and AWS_ENDPOINT_URL, then re-run")
    # Whatever botocore's message, the line stays one line.
    invalid = unhandled_aws_error(ParamValidationError(report="first problem\nsecond problem"))
    assert invalid is not None and "\n" not in str(invalid)
