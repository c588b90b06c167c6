"""Service-account signing keys: parsing, validation, ``kid`` and JWK conversion. Pure.

The ``kid`` is computed exactly as kube-apiserver computes it (pkg/serviceaccount/jwt.go, keyIDFromPublicKey):
the unpadded base64url encoding of the SHA-256 digest of the public key's DER SubjectPublicKeyInfo.
Keys that arrive with a ``kid`` (a JWKS from the cluster or a file) keep it unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from oidc_publisher.core.errors import InputError
from oidc_publisher.core.limits import load_json

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

MIN_RSA_BITS = 2048
# STS accepts these JWS algorithms; kube-apiserver signs RSA keys with RS256 and EC keys by curve.
RSA_ALGS = ("RS256", "RS384", "RS512")
EC_ALG_BY_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
_CURVE_NAME_BY_OPENSSL = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
# A kid from a JWKS is published as is: printable ASCII without spaces (no PEM, no terminal escapes), and
# bounded. kube-apiserver's are 43 characters (base64url SHA-256); 256 leaves room for any other signer's.
MAX_KID_LENGTH = 256
_KID = re.compile(r"[\x21-\x7e]+")

_PEM_BLOCK = re.compile(rb"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n.*?-----END (?P=label)-----", re.DOTALL)
_TO_PUBLIC_HINT = {
    "RSA PRIVATE KEY": "openssl rsa -in {src} -pubout",
    "EC PRIVATE KEY": "openssl ec -in {src} -pubout",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(value: str, *, what: str) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", value):
        raise InputError(f"{what} is not unpadded base64url", "take the JWKS exactly as the API server serves it")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _int_to_b64url(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(size, "big"))


def compute_kid(public_key: PublicKey) -> str:
    """kube-apiserver's key ID: base64url(SHA-256(DER SubjectPublicKeyInfo)), unpadded."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64url(hashlib.sha256(der).digest())


def _curve_name(public_key: ec.EllipticCurvePublicKey) -> str | None:
    return _CURVE_NAME_BY_OPENSSL.get(public_key.curve.name)


def default_alg(public_key: PublicKey) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    curve = _curve_name(public_key)
    assert curve is not None  # validated before
    return EC_ALG_BY_CURVE[curve]


