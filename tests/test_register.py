"""``register`` against moto's server (through the recording, fault-injecting proxy) and local HTTPS
hosts with their own CA: real IAM state, counted calls, real TLS thumbprints.

moto's server does not implement AddClientIDToOpenIDConnectProvider; the proxy carries that one call
out on moto's own provider object (see tests/support/motoserver.py), so the state asserted is moto's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from oidc_publisher.aws.clients import MAX_ATTEMPTS
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.https import HTTPSServer, Response
from tests.support.motoserver import AwsWorld
from tests.support.pki import Chain, make_chain

HOST = "oidc.example.com"
ISSUER = f"https://{HOST}/cluster-a"
ARN = f"arn:aws:iam::123456789012:oidc-provider/{HOST}/cluster-a"
RESOURCE = f"iam:oidc-provider/{HOST}/cluster-a"
STALE = "0" * 40
READS = [("iam", "ListOpenIDConnectProviders"), ("iam", "GetOpenIDConnectProvider")]

Hosts = Callable[..., dict[str, Chain]]


def discovery(jwks_uri: str) -> bytes:
    return json.dumps({"issuer": ISSUER, "jwks_uri": jwks_uri}).encode()


@pytest.fixture
def hosts(aws: AwsWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hosts]:
    """``hosts(jwks_host=None)``: the issuer's host (and, if named, a second host for jwks_uri) over real
    TLS on 127.0.0.1, each with its own CA, reached through SSL_CERT_FILE and the connect-to override."""
    servers: list[HTTPSServer] = []

    def start(jwks_host: str | None = None, *, publish_discovery: bool = True) -> dict[str, Chain]:
        names = [HOST] if jwks_host is None else [HOST, jwks_host]
        chains = {name: make_chain((name,), root_name=f"root of {name}").write(tmp_path / name) for name in names}
        jwks_uri = f"https://{jwks_host or HOST}/keys.json"
        routes = {
            f"{ISSUER.removeprefix('https://' + HOST)}/.well-known/openid-configuration": Response(
                body=discovery(jwks_uri)
            )
        }
        overrides = []
        for name, chain in chains.items():
            server = HTTPSServer(chain).start()
            server.routes.update(routes if name == HOST and publish_discovery else {})
            servers.append(server)
            overrides.append(f"{name}:443:127.0.0.1:{server.port}")
        bundle = tmp_path / "bundle.pem"
        bundle.write_bytes(b"".join(chain.root.pem for chain in chains.values()))
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        monkeypatch.setenv("OIDC_PUBLISHER_CONNECT_TO", ",".join(overrides))
        return chains

    yield start
    for server in servers:
        server.stop()


def state(aws: AwsWorld) -> dict[str, Any]:
    """The provider as IAM (moto) holds it, read past the proxy."""
    iam = aws.client("iam")
    arns = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    if ARN not in arns:
        return {"arns": arns}
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=ARN)
    return {
        "arns": arns,
        "url": got["Url"],
        "client_ids": got["ClientIDList"],
        "thumbprints": got["ThumbprintList"],
        "tags": {t["Key"]: t["Value"] for t in got.get("Tags", [])},
    }


def seed(aws: AwsWorld, client_ids: list[str], thumbprints: list[str], tags: dict[str, str] | None = None) -> None:
    """A provider that already exists (made by someone else, or by an older run)."""
    made = aws.client("iam").create_open_id_connect_provider(
        Url=ISSUER,
        ClientIDList=client_ids,
        ThumbprintList=thumbprints,
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )
    assert made["OpenIDConnectProviderArn"] == ARN


def test_create_then_nothing_to_do(aws: AwsWorld, hosts: Hosts) -> None:
    chain = hosts()[HOST]
    created = invoke("register", "--issuer-url", ISSUER)
    assert created.exit_code == 0, created.stderr
    assert created.stdout == (
        "Changed:\n"
        f"  create     {RESOURCE}: no provider for {HOST}/cluster-a (client IDs sts.amazonaws.com)\n"
        f"IAM OIDC provider: {ARN}\n"
        "  client IDs: sts.amazonaws.com\n"
        f"  thumbprints: {chain.expected_thumbprint}\n"
        f"  {HOST}: private or uncommon CA: IAM accepts the host only by a registered thumbprint\n"
    )
    assert aws.recorder.calls == [("iam", "ListOpenIDConnectProviders"), ("iam", "CreateOpenIDConnectProvider")]
    assert state(aws) == {
        "arns": [ARN],
        "url": f"{HOST}/cluster-a",
        "client_ids": ["sts.amazonaws.com"],
        "thumbprints": [chain.expected_thumbprint],
        "tags": {"managed-by": "oidc-publisher"},
    }

    aws.recorder.reset()
    again = invoke("register", "--issuer-url", ISSUER, "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert again.json() == {
        "issuer": ISSUER,
        "provider_arn": ARN,
        "dry_run": False,
        "changed": False,
        "changes": [],
        "client_ids": ["sts.amazonaws.com"],
        "thumbprints": [chain.expected_thumbprint],
        "ca": {HOST: "private"},
    }
    assert aws.recorder.calls == READS  # two reads, no write


def test_jwks_on_another_host_registers_both_thumbprints(aws: AwsWorld, hosts: Hosts) -> None:
    chains = hosts(jwks_host="keys.example.net")
    assert chains[HOST].expected_thumbprint != chains["keys.example.net"].expected_thumbprint
    result = invoke("register", "--issuer-url", ISSUER, "-o", "json")
    assert result.exit_code == 0, result.stderr
    both = [chains[HOST].expected_thumbprint, chains["keys.example.net"].expected_thumbprint]
    assert result.json()["thumbprints"] == both
    assert state(aws)["thumbprints"] == both


def test_jwks_uri_given_when_no_discovery_document_is_published_yet(aws: AwsWorld, hosts: Hosts) -> None:
    chains = hosts(jwks_host="keys.example.net", publish_discovery=False)
    alone = invoke("register", "--issuer-url", ISSUER, "-o", "json")
    assert alone.exit_code == 0, alone.stderr
    assert state(aws)["thumbprints"] == [chains[HOST].expected_thumbprint]  # nothing names the other host yet
    both = invoke("register", "--issuer-url", ISSUER, "--jwks-uri", "https://keys.example.net/keys.json", "-o", "json")
    assert both.exit_code == 0, both.stderr
    expected = [chains[HOST].expected_thumbprint, chains["keys.example.net"].expected_thumbprint]
    assert state(aws)["thumbprints"] == expected
    assert both.json()["provider_arn"] == alone.json()["provider_arn"] == ARN


def test_converges_in_place_and_never_removes_a_client_id(aws: AwsWorld, hosts: Hosts) -> None:
    chain = hosts()[HOST]
    seed(aws, ["kept-by-someone"], [STALE], {"team": "old"})
    aws.recorder.reset()
    result = invoke(
        "register",
        "--issuer-url",
        ISSUER,
        "--client-id",
        "sts.amazonaws.com",
        "--client-id",
        "vault",
        "--tag",
        "team=platform",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert [(c["action"], c["reason"]) for c in result.json()["changes"]] == [
        # One step per AWS call (issue 13: a step names exactly one operation): IAM adds one client ID a call.
        ("update", "add client ID sts.amazonaws.com"),
        ("update", "add client ID vault"),
        ("update", f"thumbprints {STALE} -> {chain.expected_thumbprint}"),
        ("update", "tags team=platform"),  # the user's tag; never the managed-by mark on a provider made elsewhere
    ]
    assert aws.recorder.calls == [
        *READS,
        ("iam", "AddClientIDToOpenIDConnectProvider"),
        ("iam", "AddClientIDToOpenIDConnectProvider"),
        ("iam", "UpdateOpenIDConnectProviderThumbprint"),
        ("iam", "TagOpenIDConnectProvider"),
    ]
    assert state(aws) == {
        "arns": [ARN],  # the same provider: roles trusting it by ARN keep working
        "url": f"{HOST}/cluster-a",
        "client_ids": ["kept-by-someone", "sts.amazonaws.com", "vault"],
        "thumbprints": [chain.expected_thumbprint],
        "tags": {"team": "platform"},
    }
    aws.recorder.reset()
    again = invoke("register", "--issuer-url", ISSUER, "--client-id", "vault", "--tag", "team=platform")
    assert again.exit_code == 0
    assert aws.recorder.calls == READS


def test_given_thumbprints_replace_computed_ones(aws: AwsWorld, hosts: Hosts) -> None:
    hosts()
    seed(aws, ["sts.amazonaws.com"], [STALE], {"managed-by": "oidc-publisher"})
    mine = ["AB:" * 19 + "CD", "1" * 40]
    result = invoke("register", "--issuer-url", ISSUER, "--thumbprint", mine[0], "--thumbprint", mine[1])
    assert result.exit_code == 0, result.stderr
    assert state(aws)["thumbprints"] == ["ab" * 19 + "cd", "1" * 40]


def test_no_thumbprint(aws: AwsWorld) -> None:
    # No HTTPS host at all: nothing is fetched when no thumbprint is wanted.
    created = invoke("register", "--issuer-url", ISSUER, "--no-thumbprint", "-o", "json")
    assert created.exit_code == 0, created.stderr
    assert state(aws)["thumbprints"] == []
    aws.recorder.reset()
    assert invoke("register", "--issuer-url", ISSUER, "--no-thumbprint").exit_code == 0
    assert aws.recorder.writes == []


def test_no_thumbprint_leaves_registered_thumbprints_alone(aws: AwsWorld) -> None:
    seed(aws, ["sts.amazonaws.com"], [STALE], {"managed-by": "oidc-publisher"})
    aws.recorder.reset()
    result = invoke("register", "--issuer-url", ISSUER, "--no-thumbprint")
    assert result.exit_code == 0, result.stderr
    assert aws.recorder.writes == []
    assert state(aws)["thumbprints"] == [STALE]


DRIFTS: dict[str, tuple[Callable[[AwsWorld, Chain], None], list[str]]] = {
    "missing": (lambda aws, chain: None, ["create"]),
    "converged": (
        lambda aws, chain: seed(
            aws, ["sts.amazonaws.com"], [chain.expected_thumbprint], {"managed-by": "oidc-publisher"}
        ),
        [],
    ),
    "stale thumbprint": (
        lambda aws, chain: seed(aws, ["sts.amazonaws.com"], [STALE], {"managed-by": "oidc-publisher"}),
        ["update"],
    ),
    "client ID missing": (
        lambda aws, chain: seed(aws, ["other"], [chain.expected_thumbprint], {"managed-by": "oidc-publisher"}),
        ["update"],
    ),
    # A provider without the mark was made elsewhere: it is never tagged with it afterwards.
    "mark missing": (lambda aws, chain: seed(aws, ["sts.amazonaws.com"], [chain.expected_thumbprint]), []),
    "everything": (lambda aws, chain: seed(aws, ["other"], [STALE]), ["update", "update"]),
}


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_dry_run_writes_nothing_whatever_the_state(aws: AwsWorld, hosts: Hosts, drift: str) -> None:
    chain = hosts()[HOST]
    make, actions = DRIFTS[drift]
    make(aws, chain)
    before = state(aws)
    aws.recorder.reset()
    dry = invoke("register", "--issuer-url", ISSUER, "--dry-run", "-o", "json")
    assert dry.exit_code == (3 if actions else 0), dry.stderr
    assert [c["action"] for c in dry.json()["changes"]] == actions
    assert dry.json()["dry_run"] is True
    assert aws.recorder.writes == []
    assert state(aws) == before
    text = invoke("register", "--issuer-url", ISSUER, "--dry-run")
    assert text.stdout.splitlines()[0] == ("Would change:" if actions else "No changes: everything is up to date.")
    assert aws.recorder.writes == []
    # ...and the real run does what the dry run said, after which a dry run finds nothing.
    assert invoke("register", "--issuer-url", ISSUER).exit_code == 0
    assert invoke("register", "--issuer-url", ISSUER, "--dry-run").exit_code == 0


def test_provider_quota(aws: AwsWorld, hosts: Hosts) -> None:
    hosts()
    iam = aws.client("iam")
    for i in range(100):
        iam.create_open_id_connect_provider(Url=f"https://filler-{i}.example.com", ClientIDList=["sts.amazonaws.com"])
    aws.recorder.reset()
    for args in ([], ["--dry-run"]):
        result = invoke("register", "--issuer-url", ISSUER, *args)
        assert (result.exit_code, result.stderr.strip()) == (
            1,
            (
                f"error: cannot create the IAM OIDC provider for {ISSUER}: the account has reached IAM's quota of 100 OIDC "
                "providers; delete providers of clusters that are gone (oidc-publisher teardown), or ask AWS to raise the quota"
            ),
        )
    assert aws.recorder.writes == []


def test_a_create_refused_for_the_quota_or_raced_keeps_its_message(aws: AwsWorld, hosts: Hosts) -> None:
    """What a create can be answered when another run acts between the read and the write: the executor
    lets LimitExceeded and EntityAlreadyExists through to registration, which words them (nothing is left)."""
    hosts()
    for code, message in (
        ("LimitExceeded", (
            f"error: cannot create the IAM OIDC provider for {ISSUER}: the account has reached IAM's quota of 100 OIDC "
            "providers; delete providers of clusters that are gone (oidc-publisher teardown), or ask AWS to raise the quota")),
        ("EntityAlreadyExists", f"error: IAM says the OIDC provider for {ISSUER} exists, but it is not listed; re-run in a minute"),
    ):
        aws.recorder.reset()
        body = f"<Error><Code>{code}</Code><Message>injected by the test</Message></Error>".encode()
        aws.proxy.fail_call(1, {"kind": "error", "status": 409, "body": body, "hold": 0}, times=1)  # the create
        result = invoke("register", "--issuer-url", ISSUER)
        assert (result.exit_code, result.stderr.strip()) == (1, message), code
        assert ("iam", "CreateOpenIDConnectProvider") in aws.recorder.calls
        assert state(aws) == {"arns": []}


def test_client_id_quota_counts_the_ones_already_registered(aws: AwsWorld) -> None:
    seed(aws, [f"app-{i}" for i in range(99)], [])
    aws.recorder.reset()
    result = invoke(
        "register",
        "--issuer-url",
        ISSUER,
        "--no-thumbprint",
        "--client-id",
        "sts.amazonaws.com",
        "--client-id",
        "vault",
    )
    assert (result.exit_code, result.stderr.strip()) == (
        1,
        (
            f"error: the IAM OIDC provider for {ISSUER} has 99 client IDs and 2 more were asked for; IAM allows at most 100 "
            "per provider: remove client IDs nobody uses (aws iam remove-client-id-from-open-id-connect-provider)"
        ),
    )
    assert aws.recorder.writes == []
    too_many = invoke(
        "register",
        "--issuer-url",
        "https://x.example.com",
        "--no-thumbprint",
        *[arg for i in range(101) for arg in ("--client-id", f"c{i}")],
    )
    assert (too_many.exit_code, too_many.stderr.strip()) == (2, "error: 101 client IDs given; IAM allows at most 100")


@pytest.mark.parametrize("their_tags", [{}, {"managed-by": "terraform", "team": "infra"}])
def test_a_provider_made_elsewhere_is_never_claimed(aws: AwsWorld, hosts: Hosts, their_tags: dict[str, str]) -> None:
    """Made by Terraform or the console: register converges what was asked, never adds the managed-by mark,
    and teardown therefore keeps it."""
    chain = hosts()[HOST]
    seed(aws, ["sts.amazonaws.com"], [STALE], their_tags)
    aws.recorder.reset()
    result = invoke("register", "--issuer-url", ISSUER, "--client-id", "vault", "--tag", "team=platform", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert [c["reason"] for c in result.json()["changes"]] == [
        "add client ID vault", f"thumbprints {STALE} -> {chain.expected_thumbprint}", "tags team=platform"]
    assert ("iam", "TagOpenIDConnectProvider") in aws.recorder.writes
    after = state(aws)
    assert after["tags"] == {**their_tags, "team": "platform"}  # the user's tag, and never the mark
    assert after["client_ids"] == ["sts.amazonaws.com", "vault"]
    aws.recorder.reset()
    assert invoke("register", "--issuer-url", ISSUER).exit_code == 0  # a plain re-run: nothing to do
    assert aws.recorder.writes == []
    down = invoke("teardown", "--issuer-url", ISSUER, "--bucket", "no-such-issuer-bucket", "--yes", "-o", "json")
    assert down.exit_code == 0, down.stderr
    assert f"kept the IAM provider {ARN}: it is not tagged managed-by=oidc-publisher" in down.json()["notes"]
    assert ("iam", "DeleteOpenIDConnectProvider") not in aws.recorder.calls
    assert state(aws)["arns"] == [ARN]


def test_bootstrap_never_claims_a_provider_made_elsewhere(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    """The same through bootstrap: its provider step converges a Terraform-made provider without the mark."""
    from tests.support import irsa

    made = aws.client("iam").create_open_id_connect_provider(
        Url=irsa.ISSUER, ClientIDList=["sts.amazonaws.com"], Tags=[{"Key": "managed-by", "Value": "terraform"}])
    irsa.seed_issuer(aws, front, tmp_path)  # bootstrap --bucket roles-issuer
    got = aws.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=made["OpenIDConnectProviderArn"])
    assert {t["Key"]: t["Value"] for t in got["Tags"]} == {"managed-by": "terraform"}
    down = invoke("teardown", "--issuer-url", irsa.ISSUER, "--bucket", irsa.BUCKET, "--yes", "-o", "json")
    assert down.exit_code == 0, down.stderr
    assert f"kept the IAM provider {irsa.PROVIDER}: it is not tagged managed-by=oidc-publisher" in down.json()["notes"]
    assert [p["Arn"] for p in aws.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]] == [irsa.PROVIDER]


def test_the_mark_and_wildcard_audiences_are_refused_before_any_aws_call(aws: AwsWorld) -> None:
    cases = {
        ("--tag", "managed-by=oidc-publisher"): (
            "error: tag key 'managed-by' is reserved for oidc-publisher's own records; "
            "choose another key: the tool sets managed-by only when it creates a provider or role"
        ),
        ("--tag", "oidc-publisher:issuer=x"): (
            "error: tag key 'oidc-publisher:issuer' is reserved for oidc-publisher's own records; "
            "choose another key: the tool sets managed-by only when it creates a provider or role"
        ),
        ("--client-id", "*"): "error: --client-id '*' would accept any audience; give the audience the tokens carry, e.g. --client-id sts.amazonaws.com",
        ("--client-id", "sts.amazonaws.com", "--client-id", ""): (
            "error: --client-id '' would accept any audience; give the audience the tokens carry, e.g. --client-id sts.amazonaws.com"
        ),
    }
    for command in ("register", "bootstrap"):
        extra = ("--bucket", "some-bucket", "--public-key", "/nonexistent.pub") if command == "bootstrap" else ()
        for args, message in cases.items():
            for dry in ((), ("--dry-run",)):
                result = invoke(command, "--issuer-url", ISSUER, "--no-thumbprint", *extra, *args, *dry)
                assert (result.exit_code, result.stderr.strip()) == (2, message), (command, args, dry)  # bad input
    assert aws.recorder.calls == []


def test_input_errors_are_one_line_and_touch_nothing(aws: AwsWorld) -> None:
    cases = {
        (
            "--thumbprint",
            "a" * 40,
            "--no-thumbprint",
        ): "error: --thumbprint and --no-thumbprint were both given; give one of them",
        ("--no-thumbprint", "--client-id", "has space"): (
            "error: client ID 'has space' is not valid; a client ID is 1-255 characters without spaces, e.g. sts.amazonaws.com"
        ),
        ("--no-thumbprint", "--tag", "k=" + "v" * 257): (
            f"error: tag value '{'v' * 257}' (for k) is not valid for IAM; use up to 256 letters, digits, spaces and _.:/=+-@"
        ),
        ("--no-thumbprint", "--tag", "k" * 129 + "=v"): (
            f"error: tag key '{'k' * 129}' is not valid for IAM; use 1-128 letters, digits, spaces and _.:/=+-@, not starting with aws:"
        ),
    }
    for args, message in cases.items():
        result = invoke("register", "--issuer-url", ISSUER, *args)
        assert (result.exit_code, result.stderr.strip()) == (2, message), args
    assert invoke("register", "--issuer-url", "http://oidc.example.com").exit_code == 2
    assert aws.recorder.calls == []


def test_unreachable_issuer_host_is_a_clear_error_before_any_aws_call(
    aws: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setenv("OIDC_PUBLISHER_CONNECT_TO", f"{HOST}:443:127.0.0.1:{port}")
    result = invoke("register", "--issuer-url", ISSUER)
    assert (result.exit_code, result.stderr.strip()) == (
        1,
        f"error: connection to {HOST} (via 127.0.0.1:{port}) refused; check the host serves HTTPS on port {port}",
    )
    assert aws.recorder.calls == []


# --- faults: every IAM call of register, on the create path and on the converge path ---------------

FAULTS: dict[str, dict[str, Any]] = {
    "500": {"kind": "error", "status": 500, "code": "InternalError"},
    "throttle": {"kind": "error", "status": 400, "code": "Throttling"},
    "timeout": {"kind": "timeout", "status": 0, "code": "", "hold": 1.5},
    "drop": {"kind": "drop", "status": 0, "code": ""},
    "lost-reply": {"kind": "lost-reply", "status": 0, "code": ""},  # done by IAM, the answer lost
}
CREATE = [("iam", "ListOpenIDConnectProviders"), ("iam", "CreateOpenIDConnectProvider")]
CONVERGE = [
    *READS,
    ("iam", "AddClientIDToOpenIDConnectProvider"),
    ("iam", "UpdateOpenIDConnectProviderThumbprint"),
]


def fault(name: str) -> dict[str, Any]:
    spec = dict(FAULTS[name])
    code = spec.pop("code")
    spec["body"] = f"<Error><Code>{code}</Code><Message>injected by the test</Message></Error>".encode()
    spec.setdefault("hold", 0)
    return spec


@pytest.fixture
def faulty(aws: AwsWorld, hosts: Hosts, monkeypatch: pytest.MonkeyPatch) -> Chain:
    monkeypatch.setenv("OIDC_PUBLISHER_AWS_TIMEOUT", "1")
    return hosts()[HOST]


def start(aws: AwsWorld, path: str) -> None:
    import requests

    requests.post(f"{aws.moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    aws.proxy.positional = None  # type: ignore[assignment]  # no positional fault pending
    if path == "converge":
        seed(aws, ["other"], [STALE])
    aws.recorder.reset()


def converged(aws: AwsWorld, chain: Chain, path: str) -> None:
    got = state(aws)
    assert got["arns"] == [ARN]
    assert got["client_ids"] == (["other", "sts.amazonaws.com"] if path == "converge" else ["sts.amazonaws.com"])
    assert got["thumbprints"] == [chain.expected_thumbprint]
    # Created here: marked by the create call. Made elsewhere (seeded without tags): never marked.
    assert got["tags"] == ({} if path == "converge" else {"managed-by": "oidc-publisher"})


@pytest.mark.parametrize("path", ["create", "converge"])
@pytest.mark.parametrize("name", list(FAULTS))
def test_one_fault_on_any_call_is_retried(aws: AwsWorld, faulty: Chain, name: str, path: str) -> None:
    calls = CREATE if path == "create" else CONVERGE
    start(aws, path)
    assert invoke("register", "--issuer-url", ISSUER).exit_code == 0
    assert aws.recorder.calls == calls
    for index, call in enumerate(calls):
        start(aws, path)
        aws.proxy.fail_call(index, fault(name), times=1)
        result = invoke("register", "--issuer-url", ISSUER, "-o", "json")
        where = f"{name} on {call[1]}"
        assert result.exit_code == 0, (where, result.stderr)
        assert result.json()["provider_arn"] == ARN, where
        assert aws.recorder.calls.count(call) >= 2, (where, aws.recorder.calls)  # the failed attempt, then the retry
        converged(aws, faulty, path)
        aws.recorder.reset()
        assert invoke("register", "--issuer-url", ISSUER).exit_code == 0
        assert aws.recorder.calls == READS, where


def persistent_message(name: str, call: tuple[str, str], endpoint: str) -> str:
    action = f"iam:{call[1]}"
    where = (
        ""
        if call[1] == "ListOpenIDConnectProviders"
        else f" on {f'{HOST}/cluster-a' if call[1] == 'CreateOpenIDConnectProvider' else ARN}"
    )
    if name == "500":
        return f"error: {action}{where} failed (InternalError: injected by the test); AWS kept failing after retries: re-run later (the next run converges)"
    if name == "throttle":
        return f"error: {action}{where} failed (Throttling: injected by the test); AWS kept throttling after retries: re-run in a minute (the next run converges)"
    if name == "drop":
        return (
            f"error: {action}{where} failed: could not connect to the AWS endpoint ({endpoint}/); "
            "check the network, proxies and AWS_ENDPOINT_URL, then re-run"
        )
    return f"error: {action}{where} timed out after retries; check the network path to AWS and re-run"


@pytest.mark.slow
@pytest.mark.parametrize("path", ["create", "converge"])
@pytest.mark.parametrize("name", ["500", "throttle", "drop", "timeout"])
def test_a_persistent_fault_fails_clearly_and_the_next_run_converges(
    aws: AwsWorld, faulty: Chain, name: str, path: str
) -> None:
    calls = CREATE if path == "create" else CONVERGE
    # Standard mode backs off for up to ~15 s over five attempts; the reads are where a fault is most
    # likely, the writes where it matters most: each is failed for good with a 500, the slower faults
    # on the first write of each path.
    indexes = range(len(calls)) if name == "500" else [1 if path == "create" else 2]
    for index in indexes:
        call = calls[index]
        start(aws, path)
        aws.proxy.fail_call(index, fault(name), times=MAX_ATTEMPTS)
        result = invoke("register", "--issuer-url", ISSUER)
        where = f"{name} x{MAX_ATTEMPTS} on {call[1]}"
        assert result.exit_code == 1, where
        assert result.stderr.strip() == persistent_message(name, call, aws.endpoint), where
        assert aws.recorder.calls.count(call) == MAX_ATTEMPTS, (where, aws.recorder.calls)
        assert ("iam", "DeleteOpenIDConnectProvider") not in aws.recorder.calls
        again = invoke("register", "--issuer-url", ISSUER)
        assert again.exit_code == 0, (where, again.stderr)
        converged(aws, faulty, path)
        aws.recorder.reset()
        assert invoke("register", "--issuer-url", ISSUER).exit_code == 0
        assert aws.recorder.calls == READS, where
