"""``role create`` and ``role trust-policy`` against moto's server: what lands in IAM, field by field."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest

from oidc_publisher.commands.role import policy_document
from oidc_publisher.core.issuer import parse_issuer
from oidc_publisher.core.trust import default_role_name, detachable, legacy_role_name, other_issuer, policy_digest
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.irsa import ACCOUNT, HANDMADE, HOST, ISSUER, PROVIDER, READONLY, WRITER, seed_issuer
from tests.support.motoserver import AwsWorld

ROLE = "irsa-roles-issuer-payments-api-14e17a13"  # readable part + a hash of the provider path, namespace and name
BASE = ("role", "create", "--issuer-url", ISSUER, "--namespace", "payments", "--service-account", "api")


@pytest.fixture
def issuer(aws: AwsWorld, front: Front, tmp_path: Path) -> AwsWorld:
    return seed_issuer(aws, front, tmp_path)


def tags_of(world: AwsWorld, name: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in world.client("iam").get_role(RoleName=name)["Role"].get("Tags", [])}


def attached(world: AwsWorld, name: str) -> list[str]:
    return sorted(p["PolicyArn"] for p in world.client("iam").list_attached_role_policies(RoleName=name)["AttachedPolicies"])


def test_role_create_pins_sub_and_aud(issuer: AwsWorld) -> None:
    result = invoke(*BASE, "--policy-arn", READONLY, "--max-session-duration", "7200", "--tag", "team=payments", "-o", "json")
    assert result.exit_code == 0, result.stderr
    body = result.json()
    assert body["role_name"] == ROLE
    role = issuer.client("iam").get_role(RoleName=ROLE)["Role"]
    document = role["AssumeRolePolicyDocument"]
    assert document["Version"] == "2012-10-17"
    [statement] = document["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": PROVIDER}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {f"{HOST}:aud": "sts.amazonaws.com", f"{HOST}:sub": "system:serviceaccount:payments:api"}
    }
    assert role["MaxSessionDuration"] == 7200
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/{ROLE}" == body["role_arn"]
    assert tags_of(issuer, ROLE) == {
        "team": "payments", "managed-by": "oidc-publisher", "oidc-publisher:issuer": ISSUER,
        "kubernetes.io/namespace": "payments", "kubernetes.io/service-account": "api",
        "oidc-publisher:attached": policy_digest(READONLY),
    }
    assert attached(issuer, ROLE) == [READONLY]
    assert body["service_account_manifest"] == (
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: api\n  namespace: payments\n  annotations:\n"
        f'    eks.amazonaws.com/role-arn: "{role["Arn"]}"\n'
    )
    # Idempotent: the same command again reads, and writes nothing.
    issuer.recorder.reset()
    again = invoke(*BASE, "--policy-arn", READONLY, "--max-session-duration", "7200", "--tag", "team=payments")
    assert again.exit_code == 0, again.stderr
    assert again.stdout.startswith(f"No changes: everything is up to date.\nRole: {role['Arn']}\n")
    assert issuer.recorder.writes == []
    assert ("iam", "GetOpenIDConnectProvider") in issuer.recorder.calls


def test_role_converges_a_loosened_trust_policy(issuer: AwsWorld, tmp_path: Path) -> None:
    policy = k.write(tmp_path / "policy.json", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"}]}).encode())
    args = [*BASE, "--policy-file", str(policy)]
    assert invoke(*args).exit_code == 0
    iam = issuer.client("iam")
    loose = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity"}]}
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(loose))
    issuer.recorder.reset()
    dry = invoke(*args, "--dry-run", "-o", "json")
    assert dry.exit_code == 3
    # --output json shows the operation each step makes (issue 13): the call and the pinned document.
    assert dry.json()["changes"] == [{"resource": f"iam:role/{ROLE}", "action": "update", "reason": "trust policy differs from the pinned one",
                                      "operation": {"call": "iam:UpdateAssumeRolePolicy", "params": {
                                          "RoleName": ROLE, "PolicyDocument": dry.json()["trust_policy"]}}}]
    assert issuer.recorder.writes == []
    fixed = invoke(*args, "-o", "json")
    assert fixed.exit_code == 0
    assert issuer.recorder.writes == [("iam", "UpdateAssumeRolePolicy")]
    statement = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Condition"] == {
        "StringEquals": {f"{HOST}:aud": "sts.amazonaws.com", f"{HOST}:sub": "system:serviceaccount:payments:api"}
    }
    inline = iam.get_role_policy(RoleName=ROLE, PolicyName="oidc-publisher")["PolicyDocument"]
    assert inline["Statement"][0]["Action"] == "s3:GetObject"
    # The same trust policy written with another key order and a one-element list is not a difference.
    same = {"Statement": [{"Condition": {"StringEquals": {f"{HOST}:sub": "system:serviceaccount:payments:api",
                                                          f"{HOST}:aud": "sts.amazonaws.com"}},
                           "Action": ["sts:AssumeRoleWithWebIdentity"], "Principal": {"Federated": PROVIDER}, "Effect": "Allow"}],
            "Version": "2012-10-17"}
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(same))
    issuer.recorder.reset()
    assert invoke(*args).exit_code == 0
    assert issuer.recorder.writes == []


def test_role_converges_policies_boundary_and_duration(issuer: AwsWorld, tmp_path: Path) -> None:
    iam = issuer.client("iam")
    assert invoke(*BASE, "--policy-arn", READONLY, "--policy-arn", WRITER).exit_code == 0
    assert attached(issuer, ROLE) == [READONLY, WRITER]
    iam.attach_role_policy(RoleName=ROLE, PolicyArn=HANDMADE)  # by hand: never ours to detach
    issuer.recorder.reset()
    result = invoke(*BASE, "--policy-arn", READONLY, "--max-session-duration", "7200", "--permissions-boundary", HANDMADE, "-o", "json")
    assert result.exit_code == 0, result.stderr
    body = result.json()
    assert [c["reason"] for c in body["changes"]] == [
        "max session duration 7200s",
        f"permissions boundary {HANDMADE}",
        f"detach {WRITER} (attached by an earlier run, no longer asked for)",
        "tags oidc-publisher:attached",
    ]
    assert body["notes"] == [f"kept attached policies this tool did not attach: {HANDMADE} (detach them by hand if unwanted)"]
    assert attached(issuer, ROLE) == [HANDMADE, READONLY]
    role = iam.get_role(RoleName=ROLE)["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == HANDMADE
    assert role["MaxSessionDuration"] == 7200
    assert tags_of(issuer, ROLE)["oidc-publisher:attached"] == policy_digest(READONLY)
    # From managed policies to an inline one: the tool's attachment goes, the hand-made one stays.
    inline = k.write(tmp_path / "inline.json", b'{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}')
    assert invoke(*BASE, "--policy-file", str(inline)).exit_code == 0
    assert attached(issuer, ROLE) == [HANDMADE]
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == ["oidc-publisher"]
    # And back: the inline policy the tool wrote goes.
    back = invoke(*BASE, "--policy-arn", READONLY, "-o", "json")
    assert "delete inline policy oidc-publisher (written by an earlier run with --policy-file, no longer asked for)" in [
        c["reason"] for c in back.json()["changes"]]
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == []
    assert attached(issuer, ROLE) == [HANDMADE, READONLY]
    issuer.recorder.reset()
    assert invoke(*BASE, "--policy-arn", READONLY).exit_code == 0
    assert issuer.recorder.writes == []


def test_dry_run_of_a_new_role_writes_nothing(issuer: AwsWorld, tmp_path: Path) -> None:
    out = tmp_path / "sa.yaml"
    dry = invoke(*BASE, "--policy-arn", READONLY, "--out", str(out), "--dry-run", "-o", "json")
    assert dry.exit_code == 3, dry.stderr
    assert [(c["action"], c["reason"]) for c in dry.json()["changes"]] == [
        ("create", "trust pinned to payments/api and audience sts.amazonaws.com"),
        ("update", f"attach {READONLY}"),
    ]
    assert issuer.recorder.writes == []
    assert not out.exists()
    assert [r["RoleName"] for r in issuer.client("iam").list_roles()["Roles"]] == []
    real = invoke(*BASE, "--policy-arn", READONLY, "--out", str(out))
    assert real.exit_code == 0, real.stderr
    assert f"Wrote the ServiceAccount manifest to {out}" in real.stdout
    assert out.read_text() == (
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: api\n  namespace: payments\n  annotations:\n"
        f'    eks.amazonaws.com/role-arn: "arn:aws:iam::{ACCOUNT}:role/{ROLE}"\n'
    )
    assert invoke(*BASE, "--policy-arn", READONLY, "--dry-run").exit_code == 0


def test_dry_run_shows_each_step_as_the_call_a_real_run_makes(issuer: AwsWorld) -> None:
    """--dry-run prints the plan; with --output json each step carries its operation, and the real run
    sends exactly those calls, in that order."""
    text = invoke(*BASE, "--policy-arn", READONLY, "--tag", "team=payments", "--dry-run")
    assert (text.exit_code, text.stdout.splitlines()[:3]) == (3, [
        "Would change:",
        f"  create     iam:role/{ROLE}: trust pinned to payments/api and audience sts.amazonaws.com",
        f"  update     iam:role/{ROLE}: attach {READONLY}",
    ])
    dry = invoke(*BASE, "--policy-arn", READONLY, "--tag", "team=payments", "--dry-run", "-o", "json")
    create, attach = (c["operation"] for c in dry.json()["changes"])
    assert create["call"] == "iam:CreateRole"
    assert create["params"]["RoleName"] == ROLE
    assert create["params"]["AssumeRolePolicyDocument"] == dry.json()["trust_policy"]
    assert {t["Key"]: t["Value"] for t in create["params"]["Tags"]} == {
        "team": "payments", "managed-by": "oidc-publisher", "oidc-publisher:issuer": ISSUER,
        "kubernetes.io/namespace": "payments", "kubernetes.io/service-account": "api",
        "oidc-publisher:attached": policy_digest(READONLY),
    }
    assert attach == {"call": "iam:AttachRolePolicy", "params": {"RoleName": ROLE, "PolicyArn": READONLY}}
    assert issuer.recorder.writes == []
    assert invoke(*BASE, "--policy-arn", READONLY, "--tag", "team=payments").exit_code == 0
    assert issuer.recorder.writes == [("iam", "CreateRole"), ("iam", "AttachRolePolicy")]
    assert tags_of(issuer, ROLE) == {t["Key"]: t["Value"] for t in create["params"]["Tags"]}


def test_role_refusals(issuer: AwsWorld, tmp_path: Path) -> None:
    def refused(*args: str) -> tuple[int, str]:
        result = invoke(*args)
        return result.exit_code, result.stderr.strip()

    base = ["role", "create", "--issuer-url", ISSUER, "--namespace", "default"]
    assert refused(*base, "--service-account", "*", "--policy-arn", READONLY) == (
        2, "error: service account '*' is a wildcard; a wildcard lets every matching service account assume the role; "
           "add --allow-wildcard if you mean it")
    assert refused(*base, "--service-account", "app") == (
        2, "error: give --policy-arn (repeatable), --policy-file, or both; they say what the role may do")
    not_json = k.write(tmp_path / "nope.json", b"Version: 2012-10-17")
    assert refused(*base, "--service-account", "app", "--policy-file", str(not_json), "--policy-arn", READONLY) == (
        2, f"error: policy file {not_json} is not JSON; give an IAM policy document")
    assert refused(*base, "--service-account", "app", "--policy-file", str(not_json)) == (
        2, f"error: policy file {not_json} is not JSON; give an IAM policy document")
    no_version = k.write(tmp_path / "bad.json", b'{"Statement": []}')
    assert refused(*base, "--service-account", "app", "--policy-file", str(no_version)) == (
        2, f"error: policy file {no_version} is not an IAM policy document (no Version/Statement); "
           'write it like {"Version": "2012-10-17", "Statement": [...]}')
    assert refused(*base, "--service-account", "App_1", "--policy-arn", READONLY) == (
        2, "error: service account 'App_1' is not a valid Kubernetes name; use lower-case letters, digits and '-'")
    assert refused("role", "create", "--issuer-url", ISSUER, "--namespace", "a.b", "--service-account", "app", "--policy-arn", READONLY) == (
        2, "error: namespace 'a.b' is not a valid Kubernetes name; use lower-case letters, digits and '-'")
    assert refused(*base, "--service-account", "app", "--policy-arn", "ReadOnlyAccess") == (
        2, "error: 'ReadOnlyAccess' is not an IAM policy ARN; e.g. arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert refused("role", "create", "--issuer-url", "https://other.example.com", "--namespace", "default",
                   "--service-account", "app", "--policy-arn", READONLY) == (
        1, "error: no IAM OIDC provider is registered for https://other.example.com; "
           "register it first: oidc-publisher register --issuer-url https://other.example.com (or bootstrap)")
    issuer.client("iam").create_role(RoleName="theirs", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    issuer.recorder.reset()
    assert refused(*base, "--service-account", "app", "--policy-arn", READONLY, "--role-name", "theirs") == (
        1, "error: role theirs exists and was not created by oidc-publisher (no managed-by=oidc-publisher tag); "
           "choose another --role-name, or tag the role managed-by=oidc-publisher to let the tool manage it")
    assert issuer.recorder.writes == []
    assert issuer.client("iam").get_role(RoleName="theirs")["Role"]["AssumeRolePolicyDocument"]["Statement"] == []


def test_a_policy_that_does_not_exist_is_refused_before_any_write(issuer: AwsWorld) -> None:
    """A mistyped ARN (IAM's answer is NoSuchEntity) must not leave a role behind with its trust and no permissions."""
    typo = f"arn:aws:iam::{ACCOUNT}:policy/read-onyl"
    result = invoke(*BASE, "--policy-arn", READONLY, "--policy-arn", typo)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", (
        f"error: --policy-arn {typo}: no such policy in IAM; check the ARN (AWS managed policies are "
        "arn:aws:iam::aws:policy/NAME; yours have your account ID)\n"))
    assert issuer.recorder.operations("iam").count("GetPolicy") == 2
    assert issuer.recorder.writes == []
    assert issuer.client("iam").list_roles()["Roles"] == []
    dry = invoke(*BASE, "--policy-arn", typo, "--dry-run")
    assert dry.exit_code == 2 and dry.stderr.startswith(f"error: --policy-arn {typo}: no such policy in IAM")
    boundary = invoke(*BASE, "--policy-arn", READONLY, "--permissions-boundary", typo)
    assert (boundary.exit_code, boundary.stderr.splitlines()[0]) == (2, f"error: --permissions-boundary {typo}: no such policy in IAM; "
                                                                         "check the ARN (AWS managed policies are arn:aws:iam::aws:policy/NAME; "
                                                                         "yours have your account ID)")
    assert issuer.recorder.writes == []
    # On an existing role, only what is about to be attached is looked up: a converged role costs no extra read.
    assert invoke(*BASE, "--policy-arn", READONLY).exit_code == 0
    issuer.recorder.reset()
    assert invoke(*BASE, "--policy-arn", READONLY).exit_code == 0
    assert ("iam", "GetPolicy") not in issuer.recorder.calls
    again = invoke(*BASE, "--policy-arn", READONLY, "--policy-arn", typo)
    assert again.exit_code == 2 and issuer.recorder.writes == []
    assert attached(issuer, ROLE) == [READONLY]


