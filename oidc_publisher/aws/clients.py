"""The one place boto3 sessions and clients are made, and where botocore errors become ours.

Plain boto3: the standard credential chain, profiles, ``AWS_REGION``, ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` all work with no flag of ours. Retries follow botocore's standard mode.
boto3 is imported only when a client is first needed (``--help`` must stay fast).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from oidc_publisher import __version__
from oidc_publisher.core.errors import OPTION, AWSError

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

# Total attempts per call (the first one included), with standard mode's backoff and retry quota.
MAX_ATTEMPTS = 5
# Seconds. AWS endpoints accept a connection in milliseconds: a short connect timeout makes an unreachable
# endpoint fail in seconds, not minutes (five attempts, with backoff). OIDC_PUBLISHER_AWS_TIMEOUT sets both.
CONNECT_TIMEOUT, READ_TIMEOUT = 3, 15
# Error codes standard mode retries besides 5xx answers (throttling and transient ones).
_RETRIED_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException", "RequestTimeout", "RequestTimeoutException", "IDPCommunicationError",
})


def retry_note(
    action: str, attempts: int, *, exception: Exception | None = None, status: int | None = None, code: str | None = None
) -> str | None:
    """The progress line while botocore retries ``action`` after attempt ``attempts``, or None when it will not."""
    if attempts >= MAX_ATTEMPTS:
        return None
    if exception is not None:
        reason = "no answer" if "Timeout" in type(exception).__name__ else f"{type(exception).__name__}"
    elif status is not None and (status >= 500 or status == 429 or code in _RETRIED_CODES):
        reason = f"{code or 'HTTP'} {status}" if code else f"HTTP {status}"
    else:
        return None
    return f"{action}: {reason}; retrying (attempt {attempts + 1} of {MAX_ATTEMPTS})..."


def _note_retry(attempts: int, operation: Any, caught_exception: Exception | None = None, response: Any = None,
                **_: Any) -> None:
    """botocore's needs-retry event, on a terminal only: a line instead of silence while it backs off."""
    import sys

    status = code = None
    if response is not None:
        status = response[0].status_code
        code = response[1].get("Error", {}).get("Code")
    action = f"{operation.service_model.endpoint_prefix}:{operation.name}"
    line = retry_note(action, attempts, exception=caught_exception, status=status, code=code)
    if line is not None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def stderr_is_terminal() -> bool:
    import sys

    return sys.stderr.isatty()


