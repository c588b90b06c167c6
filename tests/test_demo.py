"""The README's first command, as a user runs it."""

from __future__ import annotations

import re

from tests.support.cli import run


def test_demo_bootstraps_and_verifies_end_to_end() -> None:
    result = run("demo", timeout=120)
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    steps = re.findall(r"^==> (.*)$", out, re.M)
    assert steps[:4] == [
        "Started a local AWS (moto's server)",
        "Started a local HTTPS front standing in for CloudFront",
        "Generated a service-account signing key",
        "Bootstrapped a private issuer: bucket, CloudFront distribution (OAC), documents, IAM OIDC provider",
    ]
    assert "==> Ran bootstrap again\n    no changes" in out
    assert "All checks passed: STS will accept this issuer's tokens." in out
    assert "[FAIL]" not in out
    assert re.search(r"^Demo complete in \d+\.\ds: STS would accept tokens from https://[a-z0-9]+\.cloudfront\.net\.$", out, re.M)
    # Nothing of moto's request log or a traceback leaks into what the user sees.
    assert "Traceback" not in result.stderr
    assert "HTTP/1.1" not in out + result.stderr
    # The private key never reaches the terminal.
    assert "PRIVATE KEY" not in out + result.stderr


def test_demo_json() -> None:
    result = run("demo", "--output", "json", timeout=120)
    assert result.exit_code == 0, result.stderr
    body = result.json()
    assert body["verified"] is True
    assert body["issuer"].endswith(".cloudfront.net")
    assert body["provider_arn"].startswith("arn:aws:iam::123456789012:oidc-provider/")
    # "One command, under a minute": the demo's own clock, from starting moto to the verified token.
    assert 0 < body["seconds"] < 60
    assert [s["step"] for s in body["steps"]][-1] == "Verified the chain the way STS will"
