"""``keys generate``: a new service-account signing key pair and the kube-apiserver flags that use it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oidc_publisher.core.issuer import parse_issuer
from oidc_publisher.core.keys import generate_private_key, private_key_pem, signing_key
from oidc_publisher.files import ensure_dir, write_new

PRIVATE_KEY_NAME = "sa-signer.key"
PUBLIC_KEY_NAME = "sa-signer.pub"


@dataclass(frozen=True)
class KeygenSettings:
    out_dir: Path
    key_type: str = "rsa"
    bits: int | None = None
    force: bool = False
    issuer_url: str | None = None


@dataclass(frozen=True)
class KeygenReport:
    private_key: Path
    public_key: Path
    kid: str
    alg: str
    flags: list[str]
    exit_code: int = 0

    def to_text(self) -> str:
        lines = [
            f"Wrote {self.private_key} (private, mode 0600: keep it on the control plane only)",
            f"Wrote {self.public_key} (public; kid {self.kid}, {self.alg})",
            "",
            "kube-apiserver flags:",
            *(f"  {flag}" for flag in self.flags),
        ]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "private_key": str(self.private_key),
            "public_key": str(self.public_key),
            "kid": self.kid,
            "alg": self.alg,
            "kube_apiserver_flags": self.flags,
        }


def apiserver_flags(issuer_url: str | None, public_key: Path, private_key: Path) -> list[str]:
    """The flags that make kube-apiserver sign with this key for this issuer.

    ``--api-audiences`` is the issuer itself, the audience in-cluster clients get by default. It never
    includes sts.amazonaws.com: a token minted for STS must not also authenticate to the API server.
    """
    issuer = parse_issuer(issuer_url).url if issuer_url else "<ISSUER_URL>"
    base = issuer.rstrip("/")
    return [
        f"--service-account-issuer={issuer}",
        f"--service-account-jwks-uri={base}/openid/v1/jwks",
        f"--service-account-key-file={public_key}",
        f"--service-account-signing-key-file={private_key}",
        f"--api-audiences={issuer}",
    ]


def generate(settings: KeygenSettings) -> KeygenReport:
    if settings.issuer_url:
        parse_issuer(settings.issuer_url)  # refuse a bad issuer before anything is written
    bits = settings.bits or (2048 if settings.key_type == "rsa" else 256)
    private_key = generate_private_key(settings.key_type, bits)
    public = signing_key(private_key.public_key(), "generated key")
    out_dir = settings.out_dir.resolve()
    ensure_dir(out_dir)
    private_path = out_dir / PRIVATE_KEY_NAME
    public_path = out_dir / PUBLIC_KEY_NAME
    if not settings.force:
        for path in (private_path, public_path):
            if path.exists():
                from oidc_publisher.core.errors import InputError

                raise InputError(f"{path} already exists", "refusing to overwrite a key; use --force to replace it")
    write_new(private_path, private_key_pem(private_key), mode=0o600, force=settings.force)
    write_new(public_path, public.public_pem(), mode=0o644, force=settings.force)
    return KeygenReport(
        private_key=private_path,
        public_key=public_path,
        kid=public.kid,
        alg=public.alg,
        flags=apiserver_flags(settings.issuer_url, public_path, private_path),
    )
