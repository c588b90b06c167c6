"""``oidc-publisher thumbprint``."""

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from oidc_publisher.cli.common import ISSUER_ENV, OutputFormat, OutputOpt, fail, run

ConnectToOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--connect-to",
        help="HOST:PORT:ADDR:PORT: connect to ADDR:PORT instead, with SNI and verification for HOST (like curl); "
        "repeatable. Also read from OIDC_PUBLISHER_CONNECT_TO.",
    ),
]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the host (STS waits about 5).")]


@dataclass(frozen=True)
class ThumbprintReport:
    host: str
    port: int
    thumbprint: str
    certificates: list[dict[str, str]]
    exit_code: int = 0

    def to_text(self) -> str:
        return self.thumbprint

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "thumbprint": self.thumbprint, "presented": self.certificates}


def _describe(der: bytes) -> dict[str, str]:
    import hashlib

    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha1": hashlib.sha1(der).hexdigest(),  # noqa: S324 - the thumbprint's definition
    }


def compute(url: str, connect_to: list[str], timeout: float) -> ThumbprintReport:
    from urllib.parse import urlsplit

    from oidc_publisher.core.errors import InputError
    from oidc_publisher.tls import fetch_chain

    parts = urlsplit(url.strip() if "://" in url else f"https://{url.strip()}")
    try:
        port = parts.port or 443
    except ValueError:
        port = 0
    if parts.scheme != "https" or not parts.hostname or not port:
        raise InputError(
            f"{url!r} is not an https URL or a host name", "give the issuer URL, e.g. https://oidc.example.com"
        )
    if not 0 < timeout < float("inf"):
        raise InputError(f"--timeout {timeout:g} is not a positive number of seconds", "STS waits about 5: try 5")
    chain = fetch_chain(parts.hostname, port, timeout=timeout, connect_to=connect_to)
    return ThumbprintReport(
        host=chain.host,
        port=chain.port,
        thumbprint=chain.thumbprint,
        certificates=[_describe(der) for der in chain.certificates],
    )


def thumbprint(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Argument(help="The issuer URL (or just its host): the same as --issuer-url.", show_default=False)
    ] = None,
    issuer_url: Annotated[
        str | None,
        typer.Option(
            "--issuer-url", envvar=ISSUER_ENV, show_envvar=True, help="The issuer URL (or just its host)."
        ),
    ] = None,
    connect_to: ConnectToOpt = None,
    timeout: TimeoutOpt = 5.0,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Print the SHA-1 thumbprint IAM expects: of the last certificate the host presents, once the chain verifies."""
    from oidc_publisher.core.errors import UsageError

    # Typer may vendor click: compare the parameter source by name.
    explicit = getattr(ctx.get_parameter_source("issuer_url"), "name", None) == "COMMANDLINE"
    if url is not None and issuer_url is not None and explicit and url != issuer_url:
        fail(UsageError(f"URL {url!r} and --issuer-url {issuer_url!r} disagree", "give one of them"), output)
    chosen = url if url is not None else issuer_url  # the positional is as explicit as the option
    if chosen is None:
        fail(UsageError("no issuer given", "give --issuer-url URL (or the URL as the argument)"), output)
    run(lambda: compute(chosen, list(connect_to or ()), timeout), output)
