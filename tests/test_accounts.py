"""Several AWS accounts (``--account-role``, the fleet file's ``accounts``) against moto's server through the
recording proxy: moto keys its state by account, and the credentials sts:AssumeRole gives for
``arn:aws:iam::ACCOUNT:role/x`` land in ACCOUNT's state, so every account's IAM is read back on its own.
The issuer's host is a local HTTPS front with its own CA: the thumbprints registered are real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from oidc_publisher.commands.accounts import (
    AccountOutcome,
    AccountRole,
    AccountsReport,
    account_roles,
    exit_code_over,
    refuse_while_registered,
)
from oidc_publisher.core.errors import ConflictError, Error
from oidc_publisher.core.plan import Plan
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.motoserver import AwsWorld

HOST = "oidc.example.com"
ISSUER = f"https://{HOST}/cluster-a"
PATH = f"{HOST}/cluster-a"
BUCKET = "accounts-issuer"
CALLER = "123456789012"  # moto's account for the plain credentials
A1, A2, A3 = "111111111111", "222222222222", "333333333333"


def role(account: str, name: str = "oidc-publisher") -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def provider_arn(account: str, path: str = PATH) -> str:
    return f"arn:aws:iam::{account}:oidc-provider/{path}"


def iam_of(aws: AwsWorld, account: str) -> Any:
    """IAM of ``account`` as moto holds it, past the recording proxy (moto's own account for CALLER)."""
    if account == CALLER:
        return aws.client("iam")
    given = aws.client("sts").assume_role(RoleArn=role(account, "test-reader"), RoleSessionName="test")["Credentials"]
    return boto3.client(
        "iam", region_name="us-east-1", endpoint_url=aws.moto_endpoint, aws_access_key_id=given["AccessKeyId"],
        aws_secret_access_key=given["SecretAccessKey"], aws_session_token=given["SessionToken"],
    )


def providers(aws: AwsWorld, account: str) -> dict[str, dict[str, Any]]:
    iam = iam_of(aws, account)
    found = {}
    for entry in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=entry["Arn"])
        found[entry["Arn"]] = {
            "url": got["Url"],
            "client_ids": got["ClientIDList"],
            "thumbprints": got["ThumbprintList"],
            "tags": {t["Key"]: t["Value"] for t in got.get("Tags", [])},
        }
    return found


@pytest.fixture
def issuer_host(aws: AwsWorld, front: Front) -> str:
    """The issuer's host over real TLS (its own CA chain); returns the thumbprint IAM must pin."""
    aws.client("s3").create_bucket(Bucket=BUCKET)
    _, chain = front(BUCKET, (HOST,))
    aws.recorder.reset()
    return str(chain.expected_thumbprint)


def register(*args: str) -> Any:
    return invoke("register", "--issuer-url", ISSUER, *args)


# --- register ---------------------------------------------------------------------------------------