def test_an_unwritable_out_is_refused_before_any_aws_call(issuer: AwsWorld, tmp_path: Path) -> None:
    """The manifest is written last: a bad --out found only then would leave IAM changed and the command failed."""
    a_file = k.write(tmp_path / "a-file", b"x")
    for out, message in (
        (tmp_path, f"error: --out {tmp_path} is a directory; give the file to write the ServiceAccount manifest to, "
                   f"e.g. {tmp_path / 'api-serviceaccount.yaml'}"),
        (a_file / "sa.yaml", f"error: --out {a_file / 'sa.yaml'}: {a_file} is not a directory; check the path"),
    ):
        result = invoke(*BASE, "--policy-arn", READONLY, "--out", str(out))
        assert (result.exit_code, result.stdout, result.stderr) == (2, "", message + "\n")
    assert issuer.recorder.calls == []
    assert issuer.client("iam").list_roles()["Roles"] == []


def test_wildcard_only_with_the_flag(issuer: AwsWorld, tmp_path: Path) -> None:
    base = ["role", "create", "--issuer-url", ISSUER, "--namespace", "batch", "--service-account", "job-*", "--policy-arn", READONLY]
    out = invoke(*base, "--allow-wildcard", "--out", str(tmp_path / "x.yaml"))
    assert (out.exit_code, out.stderr.splitlines()[-1]) == (
        2, "error: --out writes one ServiceAccount, and a wildcard matches many; annotate the matching ServiceAccounts yourself")
    allowed = invoke(*base, "--allow-wildcard", "--role-name", "batch-jobs", "-o", "json")
    assert allowed.exit_code == 0, allowed.stderr
    assert allowed.stderr == ("warning: the trust policy matches every service account like batch:job-* (StringLike): "
                              "each of them can assume the role\n")
    condition = issuer.client("iam").get_role(RoleName="batch-jobs")["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert condition == {"StringEquals": {f"{HOST}:aud": "sts.amazonaws.com"},
                         "StringLike": {f"{HOST}:sub": "system:serviceaccount:batch:job-*"}}
    body = allowed.json()
    assert body["service_account_manifest"] == ""
    assert body["notes"] == [f"annotate each ServiceAccount the pattern matches with eks.amazonaws.com/role-arn: arn:aws:iam::{ACCOUNT}:role/batch-jobs"]
    assert tags_of(issuer, "batch-jobs")["kubernetes.io/service-account"] == "job-ANY"


