"""Certificate chains for the tests' local servers (the code lives in the package, shared with the demo)."""

from oidc_publisher_demo.localca import Chain, Issued, client_certificate, make_chain

__all__ = ["Chain", "Issued", "client_certificate", "make_chain"]