def test_register_converges_every_account_in_one_run_then_is_a_no_op(aws: AwsWorld, issuer_host: str) -> None:
    result = register("--account-role", role(A1), "--account-role", role(A2), "--output", "json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert [a["account_id"] for a in report["accounts"]] == [A1, A2]
    assert [a["role_arn"] for a in report["accounts"]] == [role(A1), role(A2)]
    assert report["changed"] == [A1, A2] and report["failed"] == []
    for account in (A1, A2):
        entry = next(a for a in report["accounts"] if a["account_id"] == account)
        assert entry["error"] is None
        assert entry["result"]["provider_arn"] == provider_arn(account)
        assert [c["action"] for c in entry["result"]["changes"]] == ["create"]
        assert providers(aws, account) == {
            provider_arn(account): {
                "url": PATH,
                "client_ids": ["sts.amazonaws.com"],
                "thumbprints": [issuer_host],
                "tags": {"managed-by": "oidc-publisher"},
            }
        }
    assert providers(aws, CALLER) == {}, "the caller's own account is not one of the listed accounts"
    # Each role was assumed once, by the tool, with its session name.
    assumed = [r.body.decode() for r in aws.recorder.sent("AssumeRole")]
    assert len(assumed) == 2 and all("RoleSessionName=oidc-publisher" in body for body in assumed)

    aws.recorder.reset()
    again = register("--account-role", role(A1), "--account-role", role(A2))
    assert again.exit_code == 0, again.stderr
    assert aws.recorder.writes == []
    assert again.stdout.splitlines()[0] == f"account {A1} ({role(A1)}): unchanged"
    assert f"account {A2} ({role(A2)}): unchanged" in again.stdout
    assert again.stdout.splitlines()[-1] == "2 accounts: 0 changed, 2 unchanged, 0 failed"


def test_a_client_id_added_later_converges_in_each_account(aws: AwsWorld, issuer_host: str) -> None:
    assert register("--account-role", role(A1), "--account-role", role(A2)).exit_code == 0
    result = register("--account-role", role(A1), "--account-role", role(A2), "--client-id", "sts.amazonaws.com",
                      "--client-id", "vault", "--output", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["changed"] == [A1, A2]
    for account in (A1, A2):
        assert providers(aws, account)[provider_arn(account)]["client_ids"] == ["sts.amazonaws.com", "vault"]


def test_a_role_that_cannot_be_assumed_fails_its_account_and_the_others_converge(aws: AwsWorld, issuer_host: str) -> None:
    # The roles are assumed in the order given: the second AssumeRole is refused.
    aws.proxy.fail_next("AssumeRole", 403, "AccessDenied", after=1, message="not authorized to perform sts:AssumeRole")
    result = register("--account-role", role(A1), "--account-role", role(A2), "--account-role", role(A3))
    assert result.exit_code == 1, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0] == f"account {A1} ({role(A1)}): changed"
    failed = next(line for line in lines if line.startswith(f"account {A2}"))
    assert failed == (
        f"account {A2} ({role(A2)}): failed: sts:AssumeRole of {role(A2)} failed (AccessDenied: not authorized to "
        "perform sts:AssumeRole); grant the caller sts:AssumeRole on that role, and let the role's trust policy "
        "admit the caller (see docs/accounts.md)"
    )
    assert f"account {A3} ({role(A3)}): changed" in lines
    assert lines[-1] == f"3 accounts: 2 changed, 0 unchanged, 1 failed ({A2})"
    assert list(providers(aws, A1)) == [provider_arn(A1)]
    assert list(providers(aws, A3)) == [provider_arn(A3)]
    assert providers(aws, A2) == {}

    # The re-run converges the account that failed, and only it changes.
    fixed = register("--account-role", role(A1), "--account-role", role(A2), "--account-role", role(A3), "--output", "json")
    assert fixed.exit_code == 0
    assert fixed.json()["changed"] == [A2]


def test_an_iam_failure_in_one_account_leaves_the_other_converged(aws: AwsWorld, issuer_host: str) -> None:
    aws.proxy.fail_next("CreateOpenIDConnectProvider", 403, "AccessDenied", message="no iam:CreateOpenIDConnectProvider")
    result = register("--account-role", role(A1), "--account-role", role(A2), "--output", "json")
    assert result.exit_code == 1
    report = result.json()
    [failed] = report["failed"]
    [converged] = [a for a in (A1, A2) if a != failed]
    entry = next(a for a in report["accounts"] if a["account_id"] == failed)
    assert entry["result"] is None
    assert entry["error"]["message"].startswith("iam:CreateOpenIDConnectProvider on oidc.example.com/cluster-a failed (AccessDenied")
    assert providers(aws, failed) == {}
    assert list(providers(aws, converged)) == [provider_arn(converged)]


def test_dry_run_covers_every_account_and_writes_nothing(aws: AwsWorld, issuer_host: str) -> None:
    assert register("--account-role", role(A1)).exit_code == 0
    aws.recorder.reset()
    result = register("--account-role", role(A1), "--account-role", role(A2), "--dry-run")
    assert result.exit_code == 3, result.stderr
    assert aws.recorder.writes == []
    assert f"account {A1} ({role(A1)}): unchanged" in result.stdout
    assert f"account {A2} ({role(A2)}): would change" in result.stdout
    assert f"    create     iam:oidc-provider/{PATH}" in result.stdout
    assert result.stdout.splitlines()[-1] == "2 accounts: 1 would change, 1 unchanged, 0 failed"
    assert providers(aws, A2) == {}
    # Nothing to change anywhere: 0.
    assert register("--account-role", role(A1), "--dry-run").exit_code == 0


def test_without_account_role_register_is_as_before(aws: AwsWorld, issuer_host: str) -> None:
    result = register()
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Changed:\n")
    assert list(providers(aws, CALLER)) == [provider_arn(CALLER)]
    assert aws.recorder.sent("AssumeRole") == []


# --- role create --------------------------------------------------------------------------------------


def role_create(*args: str) -> Any:
    return invoke("role", "create", "--issuer-url", ISSUER, "--namespace", "shop", "--service-account", "cart",
                  "--policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess", "--role-name", "cart", *args)


def test_role_create_in_another_account_trusts_that_accounts_provider(aws: AwsWorld, issuer_host: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    assert register("--account-role", role(A2)).exit_code == 0
    result = role_create("--account-role", role(A2), "--output", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["role_arn"] == f"arn:aws:iam::{A2}:role/cart"
    got = iam_of(aws, A2).get_role(RoleName="cart")["Role"]
    statement = got["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Federated": provider_arn(A2)}
    assert statement["Condition"]["StringEquals"][f"{PATH}:sub"] == "system:serviceaccount:shop:cart"
    assert "cart" not in [r["RoleName"] for r in aws.client("iam").list_roles()["Roles"]]
    aws.recorder.reset()
    again = role_create("--account-role", role(A2))
    assert again.exit_code == 0, again.stderr
    assert aws.recorder.writes == []


def test_role_create_in_an_account_without_the_provider_says_to_register_there(aws: AwsWorld, issuer_host: str) -> None:
    assert register().exit_code == 0  # the caller's account has it; A3 does not
    aws.recorder.reset()
    result = role_create("--account-role", role(A3))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no IAM OIDC provider is registered for {ISSUER} in account {A3} (a role can only trust a provider "
        f"of its own account); register it there first: oidc-publisher register --issuer-url {ISSUER} "
        f"--account-role {role(A3)}\n"
    )
    assert aws.recorder.writes == []


# --- audit --------------------------------------------------------------------------------------------


def test_audit_across_accounts_reports_each_accounts_findings(aws: AwsWorld, issuer_host: str) -> None:
    assert register("--account-role", role(A1), "--account-role", role(A2)).exit_code == 0
    loose = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn(A2)}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{PATH}:aud": "sts.amazonaws.com"}},
    }]}
    iam_of(aws, A2).create_role(RoleName="loose", AssumeRolePolicyDocument=json.dumps(loose))
    aws.recorder.reset()
    result = invoke("audit", "--issuer-url", ISSUER, "--account-role", role(A1), "--account-role", role(A2), "--output", "json")
    assert result.exit_code == 1, result.stderr  # a high finding in A2
    first, second = result.json()["accounts"]
    assert (first["account_id"], first["result"]["roles"], first["result"]["findings"]) == (A1, [], [])
    assert first["result"]["provider_arn"] == provider_arn(A1)
    assert second["account_id"] == A2 and second["result"]["roles"] == ["loose"]
    assert [(f["role"], f["finding"]) for f in second["result"]["findings"]] == [("loose", "no :sub condition")]
    text = invoke("audit", "--issuer-url", ISSUER, "--account-role", role(A1), "--account-role", role(A2))
    assert text.stdout.startswith(f"account {A1} ({role(A1)}): done\n  0 roles trust {ISSUER}: -\n")
    assert f"account {A2} ({role(A2)}): done\n  1 role trust {ISSUER}: loose\n" in text.stdout
    assert text.stdout.splitlines()[-1] == "2 accounts: 2 done, 0 failed"
    assert aws.recorder.writes == []