def test_custom_audience(issuer: AwsWorld) -> None:
    result = invoke(*BASE, "--policy-arn", READONLY, "--audience", "irsa.example.com", "-o", "json")
    assert result.exit_code == 0, result.stderr
    condition = issuer.client("iam").get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert condition["StringEquals"][f"{HOST}:aud"] == "irsa.example.com"
    assert result.json()["service_account_manifest"].endswith(
        f'    eks.amazonaws.com/role-arn: "arn:aws:iam::{ACCOUNT}:role/{ROLE}"\n'
        '    eks.amazonaws.com/audience: "irsa.example.com"\n')


def test_trust_policy_prints_just_the_json(aws: AwsWorld) -> None:
    # No provider registered: the ARN comes from the session's partition and account, and IAM is not called.
    result = invoke("role", "trust-policy", "--issuer-url", "https://issuer.example.com/cluster-1", "--namespace", "ns", "--service-account", "sa")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    path = "issuer.example.com/cluster-1"
    assert json.loads(result.stdout) == {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{path}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{path}:aud": "sts.amazonaws.com", f"{path}:sub": "system:serviceaccount:ns:sa"}},
    }]}
    assert [service for service, _ in aws.recorder.calls] == ["sts"]
    wild = invoke("role", "trust-policy", "--issuer-url", "https://issuer.example.com", "--namespace", "*", "--service-account", "sa")
    assert (wild.exit_code, wild.stderr.splitlines()[-1]) == (
        2, "error: namespace '*' is a wildcard; a wildcard lets every matching service account assume the role; add --allow-wildcard if you mean it")
    allowed = invoke("role", "trust-policy", "--issuer-url", "https://issuer.example.com", "--namespace", "*", "--service-account", "sa",
                     "--allow-wildcard")
    assert allowed.exit_code == 0
    assert allowed.stderr.startswith("warning: the trust policy matches every service account like *:sa")
    assert json.loads(allowed.stdout)["Statement"][0]["Condition"]["StringLike"] == {"issuer.example.com:sub": "system:serviceaccount:*:sa"}


