"""``oidc-publisher demo``: find the demo, which is not part of the product.

The demo and its local stand-ins live in the package ``oidc_publisher_demo`` under ``demo/`` of a source
checkout: the wheel and the container image do not contain them. An editable install of a clone
(``pip install -e '.[demo]'``, the README's first command) runs them from the checkout.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from oidc_publisher.core.errors import UsageError

PACKAGE = "oidc_publisher_demo"


def checkout_demo_dir() -> Path:
    """Where a source checkout keeps the demo package: ``demo/`` next to ``oidc_publisher/``."""
    return Path(__file__).resolve().parent.parent.parent / "demo"


def _import(name: str) -> ModuleType | None:
    """``oidc_publisher_demo.<name>``, or None when the package itself is not on the path; its missing
    dependency (moto: the demo extra) is one line that says what to install."""
    try:
        return importlib.import_module(f"{PACKAGE}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name in (PACKAGE, f"{PACKAGE}.{name}"):
            return None
        if exc.name and exc.name.split(".")[0] == "moto":
            raise UsageError(
                "the demo needs moto's server, which is not installed", "pip install -e '.[demo]' in the clone"
            ) from None
        raise


def demo_module(name: str) -> ModuleType:
    """``oidc_publisher_demo.<name>``, from the path or from the checkout this package was installed from."""
    found = _import(name)
    if found is not None:
        return found
    where = checkout_demo_dir()
    if not (where / PACKAGE / "__init__.py").is_file():
        raise UsageError(
            "the demo is not part of an installed oidc-publisher (it ships only with the source)",
            "run it from a clone: git clone the project, then pip install -e '.[demo]' and oidc-publisher demo",
        )
    sys.path.insert(0, str(where))
    found = _import(name)
    if found is None:
        raise UsageError(f"the checkout's demo/ has no {PACKAGE}.{name}", "update the clone (git pull)")
    return found
