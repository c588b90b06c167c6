"""oidc-publisher: an OIDC issuer in S3 and IAM for self-managed Kubernetes clusters (IRSA)."""

__version__ = "0.1.0"