# --- teardown -----------------------------------------------------------------------------------------


def test_teardown_refuses_while_a_listed_account_has_a_provider(aws: AwsWorld, issuer_host: str, tmp_path: Path) -> None:
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    assert invoke("publish", "--bucket", BUCKET, "--issuer-url", ISSUER, "--public-key", str(pub)).exit_code == 0
    assert register().exit_code == 0
    assert register("--account-role", role(A2)).exit_code == 0
    aws.recorder.reset()
    args = ["teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes", "--account-role", role(A1), "--account-role", role(A2)]
    for extra in ([], ["--dry-run"]):
        refused = invoke(*args, *extra)
        assert refused.exit_code == 1, refused.stdout
        assert refused.stderr == (
            f"error: refusing to tear down {ISSUER}: account {A2} ({provider_arn(A2)}) still has an IAM OIDC provider "
            "for it, and the roles there trust the documents teardown would remove: nothing was removed; delete the "
            "provider in each of those accounts first (aws iam delete-open-id-connect-provider "
            "--open-id-connect-provider-arn ARN, with that account's credentials), then re-run teardown\n"
        )
    assert aws.recorder.writes == []
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert "cluster-a/openid/v1/jwks" in keys
    assert list(providers(aws, CALLER)) == [provider_arn(CALLER)]

    iam_of(aws, A2).delete_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn(A2))
    done = invoke(*args)
    assert done.exit_code == 0, done.stderr
    assert providers(aws, CALLER) == {}
    assert [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])] == []


