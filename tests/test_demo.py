"""The README's first command, as a user runs it."""

from __future__ import annotations

import re
from pathlib import Path

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
    # The last line points at what a pip user has (no README.md): --help, and the docs URL of the package's metadata.
    from importlib.metadata import metadata

    # No public address is published yet (no [project.urls]): then the repository's docs/ folder is named.
    urls = [u.split(",", 1)[1].strip() for u in metadata("oidc-publisher").get_all("Project-URL") or [] if u.startswith("Documentation,")]
    docs = urls[0] if urls else "the docs/ folder of the repository"
    assert out.rstrip("\n").splitlines()[-1] == f"Every command: 'oidc-publisher --help'; the docs: {docs}"
    assert "README.md" not in out
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
    assert "work_dir" not in body  # the temporary work directory is gone: nothing to point at


def test_demo_json_reports_only_a_kept_work_dir(tmp_path: Path) -> None:
    from oidc_publisher_demo.demo import DemoReport

    assert "work_dir" not in DemoReport(verified=True).to_json()
    assert DemoReport(verified=True, work_dir=str(tmp_path)).to_json()["work_dir"] == str(tmp_path)
