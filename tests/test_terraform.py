"""The Terraform modules: fmt and validate, apply of the examples against moto's server, documents and
bucket policy equal to the CLI's, an OIDC verifier that is not ours accepting a token through a local
HTTPS front, and an empty plan after apply."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from oidc_publisher.keys import load_public_keys_pem
from oidc_publisher.policies import bucket_policy
from oidc_publisher.s3 import normalise_policy
from oidc_publisher.tokens import mint_token
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.motoserver import AwsWorld
from tests.test_bootstrap import verify_with_pyjwt

ROOT = Path(__file__).resolve().parents[1] / "terraform"
TERRAFORM = shutil.which("terraform")
MIRROR = next(iter(sorted(glob.glob("/opt/tf-plugins") + glob.glob(os.environ.get("OIDC_PUBLISHER_TF_PLUGIN_DIR", "/nonexistent")))), None)
pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(TERRAFORM is None or MIRROR is None, reason="needs the terraform binary and the hashicorp/aws provider mirror (see DESIGN.md)"),
]
BUCKET = "tf-issuer"
REGION = "eu-west-1"
ISSUER = f"https://{BUCKET}.s3.{REGION}.amazonaws.com"


def tf(workdir: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1", **(env or {})}
    full.pop("TF_CLI_CONFIG_FILE", None)
    result = subprocess.run([TERRAFORM or "terraform", *args, "-no-color"] if args[0] not in ("fmt",) else [TERRAFORM or "terraform", *args],
                            cwd=workdir, env=full, capture_output=True, text=True, timeout=600, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"terraform {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    copy = tmp_path / "terraform"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    return copy


def test_fmt_and_validate(tree: Path) -> None:
    assert tf(ROOT, "fmt", "-check", "-recursive", "-diff").returncode == 0
    for directory in [*sorted((tree / "modules").iterdir()), *sorted((tree / "examples").iterdir())]:
        tf(directory, "init", f"-plugin-dir={MIRROR}", "-backend=false")
        assert "The configuration is valid" in tf(directory, "validate").stdout


def test_apply_examples_against_moto(tree: Path, aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    _, chain = front(BUCKET, (f"*.s3.{REGION}.amazonaws.com",), region=REGION)
    private = k.rsa_key()
    pub = k.write(tmp_path / "sa.pub", k.public_pem(private))
    documents = tmp_path / "documents"
    assert invoke("render", "--issuer-url", ISSUER, "--public-key", str(pub), "--out-dir", str(documents)).exit_code == 0
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": ""}
    example = tree / "examples" / "s3-direct"
    variables = ["-var", f"bucket_name={BUCKET}", "-var", f"documents_dir={documents}", "-var", f"endpoint_url={aws.moto_endpoint}",
                 "-var", f"thumbprints=[\"{chain.expected_thumbprint}\"]", "-var", f"region={REGION}"]
    tf(example, "init", f"-plugin-dir={MIRROR}")
    tf(example, "apply", "-auto-approve", *variables, env=env)
    outputs = json.loads(tf(example, "output", "-json", env=env).stdout)
    assert outputs["issuer_url"]["value"] == ISSUER

    s3 = aws.client("s3", REGION)
    for key in (".well-known/openid-configuration", "openid/v1/jwks"):
        obj = s3.get_object(Bucket=BUCKET, Key=key)
        assert obj["Body"].read() == (documents / key).read_bytes()  # byte-equal to the CLI's documents
        assert obj["ContentType"] == "application/json"
        assert obj["CacheControl"] == "public, max-age=300"
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    expected = bucket_policy("aws", BUCKET, ["openid/v1/jwks", ".well-known/openid-configuration"])
    assert normalise_policy(policy) == normalise_policy(expected)  # the same policy as the CLI's
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert s3.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    iam = aws.client("iam")
    arn = outputs["oidc_provider_arn"]["value"]
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]
    assert provider["ThumbprintList"] == [chain.expected_thumbprint]

    kid = load_public_keys_pem(pub.read_bytes(), "x")[0].kid
    token = mint_token(private, kid=kid, issuer=ISSUER, subject="system:serviceaccount:default:my-app")
    assert verify_with_pyjwt(token, ISSUER, chain.files["ca"], chain)["sub"] == "system:serviceaccount:default:my-app"

    plan = tf(example, "plan", "-detailed-exitcode", *variables, env=env, check=False)
    assert plan.returncode == 0, f"plan after apply is not empty:\n{plan.stdout}"

    role_example = tree / "examples" / "irsa-role"
    role_vars = ["-var", f"issuer_url={ISSUER}", "-var", f"oidc_provider_arn={arn}", "-var", f"endpoint_url={aws.moto_endpoint}", "-var", f"region={REGION}"]
    tf(role_example, "init", f"-plugin-dir={MIRROR}")
    tf(role_example, "apply", "-auto-approve", *role_vars, env=env)
    role = iam.get_role(RoleName="irsa-default-my-app")["Role"]
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    host = f"{BUCKET}.s3.{REGION}.amazonaws.com"
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": arn}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {"StringEquals": {f"{host}:sub": "system:serviceaccount:default:my-app", f"{host}:aud": "sts.amazonaws.com"}}
    assert tf(role_example, "plan", "-detailed-exitcode", *role_vars, env=env, check=False).returncode == 0


def test_checkov_passes() -> None:
    # checkov pins old boto3 releases, so it lives in a venv of its own (.ci/run makes .venv-scan).
    candidates = [Path(__file__).resolve().parents[1] / ".venv-scan" / "bin" / "checkov", shutil.which("checkov")]
    checkov = next((str(c) for c in candidates if c and Path(c).exists()), None)
    if checkov is None:
        pytest.skip("checkov is not installed (python3 -m venv .venv-scan && .venv-scan/bin/pip install checkov)")
    result = subprocess.run([checkov, "-d", str(ROOT / "modules"), "--framework", "terraform", "--quiet", "--compact", "--skip-download"],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-4000:]
