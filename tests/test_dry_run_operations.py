"""Every step of a command's JSON dry-run plan carries the one AWS call that makes it (issue 13), and
publish's document writes show exactly the calls a real run then makes: the same conditions, headers and
bodies (by size and digest)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.motoserver import AwsWorld

BUCKET = "ops-issuer"
ISSUER = f"https://{BUCKET}.s3.us-east-1.amazonaws.com"
PRIVATE = "ops-private-issuer"
JWKS, DISCOVERY, STATE = "openid/v1/jwks", ".well-known/openid-configuration", ".oidc-publisher/state.json"


def keypair(tmp_path: Path, name: str) -> Path:
    return k.write(tmp_path / f"{name}.pub", k.public_pem(k.rsa_key()))


def planned(*args: str) -> list[dict[str, Any]]:
    """The changes of a dry run of ``args``, which must have found something to do."""
    dry = invoke(*args, "--dry-run", "-o", "json")
    assert dry.exit_code == 3, (args, dry.stderr)
    changes: list[dict[str, Any]] = dry.json()["changes"]
    assert changes, args
    return changes


def without_operation(changes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["action"], c["resource"]) for c in changes if "call" not in c.get("operation", {})]


def digest(body: bytes) -> dict[str, Any]:
    return {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_every_step_of_every_commands_dry_run_carries_its_operation(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    front(BUCKET, ("*.s3.us-east-1.amazonaws.com", "*.cloudfront.net"))
    one, two = keypair(tmp_path, "one"), keypair(tmp_path, "two")
    plans: dict[str, list[dict[str, Any]]] = {
        # From nothing: a new bucket's documents are planned as the real run writes them (If-None-Match).
        "publish --create-bucket": planned("publish", "--bucket", BUCKET, "--public-key", str(one), "--create-bucket"),
        "bootstrap": planned("bootstrap", "--bucket", BUCKET, "--public-key", str(one)),
        "bootstrap --cloudfront": planned("bootstrap", "--bucket", PRIVATE, "--cloudfront", "--public-key", str(one)),
    }
    assert aws.recorder.writes == []
    assert invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(one)).exit_code == 0
    plans["publish"] = planned("publish", "--bucket", BUCKET, "--public-key", str(one), "--public-key", str(two))
    plans["register"] = planned("register", "--issuer-url", ISSUER, "--client-id", "other")
    policy = aws.client("iam").create_policy(PolicyName="reader", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    plans["role create"] = planned("role", "create", "--issuer-url", ISSUER, "--namespace", "default",
                                   "--service-account", "my-app", "--policy-arn", policy["Policy"]["Arn"])
    plans["teardown"] = planned("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--delete-bucket", "--yes")
    # The one exception, by design (docs/teardown.md): teardown shows one line per document key, while the calls
    # are batched DeleteObjects of every version of them all, listed beside the lines under "operations".
    exceptions = {"teardown": [("delete", f"s3://{BUCKET}/{key}") for key in (STATE, DISCOVERY, JWKS)]}
    assert {name: without_operation(changes) for name, changes in plans.items()} == {
        name: exceptions.get(name, []) for name in plans}
    dry = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--delete-bucket", "--yes", "--dry-run", "-o", "json")
    [batch] = [c["operation"] for c in dry.json()["operations"] if c["operation"]["call"] == "s3:DeleteObjects"]
    assert {o["Key"] for o in batch["params"]["Delete"]["Objects"]} == {STATE, DISCOVERY, JWKS}
    # The new bucket's documents and state: written only if still absent.
    for name in ("publish --create-bucket", "bootstrap"):
        writes = [c["operation"] for c in plans[name] if c["action"] == "write"]
        assert [(w["call"], w["params"]["Key"], w["params"]["IfNoneMatch"]) for w in writes] == [
            ("s3:PutObject", JWKS, "*"), ("s3:PutObject", DISCOVERY, "*"), ("s3:PutObject", STATE, "*")], name


def test_publishs_planned_writes_are_the_calls_the_run_makes(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    front(BUCKET, ("*.s3.us-east-1.amazonaws.com",))
    one, two = keypair(tmp_path, "one"), keypair(tmp_path, "two")
    assert invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(one)).exit_code == 0
    s3 = aws.client("s3")
    jwks_etag = s3.head_object(Bucket=BUCKET, Key=JWKS)["ETag"]
    state_etag = s3.head_object(Bucket=BUCKET, Key=STATE)["ETag"]
    keys = ["--public-key", str(one), "--public-key", str(two)]
    aws.recorder.reset()
    changes = planned("publish", "--bucket", BUCKET, *keys)
    assert aws.recorder.writes == []
    [jwks_write, state_write] = changes
    assert (jwks_write["action"], jwks_write["resource"]) == ("write", f"s3://{BUCKET}/{JWKS}")
    params = jwks_write["operation"]["params"]
    assert jwks_write["operation"]["call"] == "s3:PutObject"
    assert jwks_write["operation"]["region"] == "us-east-1"
    assert {name: value for name, value in params.items() if name not in ("Body", "Metadata")} == {
        "Bucket": BUCKET, "Key": JWKS, "ContentType": "application/json", "CacheControl": "public, max-age=300",
        "IfMatch": jwks_etag,
    }
    state_params = state_write["operation"]["params"]
    assert (state_params["Key"], state_params["IfMatch"], state_params["CacheControl"]) == (STATE, state_etag, "no-store")

    done = invoke("publish", "--bucket", BUCKET, *keys, "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert [(c["resource"], c["operation"]["params"]["IfMatch"]) for c in done.json()["changes"]] == [
        (f"s3://{BUCKET}/{JWKS}", jwks_etag), (f"s3://{BUCKET}/{STATE}", state_etag)]
    # The body the dry run showed is the one written.
    written = s3.get_object(Bucket=BUCKET, Key=JWKS)
    assert digest(written["Body"].read()) == params["Body"]
    assert {k.lower(): v for k, v in written["Metadata"].items()} == params.get("Metadata", {})
    assert written["CacheControl"] == "public, max-age=300"
