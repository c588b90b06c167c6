"""``render``: the two documents, written to a directory exactly as ``publish`` uploads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oidc_publisher.core.documents import build_documents
from oidc_publisher.core.errors import InputError
from oidc_publisher.core.issuer import DISCOVERY_PATH, JWKS_PATH, parse_issuer
from oidc_publisher.files import ensure_dir, write_atomic
from oidc_publisher.sources import KeySource, load_keys


@dataclass(frozen=True)
class RenderSettings:
    issuer_url: str
    source: KeySource
    out_dir: Path
    jwks_uri: str | None = None
    force: bool = False


@dataclass(frozen=True)
class RenderReport:
    issuer: str
    jwks_uri: str
    source: str
    kids: list[str]
    files: list[Path] = field(default_factory=list)
    exit_code: int = 0

    def to_text(self) -> str:
        lines = [f"Rendered the issuer documents for {self.issuer} from {self.source}:"]
        lines += [f"  {path}" for path in self.files]
        lines.append(f"  keys: {', '.join(self.kids)}")
        lines.append("Serve them at the issuer URL, or publish them with 'oidc-publisher publish'.")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "source": self.source,
            "kids": self.kids,
            "files": [str(p) for p in self.files],
        }


def render(settings: RenderSettings) -> RenderReport:
    issuer = parse_issuer(settings.issuer_url)
    source_keys = load_keys(settings.source, issuer)
    documents = build_documents(issuer, source_keys.keys, settings.jwks_uri)
    # Everything is validated before the first byte is written.
    ensure_dir(settings.out_dir)
    jwks_path = settings.out_dir / JWKS_PATH
    discovery_path = settings.out_dir / DISCOVERY_PATH
    if not settings.force:
        # The same bytes again overwrite nothing (a re-run); other bytes are someone's file, or older keys.
        for path, data in ((jwks_path, documents.jwks), (discovery_path, documents.discovery)):
            if path.is_file() and path.read_bytes() != data:
                raise InputError(f"{path} already exists with other content", "use --force to overwrite it, or another --out-dir")
    write_atomic(jwks_path, documents.jwks)
    write_atomic(discovery_path, documents.discovery)
    return RenderReport(
        issuer=issuer.url,
        jwks_uri=documents.jwks_uri,
        source=source_keys.description,
        kids=documents.kids,
        files=[discovery_path, jwks_path],
    )
