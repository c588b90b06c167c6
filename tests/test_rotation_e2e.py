"""The rotation the job lives through, end to end: [k1] -> [k1, k2] -> [k2] -> (retention passes) -> [k2].

The source is a local stand-in for the API server read through a real kubeconfig (``--from-cluster``);
AWS is moto's server; the issuer is served over HTTPS by a local front. After each step an OIDC
verifier that is not ours (PyJWT) accepts tokens signed by every key that should still be valid, and
rejects k1 once its retention has passed.
"""

from __future__ import annotations

import json
from pathlib import Path

import jwt as pyjwt

from oidc_publisher.core.keys import signing_key
from oidc_publisher.core.tokens import mint_token
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.kube_api import KubeAPI
from tests.support.motoserver import AwsClock, AwsWorld
from tests.test_bootstrap import verify_with_pyjwt

BUCKET = "rotation-issuer"
ISSUER = f"https://{BUCKET}.s3.us-east-1.amazonaws.com"
SUB = "system:serviceaccount:default:app"


def accepted(private: object, chain: object) -> bool:
    key = signing_key(private.public_key(), "x")  # type: ignore[attr-defined]
    token = mint_token(private, kid=key.kid, issuer=ISSUER, subject=SUB)  # type: ignore[arg-type]
    try:
        verify_with_pyjwt(token, ISSUER, chain.files["ca"], chain)  # type: ignore[attr-defined]
    except pyjwt.exceptions.PyJWKClientError:
        return False
    return True


def test_rotation_sequence(aws: AwsWorld, aws_clock: AwsClock, front: Front, kube_api: KubeAPI, tmp_path: Path) -> None:
    _, chain = front(BUCKET, ("*.s3.us-east-1.amazonaws.com",))
    k1, k2 = k.rsa_key(), k.ec_key()
    kube_api.issuer = ISSUER
    kube_api.keys = [k1]
    config = kube_api.kubeconfig(tmp_path / "kubeconfig")
    job = ["publish", "--from-cluster", "--kubeconfig", str(config), "--issuer-url", ISSUER, "--bucket", BUCKET,
           "--retain-removed-keys", "4s", "-o", "json"]

    boot = invoke("bootstrap", "--from-cluster", "--kubeconfig", str(config), "--issuer-url", ISSUER, "--bucket", BUCKET)
    assert boot.exit_code == 0, boot.stderr
    assert accepted(k1, chain) and not accepted(k2, chain)

    # The new key is added as a verification key: published before anyone signs with it.
    kube_api.keys = [k1, k2]
    step = invoke(*job)
    assert step.exit_code == 0, step.stderr
    assert accepted(k1, chain) and accepted(k2, chain)

    # The API server signs with k2 and the old key is removed: k1 stays published (retained).
    kube_api.keys = [k2]
    kube_api.signing = 0
    step = invoke(*job)
    assert [r["kid"] for r in step.json()["retained"]] == [signing_key(k1.public_key(), "x").kid]
    assert accepted(k1, chain) and accepted(k2, chain)

    # Nothing changes while retained: no writes.
    aws.recorder.reset()
    assert invoke(*job).json()["changed"] is False
    assert aws.recorder.writes == []

    aws_clock.advance(seconds=4.2)  # retention passes on AWS's clock (the Date of its answers)
    step = invoke(*job)
    assert step.json()["removed"] == [signing_key(k1.public_key(), "x").kid]
    assert not accepted(k1, chain) and accepted(k2, chain)

    aws.recorder.reset()
    final = invoke(*job)
    assert final.json()["changed"] is False and final.json()["keys"] == [signing_key(k2.public_key(), "x").kid]
    assert aws.recorder.writes == []
    live = json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key="openid/v1/jwks")["Body"].read())
    assert [key["kid"] for key in live["keys"]] == [signing_key(k2.public_key(), "x").kid]
