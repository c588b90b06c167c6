"""``audit`` against moto's server: a seeded set of good and bad roles, flagged exactly."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oidc_publisher.core.trust import (
    Finding,
    audit_role,
    federated_statements,
    open_principal,
    subject_matches,
    trusting,
)
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.irsa import ACCOUNT, HOST, ISSUER, PROVIDER, READONLY, seed_issuer, trust
from tests.support.kube_api import KubeAPI
from tests.support.motoserver import AwsWorld

AUD = {f"{HOST}:aud": "sts.amazonaws.com"}


def sub(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


@pytest.fixture
def issuer(aws: AwsWorld, front: Front, tmp_path: Path) -> AwsWorld:
    return seed_issuer(aws, front, tmp_path)


def seed_roles(world: AwsWorld) -> None:
    """Good roles, bad roles, and roles that have nothing to do with this issuer."""
    iam = world.client("iam")

    def role(name: str, document: str) -> None:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=document)

    role("good", trust({"StringEquals": {**AUD, f"{HOST}:sub": sub("default", "app")}}))
    role("good-foranyvalue", trust({"ForAnyValue:StringEquals": {**AUD, f"{HOST}:sub": [sub("default", "app")]}}))
    role("no-sub", trust({"StringEquals": AUD}))
    role("wild", trust({"StringEquals": AUD, "StringLike": {f"{HOST}:sub": sub("default", "*")}}))
    role("like-exact", trust({"StringEquals": AUD, "StringLike": {f"{HOST}:sub": sub("default", "app")}}))
    role("no-aud", trust({"StringEquals": {f"{HOST}:sub": sub("default", "app")}}))
    role("other-aud", trust({"StringEquals": {f"{HOST}:aud": "my-webhook", f"{HOST}:sub": sub("default", "app")}}))
    role("shared", trust({"StringEquals": {**AUD, f"{HOST}:sub": [sub("a", "x"), sub("b", "y")]}}))
    role("negated", trust({"StringEquals": AUD, "StringNotEquals": {f"{HOST}:sub": sub("kube-system", "default")}}))
    role("nothing", trust(None))
    role("wildcard-action", trust({"StringEquals": {**AUD, f"{HOST}:sub": sub("default", "app")}}, action="sts:AssumeRoleWith*"))
    two = json.loads(trust({"StringEquals": {**AUD, f"{HOST}:sub": sub("a", "x")}}))
    two["Statement"].append({**two["Statement"][0], "Condition": {"StringEquals": {**AUD, f"{HOST}:sub": sub("b", "y")}}})
    role("two-statements", json.dumps(two))
    # Not this issuer's: another service, another provider, a web identity of another host with our host as prefix.
    role("ec2", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    role("other-issuer", trust({"StringEquals": {"other.example.com:sub": sub("default", "app")}},
                               federated=f"arn:aws:iam::{ACCOUNT}:oidc-provider/other.example.com"))
    role("longer-path", trust(None, federated=f"{PROVIDER}/extra"))
    role("denied", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity"}]}))


EXPECTED = [
    ("like-exact", "wildcard subject"),
    ("negated", "no :sub condition"),
    ("no-aud", "no :aud condition"),
    ("no-sub", "no :sub condition"),
    ("nothing", "no :aud condition"),
    ("nothing", "no :sub condition"),
    ("other-aud", "unexpected audience"),
    ("shared", "shared by several service accounts"),
    ("two-statements", "shared by several service accounts"),
    ("wild", "wildcard subject"),
]


def findings(body: dict[str, object]) -> list[tuple[str, str]]:
    return sorted((f["role"], f["finding"]) for f in body["findings"])  # type: ignore[attr-defined]


def test_audit_flags_exactly_the_bad_roles(issuer: AwsWorld) -> None:
    seed_roles(issuer)
    result = invoke("audit", "--issuer-url", ISSUER, "-o", "json")
    assert result.exit_code == 1, result.stderr
    body = result.json()
    assert body["provider_arn"] == PROVIDER
    assert body["roles"] == ["good", "good-foranyvalue", "like-exact", "negated", "no-aud", "no-sub", "nothing",
                             "other-aud", "shared", "two-statements", "wild", "wildcard-action"]
    assert findings(body) == EXPECTED
    severities = {(f["role"], f["finding"]): f["severity"] for f in body["findings"]}
    assert severities[("other-aud", "unexpected audience")] == "medium"
    assert severities[("shared", "shared by several service accounts")] == "medium"
    assert {severities[f] for f in EXPECTED if f[1] not in ("unexpected audience", "shared by several service accounts")} == {"high"}
    assert [f["detail"] for f in body["findings"] if f["role"] == "shared"] == [f"{sub('a', 'x')}, {sub('b', 'y')}"]
    assert issuer.recorder.writes == []
    assert invoke("audit", "--issuer-url", ISSUER, "--fail-on", "none").exit_code == 0
    text = invoke("audit", "--issuer-url", ISSUER)
    assert text.exit_code == 1
    assert text.stdout.startswith(f"12 roles trust {ISSUER}: good, good-foranyvalue, ")
    assert "ROLE" in text.stdout and "SEVERITY" in text.stdout
    assert text.stdout.rstrip().endswith("10 finding(s), 7 at or above --fail-on high.")


def test_fail_on_threshold(issuer: AwsWorld) -> None:
    iam = issuer.client("iam")
    iam.create_role(RoleName="good", AssumeRolePolicyDocument=trust({"StringEquals": {**AUD, f"{HOST}:sub": sub("default", "app")}}))
    assert invoke("audit", "--issuer-url", ISSUER).stdout.splitlines()[1] == "No findings."
    iam.create_role(RoleName="webhook-aud", AssumeRolePolicyDocument=trust(
        {"StringEquals": {f"{HOST}:aud": "my-webhook", f"{HOST}:sub": sub("default", "web")}}))
    assert invoke("audit", "--issuer-url", ISSUER).exit_code == 0  # medium < high
    assert invoke("audit", "--issuer-url", ISSUER, "--fail-on", "medium").exit_code == 1
    assert invoke("audit", "--issuer-url", ISSUER, "--fail-on", "low").exit_code == 1
    bad = invoke("audit", "--issuer-url", ISSUER, "--fail-on", "critical")
    assert bad.exit_code == 2
    assert "Invalid value for '--fail-on'" in " ".join(bad.stderr.split())


def test_roles_trusting_an_unregistered_provider(aws: AwsWorld) -> None:
    issuer = "https://gone.example.com/cluster"
    path = "gone.example.com/cluster"
    iam = aws.client("iam")
    iam.create_role(RoleName="orphan", AssumeRolePolicyDocument=trust(
        {"StringEquals": {f"{path}:aud": "sts.amazonaws.com", f"{path}:sub": sub("default", "app")}},
        federated=f"arn:aws:iam::{ACCOUNT}:oidc-provider/{path}"))
    result = invoke("audit", "--issuer-url", issuer, "-o", "json")
    assert result.exit_code == 1
    body = result.json()
    assert body["provider_arn"] is None
    assert [(f["role"], f["severity"], f["finding"], f["detail"]) for f in body["findings"]] == [(
        "orphan", "high", "provider not registered",
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/{path} is not a registered provider: the role can never be assumed")]
    assert "No IAM OIDC provider is registered for https://gone.example.com/cluster." in invoke("audit", "--issuer-url", issuer).stdout


def test_role_trusting_the_provider_of_another_account(issuer: AwsWorld) -> None:
    issuer.client("iam").create_role(RoleName="cross", AssumeRolePolicyDocument=trust(
        {"StringEquals": {**AUD, f"{HOST}:sub": sub("default", "app")}}, federated=f"arn:aws:iam::999999999999:oidc-provider/{HOST}"))
    body = invoke("audit", "--issuer-url", ISSUER, "-o", "json").json()
    assert findings(body) == [("cross", "provider not registered")]


def test_audit_cross_checks_the_cluster(issuer: AwsWorld, kube_api: KubeAPI, tmp_path: Path) -> None:
    seed_roles(issuer)
    # role create makes one correctly, and the cluster's ServiceAccount points at it.
    made = invoke("role", "create", "--issuer-url", ISSUER, "--namespace", "shop", "--service-account", "cart", "--policy-arn", READONLY, "-o", "json")
    assert made.exit_code == 0, made.stderr
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/"
    kube_api.issuer = ISSUER
    kube_api.service_accounts.update({
        ("shop", "cart"): {"eks.amazonaws.com/role-arn": made.json()["role_arn"]},
        ("default", "app"): {"eks.amazonaws.com/role-arn": f"{role_arn}gone"},
        ("default", "ec2ish"): {"eks.amazonaws.com/role-arn": f"{role_arn}ec2"},
        ("default", "wrong"): {"eks.amazonaws.com/role-arn": f"{role_arn}good"},
        ("default", "elsewhere"): {"eks.amazonaws.com/role-arn": "arn:aws:iam::999999999999:role/x"},
        ("a", "x"): {},
        ("kube-system", "default"): {},
    })
    config = kube_api.kubeconfig(tmp_path / "kubeconfig")
    result = invoke("audit", "--issuer-url", ISSUER, "--from-cluster", "--kubeconfig", str(config), "-o", "json")
    assert result.exit_code == 1, result.stderr
    body = result.json()
    cluster_only = sorted(set(findings(body)) - set(EXPECTED))
    assert cluster_only == [
        (f"{role_arn}ec2", "annotated role does not trust this issuer"),
        (f"{role_arn}gone", "annotated role does not exist"),
        ("good", "annotated role does not trust the service account"),
        ("shared", "trusts a service account that does not exist"),
        ("two-statements", "trusts a service account that does not exist"),
    ]
    missing = sorted((f["role"], f["detail"]) for f in body["findings"] if f["finding"] == "trusts a service account that does not exist")
    assert missing == [("shared", sub("b", "y")), ("two-statements", sub("b", "y"))]
    assert {f["severity"] for f in body["findings"] if f["finding"].startswith("annotated")} == {"high"}
    assert body["notes"] == ["default/elsewhere is annotated with arn:aws:iam::999999999999:role/x, a role of another account: not checked"]


def test_trust_policies_as_iam_sends_them_url_encoded() -> None:
    document = trust({"StringEquals": {f"{HOST}:sub": sub("default", "app")}})
    roles = [{"RoleName": "encoded", "Arn": f"arn:aws:iam::{ACCOUNT}:role/encoded", "AssumeRolePolicyDocument": urllib.parse.quote(document)},
             {"RoleName": "decoded", "Arn": f"arn:aws:iam::{ACCOUNT}:role/decoded", "AssumeRolePolicyDocument": json.loads(document)}]
    found = trusting(roles, HOST)
    assert [r.name for r in found] == ["decoded", "encoded"]
    assert found[0].statements == found[1].statements


def test_rules() -> None:
    statement = {"Condition": {"StringEqualsIgnoreCase": {f"{HOST.upper()}:SUB": sub("default", "app"), f"{HOST}:aud": "sts.amazonaws.com"}}}
    assert audit_role("r", statement, HOST) == []  # condition keys are case-insensitive in IAM
    assert audit_role("r", {"Condition": {"Null": {f"{HOST}:sub": "false", f"{HOST}:aud": "false"}}}, HOST) == [
        Finding("r", "high", "no :sub condition", "every service account of the cluster can assume this role"),
        Finding("r", "high", "no :aud condition", "a token minted for any audience of this issuer is accepted"),
    ]
    assert subject_matches("system:serviceaccount:*", sub("a", "b"))
    assert subject_matches("system:serviceaccount:a:jo?", sub("a", "job"))
    assert not subject_matches("system:serviceaccount:a:jo?", sub("a", "jobs"))
    assert not subject_matches("system:serviceaccount:a.b:x", sub("aab", "x"))


# --- every way in: open principals, NotAction, match-all audiences, literal '*' --------------------

PINNED = {"StringEquals": {**AUD, f"{HOST}:sub": sub("default", "app")}}
WEB = "sts:AssumeRoleWithWebIdentity"
OPEN_PRINCIPALS: list[dict[str, object]] = [
    {"Principal": "*"},
    {"Principal": {"AWS": "*"}},
    {"Principal": {"Federated": "*"}},
    {"Principal": {"AWS": ["arn:aws:iam::111122223333:root", "*"]}},
    {"NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}},
    {"NotPrincipal": {"Federated": PROVIDER}},  # every other provider's tokens
]


def statement(**fields: object) -> dict[str, object]:
    return {"Effect": "Allow", "Action": WEB, **fields}


@pytest.mark.parametrize("principal", OPEN_PRINCIPALS, ids=str)
def test_an_open_principal_is_high_even_when_pinned(principal: dict[str, object]) -> None:
    open_statement = statement(**principal, Condition=PINNED)
    assert federated_statements({"Statement": [open_statement]}, f":oidc-provider/{HOST}") == [open_statement]
    found = audit_role("r", open_statement, HOST)
    assert [(f.severity, f.finding) for f in found] == [("high", "any principal")]
    assert found[0].detail.endswith(f"with Action allowing {WEB}: a web identity token from any identity provider can assume this role")


def test_not_action_and_not_principal() -> None:
    suffix = f":oidc-provider/{HOST}"
    # NotAction that does not exclude the web identity action allows it.
    not_action = {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "NotAction": "sts:AssumeRole"}
    assert federated_statements({"Statement": not_action}, suffix) == [not_action]
    assert [f.finding for f in audit_role("r", not_action, HOST)] == ["no :sub condition", "no :aud condition"]
    wide = {"Effect": "Allow", "Principal": "*", "NotAction": "iam:*"}
    assert audit_role("r", wide, HOST)[0].detail.startswith(f'Principal "*" with NotAction allowing {WEB}')
    # ...and one that excludes it (or a pattern of it) does not.
    for excluded in (WEB, "sts:AssumeRoleWith*", "STS:*", "*"):
        assert federated_statements({"Statement": [{**not_action, "NotAction": [excluded]}]}, suffix) == [], excluded
    # A NotPrincipal naming every principal (or every federated one) lets no web identity in.
    for nobody in ("*", {"Federated": "*"}):
        assert open_principal({"NotPrincipal": nobody}) is None
    assert open_principal({"Principal": {"Federated": PROVIDER}}) is None
    # Deny statements and other actions are not ways in.
    assert federated_statements({"Statement": [{**statement(Principal="*"), "Effect": "Deny"}]}, suffix) == []
    assert federated_statements({"Statement": [statement(Principal="*", Action="sts:AssumeRole")]}, suffix) == []


def test_an_audience_that_matches_everything_is_no_audience() -> None:
    subject = {f"{HOST}:sub": sub("default", "app")}
    for match_all in ("*", "**", "?*"):
        found = audit_role("r", statement(Principal={"Federated": PROVIDER}, Condition={
            "StringEquals": subject, "StringLike": {f"{HOST}:aud": match_all}}), HOST)
        assert [(f.severity, f.finding) for f in found] == [("high", "no :aud condition")], match_all
    # A StringEquals '*' is a literal audience: pinned (to an odd value), not missing.
    literal = audit_role("r", statement(Principal={"Federated": PROVIDER}, Condition={"StringEquals": {**subject, f"{HOST}:aud": "*"}}), HOST)
    assert [(f.severity, f.finding) for f in literal] == [("medium", "unexpected audience")]


def test_a_star_in_string_equals_is_literal() -> None:
    literal = statement(Principal={"Federated": PROVIDER}, Condition={"StringEquals": {**AUD, f"{HOST}:sub": sub("default", "*")}})
    assert audit_role("r", literal, HOST) == []  # matches only a service account literally named '*': none can be
    like = statement(Principal={"Federated": PROVIDER}, Condition={"StringEquals": AUD, "StringLike": {f"{HOST}:sub": sub("default", "*")}})
    assert [f.finding for f in audit_role("r", like, HOST)] == ["wildcard subject"]


CONDITIONS = st.sampled_from([None, PINNED, {"StringEquals": AUD}, {"StringLike": {f"{HOST}:aud": "*", f"{HOST}:sub": "*"}}])


@settings(max_examples=200, deadline=None)
@given(principal=st.sampled_from(OPEN_PRINCIPALS), condition=CONDITIONS, pinned_first=st.booleans(),
       not_action=st.booleans())
def test_property_an_open_statement_is_found_whatever_stands_beside_it(
    principal: dict[str, object], condition: dict[str, object] | None, pinned_first: bool, not_action: bool
) -> None:
    pinned = statement(Principal={"Federated": PROVIDER}, Condition=PINNED)
    open_statement = {"Effect": "Allow", **principal, **({"NotAction": "iam:*"} if not_action else {"Action": WEB})}
    if condition is not None:
        open_statement["Condition"] = condition
    document = {"Statement": [pinned, open_statement] if pinned_first else [open_statement, pinned]}
    found = [f for s in federated_statements(document, f":oidc-provider/{HOST}") for f in audit_role("r", s, HOST)]
    assert ("high", "any principal") in [(f.severity, f.finding) for f in found]


def test_audit_sees_every_way_in(issuer: AwsWorld) -> None:
    iam = issuer.client("iam")
    pinned = json.loads(trust(PINNED))["Statement"][0]

    def role(name: str, *statements: dict[str, object]) -> None:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))

    role("good", pinned)
    role("pinned-plus-star", pinned, statement(Principal="*"))
    role("aws-star", statement(Principal={"AWS": "*"}, Condition=PINNED))
    role("federated-star", statement(Principal={"Federated": "*"}))
    role("not-action", {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "NotAction": "sts:AssumeRole"})
    role("not-principal", {"Effect": "Allow", "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": WEB})
    role("aud-anything", {**pinned, "Condition": {"StringEquals": {f"{HOST}:sub": sub("default", "app")}, "StringLike": {f"{HOST}:aud": "*"}}})
    role("literal-star", {**pinned, "Condition": {"StringEquals": {**AUD, f"{HOST}:sub": sub("default", "*")}}})
    issuer.recorder.reset()
    result = invoke("audit", "--issuer-url", ISSUER, "-o", "json")
    assert result.exit_code == 1, result.stderr
    body = result.json()
    assert body["roles"] == ["aud-anything", "aws-star", "federated-star", "good", "literal-star", "not-action", "not-principal", "pinned-plus-star"]
    assert sorted((f["role"], f["severity"], f["finding"]) for f in body["findings"]) == [
        ("aud-anything", "high", "no :aud condition"),
        ("aws-star", "high", "any principal"),
        ("federated-star", "high", "any principal"),
        ("federated-star", "high", "no :aud condition"),
        ("federated-star", "high", "no :sub condition"),
        ("not-action", "high", "no :aud condition"),
        ("not-action", "high", "no :sub condition"),
        ("not-principal", "high", "any principal"),
        ("not-principal", "high", "no :aud condition"),
        ("not-principal", "high", "no :sub condition"),
        ("pinned-plus-star", "high", "any principal"),
        ("pinned-plus-star", "high", "no :aud condition"),
        ("pinned-plus-star", "high", "no :sub condition"),
    ]
    assert [f["detail"] for f in body["findings"] if f["role"] == "aws-star"] == [
        f'Principal {{"AWS": "*"}} with Action allowing {WEB}: a web identity token from any identity provider can assume this role']
    assert issuer.recorder.writes == []
    # The pinned role alone: no findings, exit 0.
    for name in body["roles"]:
        if name != "good":
            iam.delete_role(RoleName=name)
    alone = invoke("audit", "--issuer-url", ISSUER)
    assert (alone.exit_code, alone.stdout.splitlines()[1]) == (0, "No findings.")


def test_the_findings_table_never_breaks_an_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a narrow terminal the table wraps between words: every ARN stays whole on one line, to copy."""
    from oidc_publisher.commands.audit import AuditReport
    from oidc_publisher.core.trust import Finding

    monkeypatch.setenv("COLUMNS", "60")
    role = "arn:aws:iam::123456789012:role/platform/payments-api-irsa-with-a-long-name"
    provider = "arn:aws:iam::123456789012:oidc-provider/oidc.example.com/clusters/production-eu-west-1"
    report = AuditReport(
        issuer="https://oidc.example.com", provider_arn=None, roles=["short"], fail_on="high",
        findings=[Finding(role, "high", "annotated role does not exist", "payments/api is annotated with it"),
                  Finding("short", "high", "provider not registered", f"{provider} is not a registered provider: the role "
                          "can never be assumed")],
    )
    lines = report.to_text().splitlines()
    assert any(role in line for line in lines)
    assert any(provider in line for line in lines)