# --- the fleet file's accounts --------------------------------------------------------------------------


def s3_issuer(prefix: str) -> str:
    return f"https://{BUCKET}.s3.us-east-1.amazonaws.com/{prefix}"


def test_fleet_registers_every_issuer_in_every_listed_account(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    _, chain = front(BUCKET, ("*.s3.us-east-1.amazonaws.com",))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({
        "accounts": [role(A1), role(A2)],
        "defaults": {"bucket": BUCKET, "region": "us-east-1", "public_keys": [str(pub)]},
        "clusters": [{"name": "blue", "prefix": "blue"}, {"name": "green", "prefix": "green"}],
    }))
    aws.recorder.reset()
    dry = invoke("publish", "--fleet", str(fleet), "--dry-run")
    assert dry.exit_code == 3, dry.stderr
    assert aws.recorder.writes == []
    assert f"  account {A1} ({role(A1)}): would change" in dry.stdout

    result = invoke("publish", "--fleet", str(fleet), "--output", "json")
    assert result.exit_code == 0, result.stderr
    clusters = result.json()["clusters"]
    assert [[a["account_id"] for a in c["accounts"]] for c in clusters] == [[A1, A2], [A1, A2]]
    for account in (A1, A2):
        held = providers(aws, account)
        assert sorted(held) == sorted(provider_arn(account, s3_issuer(p).removeprefix("https://")) for p in ("blue", "green"))
        assert all(p["thumbprints"] == [chain.expected_thumbprint] for p in held.values())
    assert providers(aws, CALLER) == {}

    aws.recorder.reset()
    again = invoke("publish", "--fleet", str(fleet))
    assert again.exit_code == 0, again.stderr
    assert aws.recorder.writes == []
    assert again.stdout.count(": unchanged") == 6  # two clusters, each in two accounts