def test_default_role_name_fits_iam() -> None:
    issuer = parse_issuer("https://oidc.example.com/prod")
    assert default_role_name(issuer, "default", "app") == "irsa-oidc-default-app-28d94411"
    assert legacy_role_name(issuer, "default", "app") == "irsa-oidc-default-app"  # the previous release's
    long_ns, long_sa = "n" * 63, "s" * 100
    name = default_role_name(issuer, long_ns, long_sa)
    assert len(name) == 64
    assert name == default_role_name(issuer, long_ns, long_sa)  # deterministic
    assert name.startswith("irsa-oidc-nnnn")
    assert name != default_role_name(issuer, long_ns, long_sa + "x")  # the hash keeps truncated names apart
    assert name != default_role_name(parse_issuer("https://oidc.example.com/staging"), long_ns, long_sa)


def test_policy_documents_url_encoded_or_decoded() -> None:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity"}]}
    assert policy_document(urllib.parse.quote(json.dumps(document))) == document
    assert policy_document(document) == document


def test_only_recorded_attachments_on_managed_roles_are_detached() -> None:
    managed = {"managed-by": "oidc-publisher", "oidc-publisher:attached": f"{policy_digest(READONLY)} {policy_digest(WRITER)}"}
    assert detachable([READONLY, WRITER, HANDMADE], [READONLY], managed) == ([WRITER], [HANDMADE])
    assert detachable([READONLY, WRITER], [READONLY], {"oidc-publisher:attached": policy_digest(WRITER)}) == ([], [WRITER])


