"""Certificate chains made in code: root CA, intermediates, leaf.

For the local stand-ins only (the demo's HTTPS front, the tests' servers): nothing here is used to
publish anything. Every run makes fresh keys; a chain is written as PEM files (CA bundle for the
client, chain + key for the server) so that ssl, requests, openssl and kubeconfigs can all use it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def sha1(self) -> str:
        """Lower-case hex SHA-1 of the DER certificate: what IAM calls a thumbprint."""
        return hashlib.sha1(self.cert.public_bytes(serialization.Encoding.DER)).hexdigest()  # noqa: S324 - IAM defines it


def _issue(
    subject: str,
    issuer: Issued | None,
    *,
    ca: bool,
    path_length: int | None = None,
    hosts: tuple[str, ...] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    client: bool = False,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    not_before = not_before or _now() - dt.timedelta(hours=1)
    not_after = not_after or _now() + dt.timedelta(days=30)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.cert.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=True,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        if hosts:
            names: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


@dataclass
class Chain:
    """A root CA, zero or more intermediates (top first), and a leaf for ``hosts``."""

    root: Issued
    intermediates: list[Issued]
    leaf: Issued
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def presented(self) -> list[Issued]:
        """What the server sends: the leaf, then the intermediates bottom-up (never the root)."""
        return [self.leaf, *reversed(self.intermediates)]

    @property
    def expected_thumbprint(self) -> str:
        """The SHA-1 of the last certificate the server presents (the top intermediate, or the leaf)."""
        return self.presented[-1].sha1

    def write(self, directory: Path) -> Chain:
        """Write ``ca.pem`` (root), ``chain.pem`` (what the server presents) and ``key.pem``."""
        directory.mkdir(parents=True, exist_ok=True)
        self.files = {
            "ca": directory / "ca.pem",
            "chain": directory / "chain.pem",
            "key": directory / "key.pem",
        }
        self.files["ca"].write_bytes(self.root.pem)
        self.files["chain"].write_bytes(b"".join(c.pem for c in self.presented))
        self.files["key"].write_bytes(self.leaf.key_pem)
        return self


def make_chain(
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
    *,
    intermediates: int = 1,
    leaf_expired: bool = False,
    root_name: str = "oidc-publisher test root",
    root: Issued | None = None,
) -> Chain:
    """A chain for ``hosts``: intermediates=0 is a two-level chain, 1 a three-level chain, and so on.
    ``root``: under an existing root (new intermediates, as when a CA rotates them), instead of a new one."""
    root = root or _issue(root_name, None, ca=True)
    parent = root
    mids: list[Issued] = []
    for depth in range(intermediates):
        parent = _issue(f"oidc-publisher test intermediate {depth + 1}", parent, ca=True, path_length=None)
        mids.append(parent)
    if leaf_expired:
        leaf = _issue(
            hosts[0], parent, ca=False, hosts=hosts,
            not_before=_now() - dt.timedelta(days=30), not_after=_now() - dt.timedelta(days=1),
        )
    else:
        leaf = _issue(hosts[0], parent, ca=False, hosts=hosts)
    return Chain(root, mids, leaf)


def client_certificate(ca: Issued, common_name: str = "oidc-publisher-test", org: str = "system:masters") -> Issued:
    """A client certificate signed by ``ca``, for kubeconfigs that authenticate with one."""
    return _issue(common_name, ca, ca=False, client=True)