class AwsClients:
    """Lazily made boto3 clients sharing one session; tests point ``AWS_ENDPOINT_URL`` at moto instead."""

    def __init__(
        self, region: str | None = None, profile: str | None = None, *, max_pool_connections: int = 10,
        credentials: dict[str, str] | None = None, account: str | None = None,
    ) -> None:
        self._region = region
        self._profile = profile
        self._max_pool_connections = max_pool_connections
        # An assumed role's temporary credentials (see assume), used instead of the credential chain.
        self._credentials = credentials
        self._account = account
        self._clients: dict[tuple[str, str | None], Any] = {}
        # A boto3 session is not thread-safe (its clients are): clients made lazily from worker threads
        # (publish --fleet) are made one at a time.
        self._lock = threading.Lock()

    @cached_property
    def session(self) -> Any:
        import boto3
        from botocore.exceptions import BotoCoreError

        # botocore reads only AWS_DEFAULT_REGION (and the profile's region); AWS_REGION is what the other
        # SDKs, the AWS CLI v2 and most CI and container set-ups set, and there it wins over both.
        region = self._region or os.environ.get("AWS_REGION") or None
        try:
            if self._credentials is not None:
                given = self._credentials
                session = boto3.session.Session(
                    aws_access_key_id=given["aws_access_key_id"], aws_secret_access_key=given["aws_secret_access_key"],
                    aws_session_token=given["aws_session_token"], region_name=region,
                )
            else:
                session = boto3.session.Session(profile_name=self._profile, region_name=region)
        except BotoCoreError as exc:
            raise aws_error(exc, "configure the AWS session") from None
        session.events.register("creating-client-class", _name_the_calls)
        return session

    @cached_property
    def config(self) -> Any:
        import os

        from botocore.config import Config

        # OIDC_PUBLISHER_AWS_TIMEOUT (seconds) shortens both timeouts, e.g. for a job with a tight deadline.
        try:
            timeout = float(os.environ.get("OIDC_PUBLISHER_AWS_TIMEOUT", "") or 0) or None
        except ValueError:
            raise AWSError("OIDC_PUBLISHER_AWS_TIMEOUT is not a number of seconds", "set it like 10, or unset it") from None
        return Config(
            retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
            connect_timeout=timeout or CONNECT_TIMEOUT,
            read_timeout=timeout or READ_TIMEOUT,
            user_agent_extra=f"oidc-publisher/{__version__}",
            # One client serves every thread of publish --fleet: a pool smaller than the threads discards connections.
            max_pool_connections=self._max_pool_connections,
        )

    def region_or_none(self) -> str | None:
        return self._region or self.session.region_name or None

    @property
    def region(self) -> str:
        region = self.region_or_none()
        if not region:
            raise AWSError("no AWS region is configured", f"give {OPTION}, or set AWS_REGION", option="--region")
        return region

    def _client(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                from botocore.exceptions import BotoCoreError

                try:
                    client = self.session.client(
                        service, region_name=region or self.region_or_none() or "us-east-1", config=self.config
                    )
                    if stderr_is_terminal():
                        client.meta.events.register("needs-retry", _note_retry)
                    self._clients[key] = client
                except BotoCoreError as exc:
                    raise aws_error(exc, f"create the {service} client") from None
            return self._clients[key]

    def client(self, service: str, region: str | None = None) -> Any:
        """The client for ``service`` (an operation's; CloudFront's API is always us-east-1's)."""
        return self._client(service, "us-east-1" if service == "cloudfront" else region)

    def s3(self, region: str | None = None) -> S3Client:
        return self._client("s3", region)  # type: ignore[no-any-return]

    def iam(self) -> IAMClient:
        return self._client("iam")  # type: ignore[no-any-return]

    def cloudfront(self) -> CloudFrontClient:
        # CloudFront is global; its API lives in us-east-1.
        return self._client("cloudfront", "us-east-1")  # type: ignore[no-any-return]

    def sts(self) -> STSClient:
        return self._client("sts")  # type: ignore[no-any-return]

    @cached_property
    def partition(self) -> str:
        """aws, aws-cn or aws-us-gov, from the region (botocore's partition data; no API call)."""
        region = self.region_or_none() or "us-east-1"
        try:
            return str(self.session.get_partition_for_region(region))
        except Exception:  # noqa: BLE001 - unknown region: fall back on the prefixes AWS uses
            if region.startswith("cn-"):
                return "aws-cn"
            if region.startswith("us-gov-"):
                return "aws-us-gov"
            return "aws"

    @cached_property
    def account_id(self) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        if self._account is not None:
            return self._account
        try:
            return str(self.sts().get_caller_identity()["Account"])
        except (ClientError, BotoCoreError) as exc:
            raise aws_error(exc, "sts:GetCallerIdentity") from None

    def assume(self, role_arn: str) -> AwsClients:
        """New clients in the role's account: sts:AssumeRole with this session's credentials (the standard
        chain), session name ``oidc-publisher``. The temporary credentials last an hour, longer than a run.

        Made in the caller's thread: the source session is not thread-safe, the new one is the caller's alone.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.sts().assume_role(RoleArn=role_arn, RoleSessionName=ASSUMED_SESSION_NAME)
        except ClientError as exc:
            raise assume_role_error(exc, role_arn) from None
        except BotoCoreError as exc:
            raise aws_error(exc, "sts:AssumeRole", role_arn) from None
        given = answer["Credentials"]
        credentials = {
            "aws_access_key_id": given["AccessKeyId"],
            "aws_secret_access_key": given["SecretAccessKey"],
            "aws_session_token": given["SessionToken"],
        }
        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else None
        assumed = AwsClients(
            region=self.region_or_none(), max_pool_connections=self._max_pool_connections,
            credentials=credentials, account=account or None,
        )
        assumed.session  # noqa: B018 - made here, in the caller's thread, not lazily in a worker's
        return assumed


# The session name every assumed role's CloudTrail entries carry (sts:AssumeRole's RoleSessionName).
ASSUMED_SESSION_NAME = "oidc-publisher"


def assume_role_error(exc: Exception, role_arn: str) -> AWSError:
    """sts:AssumeRole refused: one line naming the role and both halves of the fix (the caller's permission,
    the role's trust policy); other failures as any AWS call's."""
    code = error_code(exc)
    if code in ("AccessDenied", "AccessDeniedException"):
        message = str(exc.response.get("Error", {}).get("Message", "")).strip().rstrip(".")  # type: ignore[attr-defined]
        return AWSError(
            f"sts:AssumeRole of {role_arn} failed (AccessDenied{': ' + message if message else ''})",
            "grant the caller sts:AssumeRole on that role, and let the role's trust policy admit the caller "
            "(see docs/accounts.md)",
        )
    return aws_error(exc, "sts:AssumeRole", role_arn)


class _NamedCalls:
    """Mixed into every client class the session makes: an exception leaving an API call carries the
    call's name (``s3:GetBucketPolicy``; for most calls also the IAM action) and the endpoint it went to,
    so that a failure no caller translated still becomes one line naming the call
    (:func:`unhandled_aws_error`)."""

    meta: Any

    def _make_api_call(self, operation_name: str, api_params: Any) -> Any:
        try:
            return super()._make_api_call(operation_name, api_params)  # type: ignore[misc]
        except Exception as exc:
            if not hasattr(exc, "aws_action"):
                exc.aws_action = f"{self.meta.service_model.signing_name}:{operation_name}"  # type: ignore[attr-defined]
                exc.aws_endpoint = self.meta.endpoint_url  # type: ignore[attr-defined]
            raise


def _name_the_calls(base_classes: list[type], **_: Any) -> None:
    base_classes.insert(0, _NamedCalls)


_HINTS = {
    "AccessDenied": "grant {action} to the caller (see docs/iam-permissions.md)",
    "AccessDeniedException": "grant {action} to the caller (see docs/iam-permissions.md)",
    "UnauthorizedOperation": "grant {action} to the caller",
    "InvalidClientTokenId": "the AWS access key is not valid: check your credentials or profile",
    "SignatureDoesNotMatch": "the AWS secret key does not match: check your credentials or profile",
    "ExpiredToken": "the AWS session has expired: refresh your credentials (aws sso login, or a new session)",
    "ExpiredTokenException": "the AWS session has expired: refresh your credentials",
    "NoSuchBucket": "check {option} and the region, or create it with 'oidc-publisher bootstrap'",
    "BucketAlreadyExists": "bucket names are global and this one belongs to another account: choose another {option}",
    # IAM's LimitExceeded covers every IAM quota (providers per account, client IDs and thumbprints per
    # provider, tags): the AWS message in the line says which one.
    "LimitExceeded": "an IAM quota is reached: remove what is no longer used, or ask AWS to raise the quota",
    "EntityAlreadyExists": "it exists already, perhaps made by another run at the same moment: re-run to converge it",
    "NoSuchEntity": "it does not exist (any more): check the name, or re-run to create it",
    "BucketAlreadyOwnedByYou": "the bucket is already yours (perhaps in another region): re-run to converge it",
    "Throttling": "AWS kept throttling after retries: re-run in a minute (the next run converges)",
    "SlowDown": "S3 kept asking to slow down after retries: re-run in a minute (the next run converges)",
    "InternalError": "AWS kept failing after retries: re-run later (the next run converges)",
    "ServiceUnavailable": "AWS kept failing after retries: re-run later (the next run converges)",
}


# S3 names the setting when Block Public Access refuses a public bucket policy ("... because public policies
# are blocked by the BlockPublicPolicy block public access setting").
_BLOCK_PUBLIC_ACCESS = re.compile(r"BlockPublicPolicy|block public access", re.IGNORECASE)
_BPA_HINT = (
    "S3 Block Public Access refuses the public read policy an S3-direct issuer needs: turn off BlockPublicPolicy "
    "for the account (aws s3control put-public-access-block, or the S3 console's account settings), or keep the "
    "bucket private and serve the issuer through CloudFront (bootstrap --cloudfront)"
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (``NoSuchKey``, ``PreconditionFailed``), else ""."""
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))