@pytest.mark.parametrize(("a", "b"), [
    ("https://oidc.example.com/a", "https://oidc.example.com/b"),
    ("https://oidc.dev.example.com", "https://oidc.prod.example.com"),
    ("https://oidc.example.com", "https://oidc.example.com/a"),
])
def test_default_names_of_two_issuers_never_collide(a: str, b: str) -> None:
    first, second = parse_issuer(a), parse_issuer(b)
    assert legacy_role_name(first, "ns", "sa") == legacy_role_name(second, "ns", "sa")  # the old collision
    assert default_role_name(first, "ns", "sa") != default_role_name(second, "ns", "sa")
    # IAM's provider for /a and /a/ is one: so is the role's name.
    assert default_role_name(parse_issuer(a + "/x"), "ns", "sa") == default_role_name(parse_issuer(a + "/x/"), "ns", "sa")


def test_other_issuer_reads_the_recorded_issuer_then_the_trust_policy() -> None:
    issuer = parse_issuer("https://oidc.example.com/a")
    mine = json.loads(trust_for("oidc.example.com/a"))
    theirs = json.loads(trust_for("oidc.example.com/b"))
    assert other_issuer({"oidc-publisher:issuer": "https://oidc.example.com/a"}, mine, issuer) is None
    assert other_issuer({"oidc-publisher:issuer": "https://oidc.example.com/a/"}, mine, issuer) is None
    assert other_issuer({}, mine, issuer) is None
    assert other_issuer({}, {"Version": "2012-10-17", "Statement": []}, issuer) is None
    assert other_issuer({"oidc-publisher:issuer": "https://oidc.example.com/b"}, mine, issuer) == "https://oidc.example.com/b"
    assert other_issuer({}, theirs, issuer) == "https://oidc.example.com/b"
    assert other_issuer({"oidc-publisher:issuer": "https://oidc.example.com/a"}, theirs, issuer) == "https://oidc.example.com/b"


