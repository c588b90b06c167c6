"""Faults on every AWS call of a bootstrap and of a rotation run: a 500, throttling, a timeout, a dropped
connection. Once, the tool retries (botocore's standard mode) and succeeds; for good, it fails with one
clear line, the published state is never inconsistent, and the next run converges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.motoserver import AwsWorld

BUCKET = "faulty-issuer"
ISSUER = f"https://{BUCKET}.s3.us-east-1.amazonaws.com"
ATTEMPTS = 5  # oidc_publisher.aws.clients.MAX_ATTEMPTS

FAULTS = {
    "500": {"kind": "error", "status": 500, "code": "InternalError"},
    "throttle": {"kind": "error", "status": 503, "code": "SlowDown"},
    "timeout": {"kind": "timeout", "status": 0, "code": "", "hold": 1.5},
    "drop": {"kind": "drop", "status": 0, "code": ""},
}


def fault(name: str, service_hint: str = "") -> dict:
    spec = dict(FAULTS[name])
    code = spec.pop("code")
    if name == "throttle" and service_hint in ("iam", "sts", "cloudfront"):
        spec["status"], code = 400, "Throttling"
    spec["body"] = f"<Error><Code>{code}</Code><Message>injected by the test</Message></Error>".encode()
    spec.setdefault("hold", 0)
    return spec


@pytest.fixture
def setup(aws: AwsWorld, front: Front, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    front(BUCKET, ("*.s3.us-east-1.amazonaws.com",))
    monkeypatch.setenv("OIDC_PUBLISHER_AWS_TIMEOUT", "1")
    one = k.write(tmp_path / "one.pub", k.K8S_RSA_PUBLIC_KEY)
    two = k.write(tmp_path / "two.pub", k.K8S_EC_PUBLIC_KEY)
    return {"aws": aws, "one": one, "two": two}


def reset(aws: AwsWorld) -> None:
    import requests

    requests.post(f"{aws.moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    aws.recorder.reset()
    aws.proxy.positional = None  # type: ignore[attr-defined]


def published(aws: AwsWorld) -> tuple[set[str] | None, dict | None]:
    s3 = aws.client("s3")
    try:
        jwks = json.loads(s3.get_object(Bucket=BUCKET, Key="openid/v1/jwks")["Body"].read())
        kids: set[str] | None = {key["kid"] for key in jwks["keys"]}
    except Exception:
        kids = None
    try:
        discovery = json.loads(s3.get_object(Bucket=BUCKET, Key=".well-known/openid-configuration")["Body"].read())
    except Exception:
        discovery = None
    return kids, discovery


def assert_consistent(aws: AwsWorld, must_have: set[str]) -> None:
    """A discovery document is never served without a JWKS holding every key tokens are signed with,
    and never advertises an algorithm the JWKS does not hold."""
    kids, discovery = published(aws)
    if discovery is None:
        return
    assert kids is not None, "discovery document published before its JWKS"
    assert must_have <= kids
    assert discovery["issuer"] == ISSUER
    if "ES256" in discovery["id_token_signing_alg_values_supported"]:
        assert k.K8S_EC_KID in kids


def bootstrap(one: Path) -> object:
    return invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(one), "-o", "json")


def baseline_calls(setup: dict) -> list[tuple[str, str]]:
    aws = setup["aws"]
    reset(aws)
    assert bootstrap(setup["one"]).exit_code == 0  # type: ignore[attr-defined]
    calls = list(aws.recorder.calls)
    assert len(calls) > 10
    return calls


@pytest.mark.parametrize("name", list(FAULTS))
def test_bootstrap_survives_one_fault_on_every_call(setup: dict, name: str) -> None:
    aws = setup["aws"]
    calls = baseline_calls(setup)
    for index, (service, operation) in enumerate(calls):
        reset(aws)
        aws.proxy.fail_call(index, fault(name, service), times=1)
        result = bootstrap(setup["one"])
        assert result.exit_code == 0, f"{name} on call {index} ({operation}): {result.stderr}"  # type: ignore[attr-defined]
        assert published(aws)[0] == {k.K8S_RSA_KID}
        assert aws.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]


@pytest.mark.parametrize("name", ["500", "throttle", "drop"])
def test_bootstrap_fails_clearly_on_a_persistent_fault_and_converges_next_run(setup: dict, name: str) -> None:
    aws = setup["aws"]
    calls = baseline_calls(setup)
    indexes = list(range(len(calls)))
    if name == "throttle":
        # Standard mode backs off longest on throttling; one call of each service and operation is enough.
        firsts: dict[tuple[str, str], int] = {}
        for index, call in enumerate(calls):
            firsts.setdefault(call, index)
        indexes = sorted(firsts.values())
    for index in indexes:
        service, operation = calls[index]
        reset(aws)
        aws.proxy.fail_call(index, fault(name, service), times=ATTEMPTS)
        result = bootstrap(setup["one"])
        where = f"{name} on call {index} ({service} {operation})"
        assert result.exit_code == 1, where  # type: ignore[attr-defined]
        lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
        assert len(lines) == 1 and lines[0].startswith("error: "), (where, lines)
        assert "Traceback" not in result.stderr  # type: ignore[attr-defined]
        assert_consistent(aws, {k.K8S_RSA_KID})
        again = bootstrap(setup["one"])
        assert again.exit_code == 0, (where, again.stderr)  # type: ignore[attr-defined]
        assert published(aws)[0] == {k.K8S_RSA_KID}
        aws.recorder.reset()
        assert bootstrap(setup["one"]).json()["changed"] is False, where  # type: ignore[attr-defined]


def test_persistent_timeout_on_a_write_fails_clearly(setup: dict) -> None:
    aws = setup["aws"]
    reset(aws)
    # By operation, not by position: bootstrap sets up the bucket and writes the documents side by side,
    # so the first PutObject (the JWKS, always the first document written) has no fixed place.
    aws.proxy.fail_next("PutObject", kind="timeout", hold=FAULTS["timeout"]["hold"], times=ATTEMPTS)
    result = bootstrap(setup["one"])
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert result.stderr.strip() == (  # type: ignore[attr-defined]
        f"error: s3:PutObject on s3://{BUCKET}/openid/v1/jwks timed out after retries; check the network path to AWS and re-run"
    )
    assert_consistent(aws, {k.K8S_RSA_KID})
    assert bootstrap(setup["one"]).exit_code == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", list(FAULTS))
def test_rotation_run_under_faults(setup: dict, name: str) -> None:
    aws = setup["aws"]
    reset(aws)
    assert bootstrap(setup["one"]).exit_code == 0  # type: ignore[attr-defined]
    rotate = ["publish", "--bucket", BUCKET, "--public-key", str(setup["one"]), "--public-key", str(setup["two"]), "-o", "json"]
    aws.recorder.reset()
    assert invoke(*rotate).exit_code == 0
    calls = list(aws.recorder.calls)
    assert [op for _, op in calls] == ["GetObject", "GetObject", "GetObject", "PutObject", "PutObject", "PutObject"]
    for index, (service, operation) in enumerate(calls):
        # Every call fails once; every call fails for good with a 500 or a drop; the slow faults fail
        # for good on the JWKS write (the call whose failure matters most).
        persistent = name in ("500", "drop") or index == 3
        for times in (1, ATTEMPTS) if persistent else (1,):
            reset(aws)
            assert bootstrap(setup["one"]).exit_code == 0  # type: ignore[attr-defined]
            aws.recorder.reset()
            aws.proxy.fail_call(index, fault(name, service), times=times)
            result = invoke(*rotate)
            where = f"{name} x{times} on call {index} ({operation})"
            assert result.exit_code == (0 if times == 1 else 1), (where, result.stderr)
            assert_consistent(aws, {k.K8S_RSA_KID})
            if times > 1:
                assert len(result.stderr.strip().splitlines()) == 1, where
                assert invoke(*rotate).exit_code == 0, where
            assert published(aws)[0] == {k.K8S_RSA_KID, k.K8S_EC_KID}, where
            assert published(aws)[1]["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]  # type: ignore[index]
