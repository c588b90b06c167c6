import sys
from pathlib import Path

# The demo package (demo/oidc_publisher_demo: the local stand-ins, not part of the product) for runs that are
# not pytest's (`python -m tests.test_docs` regenerating docs/reference.md); pytest adds it from pyproject.
_DEMO = str(Path(__file__).resolve().parents[1] / "demo")
if _DEMO not in sys.path:
    sys.path.insert(0, _DEMO)