def trust_for(provider_path: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider_path}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{provider_path}:sub": "system:serviceaccount:ns:sa", f"{provider_path}:aud": "sts.amazonaws.com"}}}]})


def register_without_thumbprint(world: AwsWorld, issuer_url: str) -> None:
    assert invoke("register", "--issuer-url", issuer_url, "--no-thumbprint").exit_code == 0


@pytest.mark.parametrize(("first", "second"), [
    ("https://oidc.example.com/a", "https://oidc.example.com/b"),
    ("https://oidc.dev.example.com", "https://oidc.prod.example.com"),
])
def test_a_role_is_never_repointed_to_another_issuer(issuer: AwsWorld, first: str, second: str) -> None:
    for url in (first, second):
        register_without_thumbprint(issuer, url)
    args = ("--namespace", "payments", "--service-account", "api")
    one = invoke("role", "create", "--issuer-url", first, *args, "--policy-arn", READONLY, "-o", "json")
    two = invoke("role", "create", "--issuer-url", second, *args, "--policy-arn", WRITER, "-o", "json")
    assert one.exit_code == two.exit_code == 0, (one.stderr, two.stderr)
    name_one, name_two = one.json()["role_name"], two.json()["role_name"]
    assert name_one != name_two  # two roles: the first cluster's is untouched
    first_path = first.removeprefix("https://")
    statement = issuer.client("iam").get_role(RoleName=name_one)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{first_path}"}
    assert attached(issuer, name_one) == [READONLY]
    assert tags_of(issuer, name_one)["oidc-publisher:issuer"] == first
    assert tags_of(issuer, name_two)["oidc-publisher:issuer"] == second
    # Naming the first role for the second issuer is refused, in a dry run too, and nothing is written.
    issuer.recorder.reset()
    for dry in ((), ("--dry-run",)):
        refused = invoke("role", "create", "--issuer-url", second, *args, "--policy-arn", WRITER, "--role-name", name_one, *dry)
        assert (refused.exit_code, refused.stderr) == (1, (
            f"error: role {name_one} was made for issuer {first}, not {second}: refusing to repoint it; "
            f"pass --role-name to make a role for {second}, or use --issuer-url {first} to converge this one\n"))
    assert issuer.recorder.writes == []
    assert attached(issuer, name_one) == [READONLY]