def test_fleet_account_that_fails_is_reported_and_exit_is_1(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    front(BUCKET, ("*.s3.us-east-1.amazonaws.com",))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({
        "accounts": [role(A1), role(A2)],
        "clusters": [{"name": "blue", "bucket": BUCKET, "region": "us-east-1", "prefix": "blue", "public_keys": [str(pub)]}],
    }))
    aws.proxy.fail_next("AssumeRole", 403, "AccessDenied")
    result = invoke("publish", "--fleet", str(fleet))
    assert result.exit_code == 1
    assert f"  account {A1} ({role(A1)}): failed: sts:AssumeRole of {role(A1)} failed (AccessDenied" in result.stdout
    assert f"  account {A2} ({role(A2)}): changed" in result.stdout
    assert result.stdout.splitlines()[-1] == (
        f"fleet of 1 cluster: 1 changed, 0 unchanged, 0 failed, 1 account registration failed (blue in {A1})"
    )
    assert len(providers(aws, A2)) == 1 and providers(aws, A1) == {}


@pytest.mark.parametrize(("accounts", "message"), [
    (["nope"], "error: accounts[0]: 'nope' is not an IAM role ARN; give the role to assume in that account, like arn:aws:iam::123456789012:role/oidc-publisher"),
    ([role(A1), role(A1)], f"error: accounts[1]: {role(A1)} is given twice; list each account's role once"),
    ([role(A1), role(A1, "other")], f"error: accounts[1]: {role(A1, 'other')} is in account {A1}, as {role(A1)} is; give one role per account"),
    ([], "error: accounts must be a non-empty list of IAM role ARNs; give the role"),
    ([7], "error: accounts[0]: int 7 is not an IAM role ARN"),
    (f"arn:aws:iam::{A1}:role/x", "error: accounts must be a non-empty list of IAM role ARNs"),
])
def test_fleet_accounts_are_validated_before_anything(aws: AwsWorld, tmp_path: Path, accounts: Any, message: str) -> None:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({"accounts": accounts, "clusters": [
        {"name": "blue", "bucket": BUCKET, "region": "us-east-1", "prefix": "blue", "jwks": "x.json"}]}))
    result = invoke("publish", "--fleet", str(fleet))
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(message), line
    assert aws.recorder.calls == []


# --- bad input: one line, exit 2, no AWS call ---------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["register", "--issuer-url", ISSUER, "--account-role", "123456789012"],
     "error: --account-role '123456789012' is not an IAM role ARN; give the role to assume"),
    (["register", "--issuer-url", ISSUER, "--account-role", f"arn:aws:iam::{A1}:user/bob"],
     f"error: --account-role 'arn:aws:iam::{A1}:user/bob' is not an IAM role ARN"),
    (["register", "--issuer-url", ISSUER, "--account-role", role(A1), "--account-role", role(A1)],
     f"error: --account-role {role(A1)} is given twice; list each account's role once"),
    (["register", "--issuer-url", "https://oidc.example.com:8443", "--account-role", role(A1)],
     "error: issuer URL 'https://oidc.example.com:8443' has a port"),
    (["audit", "--issuer-url", ISSUER, "--account-role", "arn:aws:iam::1:role/x"],
     "error: --account-role 'arn:aws:iam::1:role/x' is not an IAM role ARN"),
    (["teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes", "--account-role", "x"],
     "error: --account-role 'x' is not an IAM role ARN"),
    (["role", "create", "--issuer-url", ISSUER, "--namespace", "a", "--service-account", "b",
      "--policy-arn", "arn:aws:iam::aws:policy/X", "--account-role", "arn:aws:iam::111111111111:role/"],
     "error: --account-role 'arn:aws:iam::111111111111:role/' is not an IAM role ARN"),
    (["role", "create", "--issuer-url", ISSUER, "--namespace", "a", "--service-account", "b",
      "--policy-arn", "ReadOnlyAccess", "--account-role", role(A1)],
     "error: 'ReadOnlyAccess' is not an IAM policy ARN"),
])
@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_bad_account_roles_are_refused_before_any_aws_call(aws: AwsWorld, args: list[str], message: str, dry_run: bool) -> None:
    result = invoke(*args, *(["--dry-run"] if dry_run and args[0] != "audit" else []))
    assert result.exit_code == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(message), line
    assert aws.recorder.calls == []


# --- the pure decisions ---------------------------------------------------------------------------------


