"""The demo and the local stand-ins (an AWS emulator on moto's server, an HTTPS front, a Kubernetes API,
test CAs): not part of oidc-publisher's wheel or image. `oidc-publisher demo` finds this package in a
source checkout (pip install -e '.[demo]'), the tests put it on their path (pyproject's pytest pythonpath)."""