def test_a_role_without_a_recorded_issuer_is_judged_by_its_trust_policy(issuer: AwsWorld) -> None:
    """A managed role whose issuer tag is gone still names its provider: that one decides."""
    other = "https://oidc.example.com/b"
    register_without_thumbprint(issuer, other)
    iam = issuer.client("iam")
    iam.create_role(RoleName="old-style", AssumeRolePolicyDocument=trust_for("oidc.example.com/b"),
                    Tags=[{"Key": "managed-by", "Value": "oidc-publisher"}])
    issuer.recorder.reset()
    refused = invoke(*BASE, "--policy-arn", READONLY, "--role-name", "old-style")
    assert (refused.exit_code, refused.stderr.splitlines()[0]) == (1, (
        f"error: role old-style was made for issuer https://oidc.example.com/b, not {ISSUER}: refusing to repoint it; "
        f"pass --role-name to make a role for {ISSUER}, or use --issuer-url https://oidc.example.com/b to converge this one"))
    assert issuer.recorder.writes == []


def test_a_role_of_the_previous_release_is_converged_not_duplicated(issuer: AwsWorld) -> None:
    legacy = legacy_role_name(parse_issuer(ISSUER), "payments", "api")
    assert legacy == "irsa-roles-issuer-payments-api"
    # Made by the previous release: its default name, its tags, trust in this issuer's provider.
    iam = issuer.client("iam")
    iam.create_role(RoleName=legacy, AssumeRolePolicyDocument=json.dumps(json.loads(trust_for(HOST))), Tags=[
        {"Key": "managed-by", "Value": "oidc-publisher"}, {"Key": "oidc-publisher:issuer", "Value": ISSUER},
        {"Key": "kubernetes.io/namespace", "Value": "payments"}, {"Key": "kubernetes.io/service-account", "Value": "api"},
        {"Key": "oidc-publisher:attached", "Value": policy_digest(READONLY)}])
    iam.attach_role_policy(RoleName=legacy, PolicyArn=READONLY)
    issuer.recorder.reset()
    result = invoke(*BASE, "--policy-arn", READONLY, "--policy-arn", WRITER, "-o", "json")
    assert result.exit_code == 0, result.stderr
    body = result.json()
    assert body["role_name"] == legacy
    assert body["notes"] == [f"converged {legacy}, the name an earlier release gave this role (new roles are named like {ROLE})"]
    assert sorted(r["RoleName"] for r in iam.list_roles()["Roles"]) == [legacy]  # not duplicated
    assert attached(issuer, legacy) == [READONLY, WRITER]
    assert body["trust_policy"]["Statement"][0]["Condition"]["StringEquals"][f"{HOST}:sub"] == "system:serviceaccount:payments:api"


