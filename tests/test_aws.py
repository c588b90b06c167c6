"""The AWS seam (oidc_publisher.aws.clients): clients as configured, partition without a call, the account from
STS once, and botocore failures turned into the one line a user sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from oidc_publisher import __version__
from oidc_publisher.aws.clients import MAX_ATTEMPTS, AwsClients, aws_error
from oidc_publisher.core.errors import AWSError
from tests.support.cli import invoke
from tests.support.motoserver import AwsWorld

ISSUER = "https://oidc.example.com"


def client_error(code: str, message: str, operation: str = "CreateOpenIDConnectProvider") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (
            client_error(
                "AccessDenied",
                "User: arn:aws:iam::1:user/ci is not authorized to perform: iam:CreateOpenIDConnectProvider.",
            ),
            "iam:CreateOpenIDConnectProvider on oidc.example.com failed (AccessDenied: User: arn:aws:iam::1:user/ci is not "
            "authorized to perform: iam:CreateOpenIDConnectProvider); grant iam:CreateOpenIDConnectProvider to the caller "
            "(see docs/iam-permissions.md)",
        ),
        (
            client_error("ExpiredToken", "The security token included in the request is expired"),
            "iam:CreateOpenIDConnectProvider on oidc.example.com failed (ExpiredToken: The security token included in the "
            "request is expired); the AWS session has expired: refresh your credentials (aws sso login, or a new session)",
        ),
        (
            client_error("LimitExceeded", "Cannot exceed quota for OpenIdConnectProvidersPerAccount: 100"),
            "iam:CreateOpenIDConnectProvider on oidc.example.com failed (LimitExceeded: Cannot exceed quota for "
            "OpenIdConnectProvidersPerAccount: 100); an IAM quota is reached: remove what is no longer used, or ask AWS "
            "to raise the quota",
        ),
        (
            client_error("EntityAlreadyExists", "Provider with url https://oidc.example.com already exists."),
            "iam:CreateOpenIDConnectProvider on oidc.example.com failed (EntityAlreadyExists: Provider with url "
            "https://oidc.example.com already exists); it exists already, perhaps made by another run at the same "
            "moment: re-run to converge it",
        ),
        (
            client_error("SomethingNew", ""),
            "iam:CreateOpenIDConnectProvider on oidc.example.com failed (SomethingNew); see the AWS message; re-run after "
            "fixing it (every command is safe to re-run)",
        ),
        (
            NoCredentialsError(),
            "iam:CreateOpenIDConnectProvider on oidc.example.com failed: no AWS credentials found; configure credentials "
            "(aws configure, AWS_PROFILE, or an IRSA/instance role)",
        ),
        (
            CredentialRetrievalError(provider="sso", error_msg="Token has expired and refresh failed"),
            "iam:CreateOpenIDConnectProvider on oidc.example.com failed: AWS credentials could not be fetched (Error "
            "when retrieving credentials from sso: Token has expired and refresh failed); check the credential source: "
            "the profile, 'aws sso login', or the instance/container/IRSA role",
        ),
        (
            EndpointConnectionError(endpoint_url="https://iam.amazonaws.com/"),
            "iam:CreateOpenIDConnectProvider on oidc.example.com failed: could not connect to the AWS endpoint "
            "(https://iam.amazonaws.com/); check the network, proxies and AWS_ENDPOINT_URL, then re-run",
        ),
        (
            ReadTimeoutError(endpoint_url="https://iam.amazonaws.com/"),
            "iam:CreateOpenIDConnectProvider on oidc.example.com timed out after retries; check the network path to AWS "
            "and re-run",
        ),
        (
            ConnectTimeoutError(endpoint_url="https://iam.amazonaws.com/"),
            "iam:CreateOpenIDConnectProvider on oidc.example.com timed out after retries; check the network path to AWS "
            "and re-run",
        ),
    ],
)
def test_aws_error_is_one_line_naming_the_call_and_what_to_do(exc: Exception, line: str) -> None:
    error = aws_error(exc, "iam:CreateOpenIDConnectProvider", "oidc.example.com")
    assert isinstance(error, AWSError)
    assert str(error) == line
    assert "\n" not in str(error)


def test_clients_are_configured_once(aws: AwsWorld) -> None:
    clients = AwsClients()
    iam = clients.iam()
    assert clients.iam() is iam
    config: Any = iam.meta.config  # botocore's Config sets its attributes dynamically
    assert config.retries == {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS}
    assert (config.connect_timeout, config.read_timeout) == (3, 15)
    assert config.user_agent_extra == f"oidc-publisher/{__version__}"
    assert iam.meta.endpoint_url == aws.endpoint  # AWS_ENDPOINT_URL, no flag of ours
    assert clients.cloudfront().meta.region_name == "us-east-1"


@pytest.mark.parametrize(
    ("region", "partition"), [("eu-west-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_partition_comes_from_the_region_without_a_call(aws: AwsWorld, region: str, partition: str) -> None:
    assert AwsClients(region=region).partition == partition
    assert aws.recorder.calls == []


def test_account_id_is_asked_once(aws: AwsWorld) -> None:
    clients = AwsClients()
    assert clients.account_id == "123456789012"
    assert clients.account_id == "123456789012"
    assert aws.recorder.calls == [("sts", "GetCallerIdentity")]


def test_no_region(aws: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(AWSError) as caught:
        _ = AwsClients().region
    assert str(caught.value) == "no AWS region is configured; give --region, or set AWS_REGION"


def test_aws_region_alone_is_honoured(aws: AwsWorld, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The hints say "set AWS_REGION", and the design promises it works; botocore itself reads only
    AWS_DEFAULT_REGION. A bucket behind a custom domain (no region in the URL), found through AWS_REGION."""
    from tests.support import keys as k

    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert AwsClients().region == "eu-west-1"
    assert AwsClients(region="ap-southeast-2").region == "ap-southeast-2"  # --region still wins
    aws.client("s3", "eu-west-1").create_bucket(Bucket="custom-domain-issuer",
                                                CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    result = invoke("publish", "--issuer-url", ISSUER, "--bucket", "custom-domain-issuer", "--public-key", str(pub))
    assert result.exit_code == 0, result.stderr
    assert aws.client("s3", "eu-west-1").get_object(Bucket="custom-domain-issuer", Key="openid/v1/jwks")["Body"].read()
    # AWS_REGION wins over AWS_DEFAULT_REGION, as in the AWS CLI v2 and the other SDKs.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert AwsClients().region == "eu-west-1"


def test_register_without_credentials(aws: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = invoke("register", "--issuer-url", ISSUER, "--no-thumbprint")
    assert (result.exit_code, result.stderr.strip()) == (
        1,
        "error: iam:ListOpenIDConnectProviders failed: no AWS credentials found; configure credentials "
        "(aws configure, AWS_PROFILE, or an IRSA/instance role)",
    )
    assert aws.recorder.calls == []


def test_register_access_denied_names_the_permission(aws: AwsWorld) -> None:
    aws.proxy.fail_next(
        "CreateOpenIDConnectProvider", status=403, code="AccessDenied", times=1
    )  # not retried: AccessDenied is final
    result = invoke("register", "--issuer-url", ISSUER, "--no-thumbprint")
    assert (result.exit_code, result.stderr.strip()) == (
        1,
        "error: iam:CreateOpenIDConnectProvider on oidc.example.com failed (AccessDenied: injected by the test); "
        "grant iam:CreateOpenIDConnectProvider to the caller (see docs/iam-permissions.md)",
    )
    assert aws.recorder.calls == [("iam", "ListOpenIDConnectProviders"), ("iam", "CreateOpenIDConnectProvider")]
    assert aws.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"] == []


def _stderr_on_a_terminal(*args: str) -> tuple[int, str]:
    from tests.support.terminal import on_a_terminal

    return on_a_terminal(*args, stream="stderr")


def test_retries_say_so_on_a_terminal_and_only_there(aws: AwsWorld) -> None:
    from tests.support.cli import run

    args = ("register", "--issuer-url", ISSUER, "--no-thumbprint", "--dry-run")
    aws.proxy.fail_next("ListOpenIDConnectProviders", 500, times=2)
    code, stderr = _stderr_on_a_terminal(*args)
    assert code == 3
    assert stderr.splitlines() == [
        "iam:ListOpenIDConnectProviders: InternalError 500; retrying (attempt 2 of 5)...",
        "iam:ListOpenIDConnectProviders: InternalError 500; retrying (attempt 3 of 5)...",
    ]
    aws.proxy.fail_next("ListOpenIDConnectProviders", 500, times=2)
    piped = run(*args)
    assert (piped.exit_code, piped.stderr) == (3, "")


@pytest.mark.parametrize(
    ("attempts", "kwargs", "line"),
    [
        (1, {"exception": ConnectionRefusedError()}, "s3:PutObject: ConnectionRefusedError; retrying (attempt 2 of 5)..."),
        (2, {"status": 503, "code": "SlowDown"}, "s3:PutObject: SlowDown 503; retrying (attempt 3 of 5)..."),
        (1, {"status": 400, "code": "Throttling"}, "s3:PutObject: Throttling 400; retrying (attempt 2 of 5)..."),
        (1, {"status": 403, "code": "AccessDenied"}, None),
        (1, {"status": 200}, None),
        (5, {"status": 500, "code": "InternalError"}, None),
    ],
)
def test_retry_note(attempts: int, kwargs: dict[str, Any], line: str | None) -> None:
    from oidc_publisher.aws.clients import retry_note

    assert retry_note("s3:PutObject", attempts, **kwargs) == line