@dataclass(frozen=True)
class SigningKey:
    """A public key as published: its ``kid``, its JWS ``alg``, and the key itself."""

    kid: str
    alg: str
    public_key: PublicKey

    @property
    def kty(self) -> str:
        return "RSA" if isinstance(self.public_key, rsa.RSAPublicKey) else "EC"

    @property
    def description(self) -> str:
        if isinstance(self.public_key, rsa.RSAPublicKey):
            return f"RSA-{self.public_key.key_size}"
        return f"EC {_curve_name(self.public_key)}"

    def to_jwk(self) -> dict[str, str]:
        """The public JWK, with ``use: sig``; only public members, ever."""
        jwk: dict[str, str] = {"kid": self.kid, "kty": self.kty, "alg": self.alg, "use": "sig"}
        if isinstance(self.public_key, rsa.RSAPublicKey):
            numbers = self.public_key.public_numbers()
            jwk["n"] = _int_to_b64url(numbers.n)
            jwk["e"] = _int_to_b64url(numbers.e)
        else:
            ec_numbers = self.public_key.public_numbers()
            size = (self.public_key.curve.key_size + 7) // 8
            curve = _curve_name(self.public_key)
            assert curve is not None
            jwk["crv"] = curve
            jwk["x"] = _int_to_b64url(ec_numbers.x, size)
            jwk["y"] = _int_to_b64url(ec_numbers.y, size)
        return jwk

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_public_key(public_key: object, source: str) -> PublicKey:
    """Refuse key types, curves and sizes that STS does not accept (or that are too weak to publish)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise InputError(
                f"{source}: RSA key is {public_key.key_size} bits, shorter than {MIN_RSA_BITS}",
                "generate a new signing key of at least 2048 bits (oidc-publisher keys generate)",
            )
        return public_key
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if _curve_name(public_key) is None:
            raise InputError(
                f"{source}: EC curve {public_key.curve.name} is not accepted by AWS STS",
                "use P-256, P-384 or P-521 (oidc-publisher keys generate --type ec)",
            )
        return public_key
    kind = type(public_key).__name__.replace("PublicKey", "").lstrip("_") or "unknown"
    raise InputError(
        f"{source}: {kind} keys are not accepted by AWS STS",
        "use an RSA (2048 bits or more) or EC P-256/P-384/P-521 signing key",
    )


def signing_key(public_key: object, source: str, *, kid: str | None = None, alg: str | None = None) -> SigningKey:
    key = check_public_key(public_key, source)
    return SigningKey(kid=kid or compute_kid(key), alg=alg or default_alg(key), public_key=key)


def load_public_keys_pem(data: bytes, source: str) -> list[SigningKey]:
    """Every public key in a PEM file: SubjectPublicKeyInfo, PKCS#1 RSA public keys, X.509 certificates.

    A file holding a private key is refused with the command that extracts its public half: the private
    key never needs to leave the control plane, and nothing we publish is derived from it.
    """
    blocks = list(_PEM_BLOCK.finditer(data))
    if not blocks:
        if b"-----BEGIN" in data:
            raise InputError(
                f"{source}: malformed PEM (no complete BEGIN/END block)", "check the file is not truncated"
            )
        raise InputError(f"{source}: not a PEM file", "give a PEM public key such as /etc/kubernetes/pki/sa.pub")
    keys: list[SigningKey] = []
    for block in blocks:
        label = block["label"].decode()
        pem = block.group(0)
        if "PRIVATE KEY" in label:
            how = _TO_PUBLIC_HINT.get(label, "openssl pkey -in {src} -pubout").format(src=source)
            raise InputError(
                f"{source} holds a private key, not a public key",
                f"give its public key instead: {how} > sa.pub (sa.pub on kubeadm control planes)",
            )
        try:
            if label == "PUBLIC KEY":
                public_key: object = serialization.load_pem_public_key(pem)
            elif label == "RSA PUBLIC KEY":
                public_key = serialization.load_pem_public_key(pem)
            elif label in ("CERTIFICATE", "TRUSTED CERTIFICATE"):
                # x509 costs ~10 ms to import, and certificates are the rare case.
                from cryptography import x509

                public_key = x509.load_pem_x509_certificate(pem).public_key()
            elif label == "EC PARAMETERS":
                continue
            else:
                raise InputError(
                    f"{source}: PEM block '{label}' is not a public key or certificate",
                    "give a PEM public key (BEGIN PUBLIC KEY) or certificate",
                )
        except UnsupportedAlgorithm:
            raise InputError(
                f"{source}: the key's type or curve is not supported", "use an RSA or EC P-256/P-384/P-521 key"
            ) from None
        except ValueError:
            raise InputError(
                f"{source}: malformed PEM ({label} could not be decoded)", "check the file is intact"
            ) from None
        keys.append(signing_key(public_key, source))
    if not keys:
        raise InputError(f"{source}: no public key found", "give a PEM public key such as /etc/kubernetes/pki/sa.pub")
    return keys


def _jwk_int(jwk: Mapping[str, Any], member: str, where: str) -> int:
    if member not in jwk:
        raise InputError(f"{where} has no '{member}'", "take the JWKS exactly as the API server serves it")
    return int.from_bytes(b64url_decode(jwk[member], what=f"{where} '{member}'"), "big")


def check_kid(kid: str, where: str) -> None:
    """A kid is published, printed and matched against tokens' headers: printable ASCII without spaces, and
    short. The message never repeats a refused kid: it may hold key material or terminal escapes."""
    if len(kid) > MAX_KID_LENGTH:
        raise InputError(
            f"{where} has a 'kid' of {len(kid)} characters, longer than {MAX_KID_LENGTH}",
            "remove it to have it computed (kube-apiserver's kids are 43 characters), or fix it",
        )
    if not _KID.fullmatch(kid):
        raise InputError(
            f"{where} has a 'kid' with spaces, control or non-ASCII characters (not shown)",
            "a kid is printable ASCII without spaces: remove it to have it computed, or fix it",
        )


def parse_jwk(jwk: object, where: str) -> SigningKey:
    if not isinstance(jwk, Mapping):
        raise InputError(f"{where} is not a JSON object", 'a JWKS is {"keys": [{...}, ...]}')
    private = sorted(m for m in PRIVATE_JWK_MEMBERS if m in jwk)
    if private:
        raise InputError(
            f"{where} contains private key members ({', '.join(private)})",
            "never publish a private key: use the public JWKS (kubectl get --raw /openid/v1/jwks)",
        )
    kty = jwk.get("kty")
    kid = jwk.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid):
        raise InputError(f"{where} has an empty or non-string 'kid'", "remove it to have it computed, or fix it")
    if kid is not None:
        check_kid(kid, where)
    use = jwk.get("use")
    if use not in (None, "sig"):
        raise InputError(f"{where} has use {use!r}", "only signing keys (use: sig) belong in an issuer's JWKS")
    alg = jwk.get("alg")
    public_key: object
    try:
        if kty == "RSA":
            public_key = rsa.RSAPublicNumbers(_jwk_int(jwk, "e", where), _jwk_int(jwk, "n", where)).public_key()
            if alg is not None and alg not in RSA_ALGS:
                raise InputError(f"{where} has alg {alg!r} for an RSA key", f"AWS STS accepts {', '.join(RSA_ALGS)}")
        elif kty == "EC":
            crv = jwk.get("crv")
            if crv not in _CURVES:
                raise InputError(
                    f"{where} uses curve {crv!r}, which AWS STS does not accept", "use P-256, P-384 or P-521"
                )
            if alg is not None and alg != EC_ALG_BY_CURVE[crv]:
                raise InputError(f"{where} has alg {alg!r} for curve {crv}", f"use {EC_ALG_BY_CURVE[crv]}")
            public_key = ec.EllipticCurvePublicNumbers(
                _jwk_int(jwk, "x", where), _jwk_int(jwk, "y", where), _CURVES[crv]
            ).public_key()
        else:
            raise InputError(
                f"{where} has key type {kty!r}, which AWS STS does not accept", "use RSA or EC (P-256/P-384/P-521) keys"
            )
    except ValueError as exc:
        raise InputError(f"{where} is not a valid public key ({exc})", "take the JWKS exactly as served") from None
    return signing_key(public_key, where, kid=kid, alg=alg)


def parse_jwks(data: bytes | str | Mapping[str, Any], source: str) -> list[SigningKey]:
    """The keys of a JWKS document, kids unchanged (computed only where a key has none)."""
    document: object
    if isinstance(data, (bytes, str)):
        try:
            document = load_json(data)
        except (ValueError, UnicodeDecodeError):
            raise InputError(
                f"{source} is not JSON", "give a JWKS such as the output of 'kubectl get --raw /openid/v1/jwks'"
            ) from None
    else:
        document = data
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise InputError(
            f'{source} is not a JWKS (no "keys" list)',
            "give a JWKS such as the output of 'kubectl get --raw /openid/v1/jwks'",
        )
    keys = [parse_jwk(jwk, f"{source}: key {i + 1}") for i, jwk in enumerate(document["keys"])]
    if not keys:
        raise InputError(
            f"{source} holds no keys", "an empty JWKS would make STS reject every token; give the cluster's keys"
        )
    check_unique(keys, source)
    return keys


def check_unique(keys: Sequence[SigningKey], source: str) -> None:
    """Two different keys under one kid would make verification ambiguous; the same key twice is merged."""
    seen: dict[str, SigningKey] = {}
    for key in keys:
        other = seen.get(key.kid)
        if other is not None and other.public_pem() != key.public_pem():
            raise InputError(f"{source}: two different keys have the kid {key.kid!r}", "every key needs its own kid")
        seen[key.kid] = key


def merge_keys(groups: Iterable[Sequence[SigningKey]], source: str) -> list[SigningKey]:
    """Keys from several files as one set: duplicates of the same key dropped, sorted by kid."""
    flat = [key for group in groups for key in group]
    check_unique(flat, source)
    unique = {key.kid: key for key in flat}
    return [unique[kid] for kid in sorted(unique)]


def generate_private_key(kind: str = "rsa", bits: int = 2048) -> PrivateKey:
    """A new service-account signing key (RSA of ``bits``, or EC P-256/384/521 by ``bits``)."""
    if kind == "rsa":
        if bits < MIN_RSA_BITS:
            raise InputError(f"--bits {bits} is too short for RSA", f"use {MIN_RSA_BITS} or more (4096 is fine too)")
        if bits > 8192:
            raise InputError(f"--bits {bits} is too long for RSA", "use 2048, 3072 or 4096")
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if kind == "ec":
        curves: dict[int, ec.EllipticCurve] = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}
        if bits not in curves:
            raise InputError(f"--bits {bits} is not an EC curve size STS accepts", "use 256, 384 or 521 with --type ec")
        return ec.generate_private_key(curves[bits])
    raise InputError(f"key type {kind!r} is not supported", "use --type rsa or --type ec")


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