def test_account_roles_shape_and_duplicates() -> None:
    roles, problems = account_roles(
        [role(A1), f"arn:aws-cn:iam::{A2}:role/path/to/r", "arn:aws:iam::12345678901:role/x", role(A1)], lambda i: f"[{i}]"
    )
    assert roles == [AccountRole(role(A1), A1), AccountRole(f"arn:aws-cn:iam::{A2}:role/path/to/r", A2)]
    assert [p.message for p in problems] == [
        "[2] 'arn:aws:iam::12345678901:role/x' is not an IAM role ARN",
        f"[3] {role(A1)} is given twice",
    ]


def test_exit_code_over_accounts() -> None:
    assert exit_code_over([0, 0], failed=False) == 0
    assert exit_code_over([0, 3], failed=False) == 3
    assert exit_code_over([3, 0], failed=True) == 1
    assert exit_code_over([1, 3], failed=False) == 1  # audit's findings outrank pending changes
    assert exit_code_over([], failed=False) == 0


def test_the_report_keeps_the_order_given_and_names_the_failed() -> None:
    class Done:
        plan = Plan()
        exit_code = 0

        def to_text(self) -> str:
            return "ok"

        def to_json(self) -> dict[str, Any]:
            return {}

    changed = Done()
    changed.plan = Plan()
    changed.plan.add("r", "create", "why")
    report = AccountsReport([
        AccountOutcome(AccountRole(role(A2), A2), report=changed),
        AccountOutcome(AccountRole(role(A1), A1), error=Error("boom", "fix it")),
        AccountOutcome(AccountRole(role(A3), A3), report=Done()),
    ])
    assert report.exit_code == 1
    assert report.to_text().splitlines() == [
        f"account {A2} ({role(A2)}): changed", "  ok",
        f"account {A1} ({role(A1)}): failed: boom; fix it",
        f"account {A3} ({role(A3)}): unchanged", "  ok",
        f"3 accounts: 1 changed, 1 unchanged, 1 failed ({A1})",
    ]
    assert report.to_json()["changed"] == [A2] and report.to_json()["failed"] == [A1]


def test_teardown_refusal_is_over_the_accounts_that_still_have_a_provider() -> None:
    one, two = AccountRole(role(A1), A1), AccountRole(role(A2), A2)
    refuse_while_registered(ISSUER, [(one, None), (two, None)])
    refuse_while_registered(ISSUER, [])
    with pytest.raises(ConflictError) as refused:
        refuse_while_registered(ISSUER, [(one, provider_arn(A1)), (two, None)])
    assert refused.value.message.startswith(f"refusing to tear down {ISSUER}: account {A1} ({provider_arn(A1)}) still has")
    with pytest.raises(ConflictError) as both:
        refuse_while_registered(ISSUER, [(one, provider_arn(A1)), (two, provider_arn(A2))])
    assert f"accounts {A1} ({provider_arn(A1)}), {A2} ({provider_arn(A2)}) still have an IAM OIDC provider" in both.value.message


# --- docs/accounts.md -----------------------------------------------------------------------------------


