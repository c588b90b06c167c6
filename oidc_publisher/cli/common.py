"""What every command shares: option aliases, the key-source options, and the one way out.

Commands are plain functions in their own modules; they parse options into a settings object,
call one function that does the work, and hand its result to :func:`finish`. Errors become one
line on stderr (or ``{"error": {...}}`` with ``--output json``) and an exit code, here and only here.

Nothing heavy is imported at module level: ``oidc-publisher --help`` must stay fast.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Protocol, TypeVar

import typer

from oidc_publisher.core.errors import Error, UsageError

if TYPE_CHECKING:
    import datetime as dt

    from oidc_publisher.sources import KeySource


class OutputFormat(str, enum.Enum):
    text = "text"
    json = "json"


class Report(Protocol):
    """What a command returns: a text rendering, a JSON rendering, and its exit code."""

    def to_text(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...

    @property
    def exit_code(self) -> int: ...


OutputOpt = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", help="Report as human-readable text or as JSON.", case_sensitive=False),
]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Read current state and print the plan; change nothing. Exit 3 if changes."),
]
# One handle per issuer: --issuer-url, --bucket and --region also come from the environment, so that a
# shell (or the rotation job's pod) says them once; an explicit option wins.
ISSUER_ENV, BUCKET_ENV, REGION_ENV = "OIDC_PUBLISHER_ISSUER_URL", "OIDC_PUBLISHER_BUCKET", "OIDC_PUBLISHER_REGION"
IssuerUrlOpt = Annotated[
    str,
    typer.Option(
        "--issuer-url",
        envvar=ISSUER_ENV,
        show_envvar=True,
        help="The issuer: byte for byte the 'iss' claim of the cluster's tokens (https, no port/query).",
    ),
]
OptionalIssuerUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--issuer-url",
        envvar=ISSUER_ENV,
        show_envvar=True,
        help="The issuer: byte for byte the 'iss' claim of the cluster's tokens. Derived from the bucket "
        "when the issuer is the bucket's own S3 URL.",
    ),
]
JwksUriOpt = Annotated[
    str | None,
    typer.Option(
        "--jwks-uri", help="Publish this as the discovery document's jwks_uri (default: ISSUER/openid/v1/jwks)."
    ),
]

# Key-source options. Every command that needs keys takes exactly one kind.
FromClusterOpt = Annotated[
    bool,
    typer.Option(
        "--from-cluster",
        help="Read the keys from the API server (/openid/v1/jwks) with the kubeconfig's credentials, "
        "or the pod's service account when run in-cluster.",
        rich_help_panel="Key source (exactly one)",
    ),
]
KubeconfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--kubeconfig",
        help="Kubeconfig file for --from-cluster (default: $KUBECONFIG or ~/.kube/config).",
        rich_help_panel="Key source (exactly one)",
    ),
]
ContextOpt = Annotated[
    str | None,
    typer.Option(
        "--context", help="Kubeconfig context for --from-cluster.", rich_help_panel="Key source (exactly one)"
    ),
]
InsecureSkipTlsVerifyOpt = Annotated[
    bool,
    typer.Option(
        "--insecure-skip-tls-verify",
        help="With --from-cluster: accept a kubeconfig that sets insecure-skip-tls-verify (refused otherwise: "
        "anyone on the network path could add a signing key). Warns on every run.",
        rich_help_panel="Key source (exactly one)",
    ),
]
JwksFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--jwks",
        help="A JWKS file, e.g. the output of 'kubectl get --raw /openid/v1/jwks'.",
        rich_help_panel="Key source (exactly one)",
    ),
]
PublicKeyOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--public-key",
        help="A PEM public key (SubjectPublicKeyInfo, PKCS#1 RSA, or an X.509 certificate); repeatable. "
        "E.g. /etc/kubernetes/pki/sa.pub.",
        rich_help_panel="Key source (exactly one)",
    ),
]


def source_options(
    from_cluster: bool,
    kubeconfig: Path | None,
    context: str | None,
    jwks: Path | None,
    public_keys: list[Path] | None,
    *,
    required: bool = True,
    insecure_skip_tls_verify: bool = False,
) -> KeySource:
    """Check that exactly one kind of key source was given (at most one when not ``required``)."""
    kinds = [
        name
        for name, given in (
            ("--from-cluster", from_cluster),
            ("--jwks", jwks is not None),
            ("--public-key", bool(public_keys)),
        )
        if given
    ]
    if len(kinds) > 1:
        raise UsageError(
            f"{' and '.join(kinds)} were both given",
            "give exactly one key source: --from-cluster, --jwks FILE, or --public-key FILE (repeatable)",
        )
    if required and not kinds:
        raise UsageError(
            "no key source given",
            "give exactly one of --from-cluster, --jwks FILE, or --public-key FILE (repeatable)",
        )
    if not from_cluster and (kubeconfig is not None or context is not None):
        raise UsageError("--kubeconfig and --context only apply with --from-cluster", "add --from-cluster or drop them")
    if insecure_skip_tls_verify and not from_cluster:
        raise UsageError("--insecure-skip-tls-verify only applies with --from-cluster", "drop it")
    from oidc_publisher.sources import KeySource

    return KeySource(
        from_cluster=from_cluster,
        kubeconfig=kubeconfig,
        context=context,
        jwks=jwks,
        public_keys=tuple(public_keys or ()),
        # The risk accepted is said on every run, when the unverified connection is made.
        insecure_ok=warn if insecure_skip_tls_verify else None,
    )


MemberOpt = Annotated[
    str | None,
    typer.Option(
        "--member",
        metavar="NAME",
        help="This cluster's name in an issuer shared by several clusters: only its keys are converged, the "
        "published JWKS is every member's (docs/shared-issuer.md).",
    ),
]
ClientIdOpt = Annotated[
    list[str] | None,
    typer.Option("--client-id", help="Audience the provider accepts; repeatable (default: sts.amazonaws.com)."),
]
ThumbprintOpt = Annotated[
    list[str] | None,
    typer.Option("--thumbprint", help="Register this thumbprint instead of computing it; repeatable (at most 5)."),
]
NoThumbprintOpt = Annotated[
    bool,
    typer.Option(
        "--no-thumbprint",
        help="Register without a thumbprint: IAM fetches one itself when it creates the provider, and checks "
        "certificates from CAs in its own trusted library without it. Thumbprints already registered are kept.",
    ),
]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="K=V tag for what the tool creates; repeatable.")]


def parse_tags(values: list[str] | None) -> tuple[tuple[str, str], ...]:
    tags = []
    for value in values or ():
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise UsageError(f"--tag {value!r} is not KEY=VALUE", "write tags like --tag team=platform")
        tags.append((key, val))
    return tuple(tags)


R = TypeVar("R", bound=Report)


def run(work: Callable[[], R], output: OutputFormat) -> NoReturn:
    """Run a command's work, render its report, and exit with its code; errors exit the one way."""
    try:
        report = work()
    except Error as exc:
        fail(exc, output)
    except KeyboardInterrupt:
        _stderr("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:
        from oidc_publisher.aws.clients import unhandled_aws_error

        if (translated := unhandled_aws_error(exc)) is None:
            raise
        fail(translated, output)
    emit(report, output)
    raise typer.Exit(report.exit_code)


def emit(report: Report, output: OutputFormat) -> None:
    if output is OutputFormat.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n")
    else:
        text = colour_marks(report.to_text(), enabled=use_colour(sys.stdout))
        if text:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def use_colour(stream: Any) -> bool:
    """Colour on a terminal only, and never when NO_COLOR is set to anything (https://no-color.org)."""
    import os

    return not os.environ.get("NO_COLOR") and bool(getattr(stream, "isatty", lambda: False)())


def colour_marks(text: str, *, enabled: bool) -> str:
    """A failed check's ``[FAIL]`` in red."""
    return text.replace("[FAIL]", "\x1b[31m[FAIL]\x1b[0m") if enabled else text


def fail(exc: Error, output: OutputFormat = OutputFormat.text) -> NoReturn:
    """Print an expected error (one line) and exit with its code."""
    if output is OutputFormat.json:
        sys.stdout.write(json.dumps({"error": exc.to_json()}, indent=2, sort_keys=True) + "\n")
        sys.stdout.flush()
    _stderr(f"error: {exc}")
    raise typer.Exit(exc.exit_code) from None


def warn(message: str) -> None:
    """A warning for the user; always on stderr so that stdout stays parseable."""
    _stderr(f"warning: {message}")


def warn_short_retention(retain: dt.timedelta) -> None:
    """Warn of a retention shorter than a token's life; called once the work is done, so that a refused
    run gets its one error line alone."""
    from oidc_publisher.core.rotation import short_retention

    if (risk := short_retention(retain)) is not None:
        warn(risk)


def _stderr(line: str) -> None:
    sys.stderr.write(line.rstrip("\n") + "\n")
    sys.stderr.flush()


def guard(work: Callable[[], Any], output: OutputFormat = OutputFormat.text) -> Any:
    """Run a step that may raise :class:`Error` outside :func:`run` (e.g. option parsing)."""
    try:
        return work()
    except Error as exc:
        fail(exc, output)


AccountRoleOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--account-role",
        metavar="ARN",
        help="Work in the account of this IAM role, assumed with the standard credential chain (sts:AssumeRole, "
        "session name oidc-publisher), instead of the caller's; repeatable: every account in one run, each with "
        "its own result (see docs/accounts.md).",
        rich_help_panel="Several AWS accounts",
    ),
]


ConnectToOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--connect-to",
        help="HOST:PORT:ADDR:PORT: connect to ADDR:PORT instead, with SNI and verification for HOST (like curl); "
        "repeatable. Also read from OIDC_PUBLISHER_CONNECT_TO.",
    ),
]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the host (STS waits about 5).")]
