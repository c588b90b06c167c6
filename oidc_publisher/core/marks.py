"""The tool's ownership marks, defined once. Pure.

Written only by the call that creates a thing (DESIGN.md: ownership), never added to something that exists:
the mark says the tool made it and may change or delete it; the issuer tag says which issuer it was made for.
"""

from __future__ import annotations

MANAGED_BY = ("managed-by", "oidc-publisher")
ISSUER_TAG = "oidc-publisher:issuer"