def test_a_role_under_the_old_name_for_another_issuer_is_left_alone(issuer: AwsWorld) -> None:
    """The old name collided across issuers: a role there made for another one is not this issuer's."""
    legacy = legacy_role_name(parse_issuer(ISSUER), "payments", "api")
    other = "https://roles-issuer.example.com/b"  # same first host label: the old default name was the same
    register_without_thumbprint(issuer, other)
    assert legacy_role_name(parse_issuer(other), "payments", "api") == legacy
    iam = issuer.client("iam")
    iam.create_role(RoleName=legacy, AssumeRolePolicyDocument=trust_for("roles-issuer.example.com/b"), Tags=[
        {"Key": "managed-by", "Value": "oidc-publisher"}, {"Key": "oidc-publisher:issuer", "Value": other}])
    before = iam.get_role(RoleName=legacy)["Role"]["AssumeRolePolicyDocument"]
    result = invoke(*BASE, "--policy-arn", READONLY, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["role_name"] == ROLE
    assert iam.get_role(RoleName=legacy)["Role"]["AssumeRolePolicyDocument"] == before
    assert attached(issuer, legacy) == []


def test_the_mark_is_never_added_to_a_role_that_exists(issuer: AwsWorld) -> None:
    """Neither the managed-by mark nor the recorded issuer is written after CreateRole, and neither can be a --tag."""
    assert invoke(*BASE, "--policy-arn", READONLY).exit_code == 0
    iam = issuer.client("iam")
    iam.untag_role(RoleName=ROLE, TagKeys=["oidc-publisher:issuer"])
    iam.update_role(RoleName=ROLE, MaxSessionDuration=3600)
    issuer.recorder.reset()
    converged = invoke(*BASE, "--policy-arn", READONLY, "--max-session-duration", "7200", "--tag", "team=payments", "-o", "json")
    assert converged.exit_code == 0, converged.stderr
    assert [c["reason"] for c in converged.json()["changes"]] == ["max session duration 7200s", "tags team"]
    assert "oidc-publisher:issuer" not in tags_of(issuer, ROLE)
    # A role the tool did not create: refused, untouched, unmarked.
    iam.create_role(RoleName="theirs", AssumeRolePolicyDocument=trust_for(HOST))
    issuer.recorder.reset()
    theirs = invoke(*BASE, "--policy-arn", READONLY, "--role-name", "theirs")
    assert theirs.exit_code == 1
    assert issuer.recorder.writes == []
    assert tags_of(issuer, "theirs") == {}
    issuer.recorder.reset()
    for tag in ("managed-by=oidc-publisher", "oidc-publisher:issuer=x", "Managed-By=me"):
        refused = invoke(*BASE, "--policy-arn", READONLY, "--role-name", "theirs", "--tag", tag)
        assert refused.exit_code == 2  # bad input
        assert refused.stderr.startswith(f"error: tag key '{tag.split('=')[0]}' is reserved for oidc-publisher's own records")
    assert issuer.recorder.calls == []


def test_a_wildcard_or_empty_audience_is_refused_before_any_aws_call(issuer: AwsWorld) -> None:
    for audience in ("*", "", " "):
        message = f"--audience {audience!r} would accept any audience"
        hint = "give the audience the tokens carry, e.g. --audience sts.amazonaws.com"
        for args in ((*BASE, "--policy-arn", READONLY, "--audience", audience), (*BASE, "--policy-arn", READONLY, "--audience", audience, "--dry-run")):
            result = invoke(*args)
            assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"error: {message}; {hint}\n"), args
        # trust-policy: one line on stderr, and with --output json the error as JSON too.
        trust = ("role", "trust-policy", "--issuer-url", ISSUER, "--namespace", "payments", "--service-account", "api", "--audience", audience)
        printed = invoke(*trust)
        assert (printed.exit_code, printed.stdout, printed.stderr) == (2, "", f"error: {message}; {hint}\n")
        as_json = invoke(*trust, "--output", "json")
        assert (as_json.exit_code, as_json.json()) == (2, {"error": {"type": "InputError", "message": message, "hint": hint}})
    assert issuer.recorder.calls == []


def test_out_refuses_to_overwrite_without_force(issuer: AwsWorld, tmp_path: Path) -> None:
    out = k.write(tmp_path / "sa.yaml", b"mine\n")
    refused = invoke(*BASE, "--policy-arn", READONLY, "--out", str(out))
    assert (refused.exit_code, refused.stdout, refused.stderr) == (
        2, "", f"error: --out {out} already exists; use --force to overwrite it, or another --out file\n")
    assert issuer.recorder.calls == []  # refused before IAM is touched
    assert out.read_text() == "mine\n"
    forced = invoke(*BASE, "--policy-arn", READONLY, "--out", str(out), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert out.read_text().startswith("apiVersion: v1\nkind: ServiceAccount\n")


def test_policy_arn_and_policy_file_together(issuer: AwsWorld, tmp_path: Path) -> None:
    """IAM lets a role have managed policies and an inline one at once."""
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    policy = k.write(tmp_path / "p.json", json.dumps(document).encode())
    result = invoke(*BASE, "--policy-arn", READONLY, "--policy-file", str(policy))
    assert result.exit_code == 0, result.stderr
    iam = issuer.client("iam")
    assert attached(issuer, ROLE) == [READONLY]
    assert iam.get_role_policy(RoleName=ROLE, PolicyName="oidc-publisher")["PolicyDocument"] == document
    issuer.recorder.reset()
    assert invoke(*BASE, "--policy-arn", READONLY, "--policy-file", str(policy)).exit_code == 0
    assert issuer.recorder.writes == []


def test_trust_policy_takes_output_json(aws: AwsWorld) -> None:
    args = ("role", "trust-policy", "--issuer-url", "https://issuer.example.com", "--namespace", "ns", "--service-account", "sa")
    text, as_json = invoke(*args), invoke(*args, "--output", "json")
    assert (text.exit_code, as_json.exit_code) == (0, 0)
    assert json.loads(as_json.stdout) == json.loads(text.stdout)
    assert json.loads(as_json.stdout)["Statement"][0]["Action"] == "sts:AssumeRoleWithWebIdentity"