def error_status(exc: BaseException) -> int:
    """The HTTP status of the answer a botocore ClientError carries, else 0."""
    return int((getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def aws_error(exc: Exception, action: str, resource: str | None = None) -> AWSError:
    """Translate a botocore failure into one line that names the call, the resource and what to do."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        CredentialRetrievalError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
        ReadTimeoutError,
    )
    from botocore.parsers import ResponseParserError

    where = f" on {resource}" if resource else ""
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return AWSError(
            f"{action}{where} failed: no AWS credentials found",
            "configure credentials (aws configure, AWS_PROFILE, or an IRSA/instance role)",
        )
    if isinstance(exc, CredentialRetrievalError):
        return AWSError(
            f"{action}{where} failed: AWS credentials could not be fetched ({exc})",
            "check the credential source: the profile, 'aws sso login', or the instance/container/IRSA role",
        )
    if isinstance(exc, ProfileNotFound):
        return AWSError(f"{exc}", "check AWS_PROFILE and ~/.aws/config")
    if isinstance(exc, NoRegionError):
        return AWSError(f"{action}{where} failed: no AWS region is configured", f"give {OPTION}, or set AWS_REGION",
                        option="--region")
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
        return AWSError(f"{action}{where} timed out after retries", "check the network path to AWS and re-run")
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError)):
        return AWSError(
            f"{action}{where} failed: could not connect to the AWS endpoint ({getattr(exc, 'kwargs', {}).get('endpoint_url', 'unknown')})",
            "check the network, proxies and AWS_ENDPOINT_URL, then re-run",
        )
    if isinstance(exc, ResponseParserError):
        endpoint = getattr(exc, "aws_endpoint", None) or "the AWS endpoint"
        return AWSError(
            f"{action}{where} failed: {endpoint} answered with {_what_answered(str(exc))}, not AWS "
            "(a proxy or a captive portal in the way?)",
            "check the network, proxies (HTTPS_PROXY) and AWS_ENDPOINT_URL, then re-run",
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", "")).strip().rstrip(".")
        hint = _HINTS.get(code, "see the AWS message; re-run after fixing it (every command is safe to re-run)")
        if code == "AccessDenied" and _BLOCK_PUBLIC_ACCESS.search(message):
            # Granting the action would not help: the account (or bucket) setting refuses public policies.
            hint = _BPA_HINT
        detail = f"{code}: {message}" if message else code
        option = "--bucket" if code in ("NoSuchBucket", "BucketAlreadyExists") else None  # what the hint names
        return AWSError(f"{action}{where} failed ({detail})", hint.format(action=action, option=OPTION), option=option)
    detail = " ".join(str(exc).split())  # one line, whatever botocore put in its message
    return AWSError(f"{action}{where} failed ({type(exc).__name__}: {detail})", "re-run; if it persists, check the network")


def _what_answered(message: str) -> str:
    """What a server that is not AWS sent, from botocore's parser error (which quotes the reply): an
    HTML page by its title, else the reply's start; never the whole page."""
    import ast
    import re

    _, _, reply = message.partition("Further retries may succeed:")
    reply = reply.strip()
    if reply[:2] in ("b'", 'b"'):  # botocore quotes the body as a bytes literal
        try:
            reply = ast.literal_eval(reply).decode("utf-8", "replace")
        except (ValueError, SyntaxError, AttributeError):
            reply = reply[2:-1]
    title = re.search(r"<title[^>]*>\s*([^<]*?)\s*</title>", reply, re.IGNORECASE)
    if title and title.group(1):
        return f"an HTML page titled {' '.join(title.group(1).split())[:80]!r}"
    if re.search(r"<!doctype html|<html", reply, re.IGNORECASE):
        return "an HTML page"
    start = " ".join(reply.split())[:60]
    return f"a reply that is not AWS's ({start!r})" if start else "an empty or unreadable reply"


def unhandled_aws_error(exc: BaseException) -> AWSError | None:
    """The safety net under every command (cli/common.run, publish --fleet): a botocore or boto3 failure
    that no caller translated becomes the one-line :class:`AWSError` of the call it came from, instead of
    an internal error. Callers still see and handle the AWS errors they expect (NoSuchKey, a precondition
    failed) first; anything else is None."""
    if "botocore" not in sys.modules:  # nothing of AWS's was called
        return None
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    kinds: tuple[type[Exception], ...] = (ClientError, BotoCoreError, ResponseParserError)
    if "boto3" in sys.modules:
        from boto3.exceptions import Boto3Error

        kinds += (Boto3Error,)
    if not isinstance(exc, kinds):
        return None
    return aws_error(exc, getattr(exc, "aws_action", None) or "an AWS call")


@contextmanager
def translated(action: str, resource: str | None = None) -> Iterator[None]:
    """Turn any botocore failure inside the block into the one-line :class:`AWSError` for ``action``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise aws_error(exc, action, resource) from None
