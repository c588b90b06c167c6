"""At no moment does the discovery document point at a JWKS that lacks the cluster's signing key.

The recording proxy looks at the bucket in moto before every request of a rotation reaches it (and so
between every two writes), including a rotation whose discovery write fails on every retry and the run
after it that converges.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.motoserver import AwsWorld, RecordedRequest

BUCKET = "moment-issuer"
JWKS, DISCOVERY = "openid/v1/jwks", ".well-known/openid-configuration"


def published(aws: AwsWorld) -> tuple[set[str], list[str]]:
    """(kids in the JWKS, algorithms the discovery document advertises), as S3 holds them now."""
    s3 = aws.client("s3")
    kids = {key["kid"] for key in json.loads(s3.get_object(Bucket=BUCKET, Key=JWKS)["Body"].read())["keys"]}
    discovery = json.loads(s3.get_object(Bucket=BUCKET, Key=DISCOVERY)["Body"].read())
    assert discovery["jwks_uri"] == f"https://{BUCKET}.s3.us-east-1.amazonaws.com/{JWKS}"
    return kids, discovery["id_token_signing_alg_values_supported"]


def test_every_moment_of_a_rotation_serves_the_signing_key(aws: AwsWorld, tmp_path: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    one = k.write(tmp_path / "one.pub", k.K8S_RSA_PUBLIC_KEY)  # signs until the rotation is published
    two = k.write(tmp_path / "two.pub", k.K8S_EC_PUBLIC_KEY)  # an EC key: the discovery document changes too
    assert invoke("publish", "--bucket", BUCKET, "--public-key", str(one)).exit_code == 0

    seen: list[tuple[str, set[str], list[str]]] = []
    lock = threading.Lock()

    def observe(request: RecordedRequest) -> None:
        if request.service == "s3":
            kids, algs = published(aws)
            with lock:
                seen.append((f"{request.operation} {request.path}", kids, algs))

    aws.proxy.observers.append(observe)
    # The rotation: the discovery write (the second) fails on every attempt; then the next run converges.
    aws.proxy.fail_next("PutObject", 500, times=5, after=1)
    both = ("--public-key", str(one), "--public-key", str(two))
    assert invoke("publish", "--bucket", BUCKET, *both).exit_code == 1
    assert invoke("publish", "--bucket", BUCKET, *both).exit_code == 0
    aws.proxy.observers.clear()
    seen.append(("after", *published(aws)))

    assert len(seen) > 8
    for moment, kids, algs in seen:
        # The key the cluster signs with is always published...
        assert k.K8S_RSA_KID in kids, moment
        # ...and every algorithm the discovery document advertises has a key in the JWKS it points at.
        assert ("ES256" not in algs) or (k.K8S_EC_KID in kids), moment
    # The discovery document changed only once the JWKS already held the new key.
    assert seen[-1][1:] == ({k.K8S_RSA_KID, k.K8S_EC_KID}, ["ES256", "RS256"])
    changed = [i for i, (_, _, algs) in enumerate(seen) if "ES256" in algs]
    assert changed and all(k.K8S_EC_KID in seen[i][1] for i in changed)
    first_with_new_key = next(i for i, (_, kids, _) in enumerate(seen) if k.K8S_EC_KID in kids)
    assert first_with_new_key < changed[0]
