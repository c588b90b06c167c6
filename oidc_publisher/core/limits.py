"""Bounds on what the tool reads, shared by every reader: a file the user names, a document an issuer or
the API server serves. Pure: no network, no boto3.

One size for every issuer document, so that what ``publish`` and ``render`` accept is exactly what
``verify`` (and the pipeline that fetches it like STS) will read back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# A JWKS of a hundred RSA-4096 keys is under 100 KiB; a discovery document, a fleet file, a policy or a
# token is far smaller. Larger is a wrong file (a log, an image, /dev/zero), not an input.
MAX_DOCUMENT_BYTES = 1 << 20


def load_json(data: bytes | str, *, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """``json.loads``, with a document nested too deeply for the parser (``[[[[...``) refused as a
    ``ValueError`` like any other malformed JSON, instead of escaping as a ``RecursionError``."""
    try:
        return json.loads(data, object_pairs_hook=object_pairs_hook)
    except RecursionError:
        raise ValueError("nested too deeply") from None