def test_accounts_page_commands_run(aws: AwsWorld, front: Front, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every oidc-publisher command in docs/accounts.md runs as written (its fleet file too), and leaves the
    issuer registered in both of its accounts, with the role in the orders account."""
    import re
    from urllib.parse import urlsplit

    import requests

    from tests.test_docs import DOCS, commands, run_as_written

    text = (DOCS / "accounts.md").read_text()
    variables, cmds = commands(text)
    assert len(cmds) >= 7
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")  # the page attaches ReadOnlyAccess
    requests.post(f"{aws.moto_endpoint}/moto-api/reset", timeout=30).raise_for_status()
    issuer, bucket = variables["ISSUER"], variables["BUCKET"]
    aws.client("s3", "eu-west-1").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    front(bucket, (urlsplit(issuer).hostname or "", "*.s3.eu-west-1.amazonaws.com"), region="eu-west-1")
    root = tmp_path / "root"
    pub = k.write(root / "keys/sa.pub", k.K8S_RSA_PUBLIC_KEY)
    [fleet] = [block for block in re.findall(r"```json\n(.*?)```", text, re.S) if '"clusters"' in block]
    (root / "fleet.json").write_text(fleet)
    # The page starts from a published issuer (bootstrap, or a quick start).
    published = invoke("publish", "--bucket", bucket, "--region", "eu-west-1", "--issuer-url", issuer, "--public-key", str(pub))
    assert published.exit_code == 0, published.stderr
    run_as_written("accounts.md", cmds, variables, root)
    for variable in ("DATA_ROLE", "ORDERS_ROLE"):
        account = variables[variable].split(":")[4]
        held = providers(aws, account)
        assert f"arn:aws:iam::{account}:oidc-provider/{issuer.removeprefix('https://')}" in held
        assert f"arn:aws:iam::{account}:oidc-provider/{bucket}.s3.eu-west-1.amazonaws.com/blue" in held
    orders = variables["ORDERS_ROLE"].split(":")[4]
    assert [r["RoleName"] for r in iam_of(aws, orders).list_roles()["Roles"] if r["RoleName"].startswith("irsa-")]
    assert providers(aws, CALLER) == {}
    # The refused teardown removed nothing.
    assert "cluster-a/openid/v1/jwks" in [o["Key"] for o in aws.client("s3", "eu-west-1").list_objects_v2(Bucket=bucket)["Contents"]]


def test_no_credentials_is_one_line_per_account_and_nothing_is_written(
    aws: AwsWorld, issuer_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = register("--account-role", role(A1), "--account-role", role(A2), "--output", "json")
    assert result.exit_code == 1
    report = result.json()
    assert report["failed"] == [A1, A2]
    assert [a["error"]["message"] for a in report["accounts"]] == [
        f"sts:AssumeRole on {role(account)} failed: no AWS credentials found" for account in (A1, A2)
    ]
    assert report["accounts"][0]["error"]["hint"].startswith("configure credentials")
    assert aws.recorder.calls == []


def test_teardown_refuses_when_a_listed_account_cannot_be_read(aws: AwsWorld, issuer_host: str) -> None:
    assert register().exit_code == 0
    aws.recorder.reset()
    aws.proxy.fail_next("AssumeRole", 403, "AccessDenied", after=1, message="not authorized")
    result = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes",
                    "--account-role", role(A1), "--account-role", role(A2))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: cannot tell whether account {A2} still has an IAM OIDC provider for {ISSUER}: sts:AssumeRole of "
        f"{role(A2)} failed (AccessDenied: not authorized): nothing was removed; grant the caller sts:AssumeRole"
    )
    assert aws.recorder.writes == []
    assert list(providers(aws, CALLER)) == [provider_arn(CALLER)]


def test_fleet_issuer_whose_host_cannot_be_read_fails_in_each_account_and_the_others_register(
    aws: AwsWorld, front: Front, tmp_path: Path
) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    front(BUCKET, ("*.s3.us-east-1.amazonaws.com",))  # its certificate does not cover oidc.other.example
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({
        "accounts": [role(A1), role(A2)],
        "defaults": {"bucket": BUCKET, "region": "us-east-1", "public_keys": [str(pub)]},
        "clusters": [{"name": "odd", "issuer_url": "https://oidc.other.example/odd"}, {"name": "blue", "prefix": "blue"}],
    }))
    result = invoke("publish", "--fleet", str(fleet), "--output", "json")
    assert result.exit_code == 1
    odd, blue = result.json()["clusters"]
    assert odd["error"] is None  # its documents are published; only its registration failed
    assert [a["error"]["type"] for a in odd["accounts"]] == ["TLSError", "TLSError"]
    assert [a["error"] for a in blue["accounts"]] == [None, None]
    for account in (A1, A2):
        assert list(providers(aws, account)) == [provider_arn(account, f"{BUCKET}.s3.us-east-1.amazonaws.com/blue")]
