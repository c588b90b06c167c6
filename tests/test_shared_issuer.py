"""One issuer for several clusters, end to end (issue 14): two Kubernetes API stand-ins (one RSA key, one EC),
each with its own kubeconfig, publishing as members of one issuer from concurrent processes; and the
blue/green move of docs/shared-issuer.md, step by step, with an OIDC verifier that is not ours (PyJWT) reading
the issuer through the HTTPS front. AWS's clock is moved, never slept on."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import jwt as pyjwt
import pytest
from oidc_publisher_demo.localca import make_chain

from oidc_publisher.core.keys import signing_key
from oidc_publisher.core.tokens import mint_token
from tests.support import keys as k
from tests.support.cli import Outcome, invoke, run
from tests.support.fronts import Front
from tests.support.https import HTTPSServer
from tests.support.kube_api import KubeAPI
from tests.support.motoserver import AwsClock, AwsWorld
from tests.test_bootstrap import verify_with_pyjwt

BUCKET = "shared-fleet"
ISSUER = f"https://{BUCKET}.s3.us-east-1.amazonaws.com"
S3_HOSTS = ("*.s3.us-east-1.amazonaws.com",)
JWKS = "openid/v1/jwks"
SUBJECT = "system:serviceaccount:shop:app"


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[dict[str, tuple[KubeAPI, Path]]]:
    """Two API server stand-ins of one issuer, blue signing with RSA and green with EC; each with its kubeconfig."""
    made: dict[str, tuple[KubeAPI, Path]] = {}
    for name, key in (("blue", k.rsa_key()), ("green", k.ec_key())):
        chain = make_chain(("localhost", "127.0.0.1"), intermediates=1).write(tmp_path / f"{name}-pki")
        api = KubeAPI(issuer=ISSUER, keys=[key], chain=chain)
        api.service_accounts[("shop", "app")] = {}
        api.server = HTTPSServer(chain, api.handle).start()
        made[name] = (api, api.kubeconfig(tmp_path / f"{name}.kubeconfig", context=name))
    yield made
    for api, _ in made.values():
        assert api.server is not None
        api.server.stop()


def kid(key: object) -> str:
    return signing_key(key.public_key(), "test").kid  # type: ignore[attr-defined]


def live_kids(aws: AwsWorld) -> set[str]:
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=JWKS)["Body"].read()
    return {entry["kid"] for entry in json.loads(body)["keys"]}


def token_of(api: KubeAPI) -> str:
    """A token the cluster signs now, as TokenRequest would give a pod."""
    key = api.keys[api.signing]
    return mint_token(key, kid=kid(key), issuer=ISSUER, subject=SUBJECT)  # type: ignore[arg-type]


def publish_args(member: str, kubeconfig: Path) -> list[str]:
    return ["publish", "--bucket", BUCKET, "--member", member, "--from-cluster", "--kubeconfig", str(kubeconfig), "-o", "json"]


def side_by_side(*commands: list[str]) -> list[Outcome]:
    """Each command in its own process, all started together."""
    outcomes: list[Outcome | None] = [None] * len(commands)

    def start(i: int) -> None:
        outcomes[i] = run(*commands[i], timeout=180)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(commands))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [o for o in outcomes if o is not None]


@pytest.mark.slow
def test_members_publishing_from_concurrent_processes_keep_the_union(
    aws: AwsWorld, aws_clock: AwsClock, front: Front, clusters: dict[str, tuple[KubeAPI, Path]]
) -> None:
    _, chain = front(BUCKET, S3_HOSTS)
    aws.client("s3").create_bucket(Bucket=BUCKET)
    (blue, blue_config), (green, green_config) = clusters["blue"], clusters["green"]
    served: set[str] = set()
    for round_ in range(4):
        if round_:  # each cluster rotates: a new key signs, the previous one is still served this round
            blue.keys.append(k.rsa_key())
            green.keys.append(k.ec_key())
            blue.signing = green.signing = len(blue.keys) - 1
            if len(blue.keys) > 2:  # ... and the oldest leaves the API servers (retained 48h in the JWKS)
                blue.keys.pop(0)
                green.keys.pop(0)
                blue.signing = green.signing = len(blue.keys) - 1
        served |= {kid(key) for key in (*blue.keys, *green.keys)}
        # Two jobs of blue (one too many: a slow run overlapping the next) and green's, at once.
        outcomes = side_by_side(publish_args("blue", blue_config), publish_args("green", green_config),
                                publish_args("blue", blue_config))
        for outcome in outcomes:
            assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
        assert live_kids(aws) == served, f"round {round_}"  # exactly the union: nothing lost, nothing extra
        for api in (blue, green):
            claims = verify_with_pyjwt(token_of(api), ISSUER, chain.files["ca"], chain)
            assert claims["sub"] == SUBJECT
    # Retention over: each member's next run drops its own keys that left its API server, and only those.
    aws_clock.advance(hours=49)
    for outcome in side_by_side(publish_args("green", green_config), publish_args("blue", blue_config)):
        assert outcome.exit_code == 0, outcome.stderr
    assert live_kids(aws) == {kid(key) for key in (*blue.keys, *green.keys)}
    state = json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key=".oidc-publisher/state.json")["Body"].read())
    assert set(state["members"]["blue"]["keys"]) == {kid(key) for key in blue.keys}
    assert set(state["members"]["green"]["keys"]) == {kid(key) for key in green.keys}
    # Nothing to change: each member's run is two reads and no write.
    aws.recorder.reset()
    assert invoke(*publish_args("blue", blue_config)).json()["changed"] is False
    assert aws.recorder.operations() == ["GetObject", "GetObject"]


IAM_WRITES = ("Create", "Update", "Delete", "Add", "Remove", "Tag", "Untag", "Put", "Attach", "Detach")


def test_blue_green_move_with_no_iam_change(
    aws: AwsWorld, aws_clock: AwsClock, front: Front, clusters: dict[str, tuple[KubeAPI, Path]]
) -> None:
    """docs/shared-issuer.md, "Moving workloads from cluster A to cluster B", step by step."""
    _, chain = front(BUCKET, S3_HOSTS)
    (blue, blue_config), (green, green_config) = clusters["blue"], clusters["green"]

    # 1. Cluster A (blue) alone: bootstrap as a member, and the role its workload assumes, made once.
    first = invoke("bootstrap", "--bucket", BUCKET, "--member", "blue", "--from-cluster", "--kubeconfig", str(blue_config))
    assert first.exit_code == 0, first.stderr
    assert "--member blue" in first.stdout  # the rotation job it prints publishes its member
    policy = aws.client("iam").create_policy(PolicyName="shop-read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    role = invoke("role", "create", "--issuer-url", ISSUER, "--namespace", "shop", "--service-account", "app",
                  "--policy-arn", policy["Policy"]["Arn"], "-o", "json")
    assert role.exit_code == 0, role.stderr
    iam_calls_before = len(aws.recorder.calls)
    provider_before = aws.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]

    # 2. Cluster B (green) joins the same issuer.
    joined = invoke("bootstrap", "--bucket", BUCKET, "--member", "green", "--from-cluster", "--kubeconfig", str(green_config))
    assert joined.exit_code == 0, joined.stderr
    assert live_kids(aws) == {kid(blue.keys[0]), kid(green.keys[0])}

    # 3. One role accepts tokens from both: the same issuer, the same sub; both verify through the front.
    trust = aws.client("iam").get_role(RoleName=role.json()["role_name"])["Role"]["AssumeRolePolicyDocument"]
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert condition[f"{BUCKET}.s3.us-east-1.amazonaws.com:sub"] == SUBJECT
    for api in (blue, green):
        claims = verify_with_pyjwt(token_of(api), ISSUER, chain.files["ca"], chain)
        assert (claims["iss"], claims["sub"]) == (ISSUER, SUBJECT)
    checked = invoke("verify", "--issuer-url", ISSUER, "--member", "green", "--from-cluster", "--kubeconfig",
                     str(green_config), "--service-account", "shop/app", "-o", "json")
    assert checked.exit_code == 0, checked.stdout
    statuses = {c["check"]: c["status"] for c in checked.json()["checks"]}
    assert statuses["member green"] == statuses["token"] == statuses["cluster keys published"] == "pass"
    listed = invoke("verify", "--issuer-url", ISSUER, "--bucket", BUCKET, "--skip-iam")
    assert listed.exit_code == 0, listed.stdout
    assert "  [ok  ] member blue: 1 key published; last published" in listed.stdout, listed.stdout
    assert "  [ok  ] member green: 1 key published; last published" in listed.stdout

    # 4. A (blue) leaves: its job is stopped, then it is removed; its keys stay for the retention window.
    blue_token = token_of(blue)
    left = invoke("members", "remove", "blue", "--bucket", BUCKET)
    assert left.exit_code == 0, left.stderr
    aws_clock.advance(hours=47)
    assert invoke(*publish_args("green", green_config)).exit_code == 0
    assert verify_with_pyjwt(blue_token, ISSUER, chain.files["ca"], chain)["sub"] == SUBJECT  # still accepted
    aws_clock.advance(hours=2)
    dropped = invoke(*publish_args("green", green_config))
    assert dropped.exit_code == 0 and dropped.json()["removed"] == [kid(blue.keys[0])]
    assert live_kids(aws) == {kid(green.keys[0])}
    with pytest.raises(pyjwt.exceptions.PyJWKClientError):  # blue's tokens stop after the window
        verify_with_pyjwt(blue_token, ISSUER, chain.files["ca"], chain)
    assert verify_with_pyjwt(token_of(green), ISSUER, chain.files["ca"], chain)["sub"] == SUBJECT

    # The IAM provider and the role were never written after the first run.
    later = aws.recorder.calls[iam_calls_before:]
    assert [op for service, op in later if service == "iam" and op.startswith(IAM_WRITES)] == []
    assert aws.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"] == provider_before


def test_audit_notes_an_issuer_shared_by_several_members(
    aws: AwsWorld, front: Front, clusters: dict[str, tuple[KubeAPI, Path]]
) -> None:
    front(BUCKET, S3_HOSTS)
    for name, (_, config) in clusters.items():
        assert invoke("bootstrap", "--bucket", BUCKET, "--member", name, "--from-cluster", "--kubeconfig", str(config)).exit_code == 0
    plain = invoke("audit", "--issuer-url", ISSUER, "-o", "json")  # without --bucket the state is not read
    assert plain.exit_code == 0 and plain.json()["notes"] == []
    audited = invoke("audit", "--issuer-url", ISSUER, "--bucket", BUCKET, "-o", "json")
    assert audited.exit_code == 0, audited.stderr
    assert audited.json()["notes"] == [
        "2 clusters share this issuer as members (blue, green): a service account ns/sa in any of them can assume a "
        "role that trusts system:serviceaccount:ns:sa; share an issuer only between clusters of one trust zone "
        "(docs/shared-issuer.md)"
    ]


def test_verify_lists_every_member_with_its_status(
    aws: AwsWorld, aws_clock: AwsClock, front: Front, clusters: dict[str, tuple[KubeAPI, Path]]
) -> None:
    front(BUCKET, S3_HOSTS)
    for name, (_, config) in clusters.items():
        assert invoke("bootstrap", "--bucket", BUCKET, "--member", name, "--from-cluster", "--kubeconfig", str(config)).exit_code == 0
    aws_clock.advance(days=4)
    green_api, green_config = clusters["green"]
    assert invoke(*publish_args("green", green_config)).exit_code == 0  # green records itself; blue is silent
    result = invoke("verify", "--issuer-url", ISSUER, "--bucket", BUCKET, "-o", "json")
    assert result.exit_code == 0, result.stdout  # a silent member warns; it does not fail
    body = result.json()
    checks = {c["check"]: c for c in body["checks"]}
    assert checks["member blue"]["status"] == "warn"
    assert checks["member blue"]["detail"].endswith("ago: silent longer than 72h00m")
    assert checks["member green"]["status"] == "pass"
    assert [(m["name"], m["stale"]) for m in body["members"]] == [("blue", True), ("green", False)]
    # A member whose cluster serves a key the state does not record (its job has not run since) fails.
    green_api.keys.append(k.ec_key())
    stale_keys = invoke("verify", "--issuer-url", ISSUER, "--member", "green", "--from-cluster", "--kubeconfig",
                        str(green_config), "--skip-iam")
    assert stale_keys.exit_code == 1
    assert "  [FAIL] member green: the state records " in stale_keys.stdout
    unknown = invoke("verify", "--issuer-url", "https://oidc.example.com", "--member", "green")
    assert (unknown.exit_code, unknown.stderr) == (2, (
        "error: verify --member needs --bucket for an issuer that is not the bucket's S3 URL; give the issuer's "
        "--bucket (its state object records the members)\n"))


def test_a_lost_race_that_keeps_losing_says_so(aws: AwsWorld, tmp_path: Path) -> None:
    """Every conditional write refused (412): bounded attempts, one clear line, exit 1."""
    aws.client("s3").create_bucket(Bucket=BUCKET)
    pem = k.write(tmp_path / "a.pub", k.K8S_RSA_PUBLIC_KEY)
    aws.proxy.fail_next("PutObject", status=412, code="PreconditionFailed", times=8)
    result = invoke("publish", "--bucket", BUCKET, "--member", "blue", "--public-key", str(pem))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: other publishers kept changing s3://{BUCKET}/{JWKS} while member blue converged (8 attempts, each "
        "lost a race); nothing of another member was lost; re-run, and spread the members' job schedules (or give "
        "each cluster one job: CronJob concurrencyPolicy: Forbid)\n"
    )
    assert len(aws.recorder.sent("PutObject")) == 8
