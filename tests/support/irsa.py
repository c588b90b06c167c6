"""A bootstrapped S3-direct issuer in moto (bucket, documents, state, provider: all tagged by the tool),
shared by the role, audit and teardown tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.motoserver import AwsWorld

ACCOUNT = "123456789012"  # moto's
BUCKET = "roles-issuer"
HOST = f"{BUCKET}.s3.us-east-1.amazonaws.com"
ISSUER = f"https://{HOST}"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
READONLY = f"arn:aws:iam::{ACCOUNT}:policy/read-only"
WRITER = f"arn:aws:iam::{ACCOUNT}:policy/writer"
HANDMADE = f"arn:aws:iam::{ACCOUNT}:policy/handmade"


def seed_issuer(aws: AwsWorld, front: Front, tmp_path: Path) -> AwsWorld:
    """``bootstrap`` the issuer the way a user would, plus three customer-managed policies."""
    front(BUCKET, ("*.s3.us-east-1.amazonaws.com",))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    result = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub))
    assert result.exit_code == 0, result.stderr
    iam = aws.client("iam")
    for name, action in (("read-only", "s3:GetObject"), ("writer", "s3:PutObject"), ("handmade", "sqs:SendMessage")):
        iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}))
    aws.recorder.reset()
    return aws


def trust(condition: dict[str, Any] | None, federated: str = PROVIDER, action: str = "sts:AssumeRoleWithWebIdentity") -> str:
    """A one-statement trust policy document, as JSON."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Federated": federated}, "Action": action}
    if condition is not None:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
