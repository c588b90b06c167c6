"""Key sources: the cluster's API server, a JWKS file, or PEM public keys.

Exactly one kind per command. What comes out is the set of keys the API server verifies tokens
with, and, from a cluster, the issuer the cluster itself puts in its tokens.

Module-level imports stay light (this module is imported by the CLI at start-up); the key parsing
(cryptography) and the Kubernetes edge are imported when keys are actually loaded.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from oidc_publisher.core.errors import OPTION, ConflictError, InputError
from oidc_publisher.core.limits import MAX_DOCUMENT_BYTES

if TYPE_CHECKING:
    from oidc_publisher.core.issuer import Issuer
    from oidc_publisher.core.keys import SigningKey


@dataclass(frozen=True)
class KeySource:
    """Where the keys come from, exactly as the command line said."""

    from_cluster: bool = False
    kubeconfig: Path | None = None
    context: str | None = None
    jwks: Path | None = None
    public_keys: tuple[Path, ...] = ()
    # --insecure-skip-tls-verify: called with the warning when the kubeconfig skips TLS verification
    # (refused when None).
    insecure_ok: Callable[[str], None] | None = field(default=None, compare=False, repr=False)

    @property
    def given(self) -> bool:
        return self.from_cluster or self.jwks is not None or bool(self.public_keys)

    @property
    def kind(self) -> str:
        if self.from_cluster:
            return "cluster"
        if self.jwks is not None:
            return "jwks"
        return "public-key"


@dataclass(frozen=True)
class SourceKeys:
    keys: tuple[SigningKey, ...]
    description: str
    # The issuer the cluster puts in its tokens' 'iss' (only known when read from a cluster).
    cluster_issuer: str | None = None

    @property
    def kids(self) -> list[str]:
        return [key.kid for key in self.keys]


def read_file(path: Path, what: str, *, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """A user-given file's bytes, or a one-line error that names the file and the reason.

    At most ``limit`` bytes are read (``/dev/zero`` is refused, not read until memory runs out), and a
    FIFO is opened without waiting for a writer: one with none gives no data, and is refused as such.
    A pipe that has a writer (``--jwks <(kubectl get --raw /openid/v1/jwks)``) is read as usual.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist", "check the path") from None
    except PermissionError:
        raise InputError(
            f"{what} {path} is not readable", "check its permissions (run as a user who can read it)"
        ) from None
    except IsADirectoryError:
        raise InputError(f"{what} {path} is a directory", "give the path of a file") from None
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read ({exc.strerror})", "check the path") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{what} {path} is a directory", "give the path of a file")
        os.set_blocking(fd, True)  # only the open must not wait; a writer that is there is waited for
        chunks: list[bytes] = []
        size = 0
        while size <= limit and (chunk := os.read(fd, min(1 << 16, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read ({exc.strerror})", "check the path") from None
    finally:
        os.close(fd)
    if size > limit:
        raise InputError(
            f"{what} {path} is larger than {limit // 1024} KiB, the most the tool reads of any input "
            "(and verify of any issuer document)",
            "check the path",
        )
    if not chunks and not stat.S_ISREG(mode):
        raise InputError(
            f"{what} {path} gave no data (a pipe or device nobody writes to)", "give a regular file, or write to the pipe"
        )
    return b"".join(chunks)


def read_text(path: Path, what: str) -> str:
    """A user-given text file (``-``: standard input), bounded like :func:`read_file`, decoded as UTF-8."""
    if str(path) == "-":
        import sys

        data = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)
        if len(data) > MAX_DOCUMENT_BYTES:
            raise InputError(
                f"{what} on standard input is larger than {MAX_DOCUMENT_BYTES // 1024} KiB", "give only the token"
            )
        where = "on standard input"
    else:
        data = read_file(path, what)
        where = str(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} {where} is not UTF-8 text (byte {exc.start + 1})", "give the token as the API server issued it"
        ) from None


def load_keys(source: KeySource, issuer: Issuer | None = None) -> SourceKeys:
    """Load and validate the source's keys; refuse a cluster whose own issuer is not ``issuer``."""
    from oidc_publisher.core import keys as keymod

    if source.from_cluster:
        return _load_from_cluster(source, issuer)
    if source.jwks is not None:
        data = read_file(source.jwks, "JWKS file")
        parsed = keymod.parse_jwks(data, str(source.jwks))
        found = keymod.merge_keys([parsed], str(source.jwks))
        return SourceKeys(tuple(found), f"JWKS file {source.jwks}")
    if source.public_keys:
        groups = [keymod.load_public_keys_pem(read_file(p, "public key file"), str(p)) for p in source.public_keys]
        found = keymod.merge_keys(groups, "the --public-key files")
        names = ", ".join(str(p) for p in source.public_keys)
        return SourceKeys(tuple(found), f"public key file{'s' if len(source.public_keys) > 1 else ''} {names}")
    raise InputError("no key source given", "give --from-cluster, --jwks FILE or --public-key FILE")


def check_cluster_issuer(cluster_issuer: str, issuer: Issuer) -> None:
    """Tokens carry the cluster's own issuer: publishing under any other URL makes STS reject all of them."""
    if cluster_issuer == issuer.url:
        return
    if cluster_issuer.rstrip("/") == issuer.url.rstrip("/"):
        raise ConflictError(
            f"trailing slash mismatch: the cluster's issuer is {cluster_issuer!r} but {OPTION} is {issuer.url!r}",
            "STS compares 'iss' byte for byte: use exactly the cluster's --service-account-issuer value", option="--issuer-url",
        )
    raise ConflictError(
        f"the cluster's issuer is {cluster_issuer!r} but {OPTION} is {issuer.url!r}",
        "tokens carry the cluster's 'iss': publish for that issuer, or first change the API server's "
        "--service-account-issuer (oidc-publisher templates render shows how)", option="--issuer-url",
    )


def _load_from_cluster(source: KeySource, issuer: Issuer | None) -> SourceKeys:
    from oidc_publisher.core import keys as keymod
    from oidc_publisher.kube import read_issuer_documents

    documents = read_issuer_documents(source.kubeconfig, source.context, insecure_ok=source.insecure_ok)
    where = f"the cluster's JWKS ({documents.server}/openid/v1/jwks)"
    parsed = keymod.parse_jwks(documents.jwks, where)
    found = keymod.merge_keys([parsed], where)
    if issuer is not None:
        check_cluster_issuer(documents.issuer, issuer)
    return SourceKeys(tuple(found), f"cluster {documents.server}", cluster_issuer=documents.issuer)
