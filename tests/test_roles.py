"""``role create`` / ``role trust-policy``, ``audit`` and ``teardown`` against moto's server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.kube_api import KubeAPI
from tests.support.motoserver import AwsWorld

BUCKET = "roles-issuer"
ISSUER = f"https://{BUCKET}.s3.us-east-1.amazonaws.com"
HOST = f"{BUCKET}.s3.us-east-1.amazonaws.com"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{HOST}"
READONLY = "arn:aws:iam::123456789012:policy/read-only"


@pytest.fixture
def issuer(aws: AwsWorld, front: Front, tmp_path: Path) -> AwsWorld:
    front(BUCKET, ("*.s3.us-east-1.amazonaws.com",))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    assert invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub)).exit_code == 0
    aws.client("iam").create_policy(PolicyName="read-only", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    aws.recorder.reset()
    return aws


def test_role_create_pins_sub_and_aud(issuer: AwsWorld, tmp_path: Path) -> None:
    result = invoke("role", "create", "--issuer-url", ISSUER, "--namespace", "payments", "--service-account", "api",
                    "--policy-arn", READONLY, "--max-session-duration", "7200", "--tag", "team=payments", "-o", "json")
    assert result.exit_code == 0, result.stderr
    body = result.json()
    assert body["role_name"] == "irsa-roles-issuer-payments-api"
    role = issuer.client("iam").get_role(RoleName="irsa-roles-issuer-payments-api")["Role"]
    document = role["AssumeRolePolicyDocument"]
    [statement] = document["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": PROVIDER}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {"StringEquals": {f"{HOST}:aud": "sts.amazonaws.com", f"{HOST}:sub": "system:serviceaccount:payments:api"}}
    assert role["MaxSessionDuration"] == 7200
    tags = {t["Key"]: t["Value"] for t in role["Tags"]}
    assert tags == {"team": "payments", "managed-by": "oidc-publisher", "oidc-publisher:issuer": ISSUER,
                    "kubernetes.io/namespace": "payments", "kubernetes.io/service-account": "api"}
    attached = issuer.client("iam").list_attached_role_policies(RoleName=body["role_name"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [READONLY]
    assert body["service_account_manifest"] == (
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: api\n  namespace: payments\n  annotations:\n"
        f'    eks.amazonaws.com/role-arn: "{role["Arn"]}"\n'
    )
    issuer.recorder.reset()
    again = invoke("role", "create", "--issuer-url", ISSUER, "--namespace", "payments", "--service-account", "api",
                   "--policy-arn", READONLY, "--max-session-duration", "7200", "--tag", "team=payments", "-o", "json")
    assert again.json()["changed"] is False
    assert issuer.recorder.writes == []


def test_role_converges_a_loosened_trust_policy(issuer: AwsWorld, tmp_path: Path) -> None:
    policy = k.write(tmp_path / "policy.json", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"}]}).encode())
    args = ["role", "create", "--issuer-url", ISSUER, "--namespace", "default", "--service-account", "app", "--policy-file", str(policy)]
    assert invoke(*args).exit_code == 0
    iam = issuer.client("iam")
    loose = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": PROVIDER},
                                                     "Action": "sts:AssumeRoleWithWebIdentity"}]}
    iam.update_assume_role_policy(RoleName="irsa-roles-issuer-default-app", PolicyDocument=json.dumps(loose))
    dry = invoke(*args, "--dry-run", "-o", "json")
    assert dry.exit_code == 3
    assert [c["reason"] for c in dry.json()["changes"]] == ["trust policy differs from the pinned one"]
    fixed = invoke(*args, "-o", "json")
    assert fixed.exit_code == 0
    statement = iam.get_role(RoleName="irsa-roles-issuer-default-app")["Role"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert f"{HOST}:sub" in statement["Condition"]["StringEquals"]
    inline = iam.get_role_policy(RoleName="irsa-roles-issuer-default-app", PolicyName="oidc-publisher")["PolicyDocument"]
    assert inline["Statement"][0]["Action"] == "s3:GetObject"


def test_role_refusals(issuer: AwsWorld, tmp_path: Path) -> None:
    base = ["role", "create", "--issuer-url", ISSUER, "--namespace", "default"]
    wildcard = invoke(*base, "--service-account", "*", "--policy-arn", READONLY)
    assert (wildcard.exit_code, wildcard.stderr.strip()) == (2, "error: service account '*' is a wildcard; a wildcard lets every matching "
                                                                "service account assume the role; add --allow-wildcard if you mean it")
    none = invoke(*base, "--service-account", "app")
    assert (none.exit_code, none.stderr.strip()) == (2, "error: give --policy-arn (repeatable) or --policy-file; exactly one of them says what the role may do")
    bad_file = k.write(tmp_path / "bad.json", b'{"Statement": []}')
    bad = invoke(*base, "--service-account", "app", "--policy-file", str(bad_file))
    assert bad.stderr.strip() == f"error: policy file {bad_file} is not an IAM policy document (no Version/Statement); write it like {{\"Version\": \"2012-10-17\", \"Statement\": [...]}}"
    unregistered = invoke("role", "create", "--issuer-url", "https://other.example.com", "--namespace", "default",
                          "--service-account", "app", "--policy-arn", READONLY)
    assert unregistered.stderr.strip() == ("error: no IAM OIDC provider is registered for https://other.example.com; "
                                           "register it first: oidc-publisher register --issuer-url https://other.example.com (or bootstrap)")
    assert issuer.recorder.writes == []
    allowed = invoke(*base, "--service-account", "*", "--policy-arn", READONLY, "--allow-wildcard", "--role-name", "wide")
    assert allowed.exit_code == 0
    assert allowed.stderr.startswith("warning: the trust policy matches every service account like default:*")


def test_trust_policy_prints_json(issuer: AwsWorld) -> None:
    result = invoke("role", "trust-policy", "--issuer-url", ISSUER, "--namespace", "ns", "--service-account", "sa")
    assert result.exit_code == 0
    assert result.json()["Statement"][0]["Condition"]["StringEquals"] == {f"{HOST}:aud": "sts.amazonaws.com", f"{HOST}:sub": "system:serviceaccount:ns:sa"}


def test_audit_flags_exactly_the_bad_roles(issuer: AwsWorld, kube_api: KubeAPI, tmp_path: Path) -> None:
    iam = issuer.client("iam")

    def role(name: str, condition: dict | None) -> None:
        statement = {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity"}
        if condition is not None:
            statement["Condition"] = condition
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))

    aud = {f"{HOST}:aud": "sts.amazonaws.com"}
    role("good", {"StringEquals": {**aud, f"{HOST}:sub": "system:serviceaccount:default:app"}})
    role("no-sub", {"StringEquals": aud})
    role("wild", {"StringEquals": aud, "StringLike": {f"{HOST}:sub": "system:serviceaccount:default:*"}})
    role("no-aud", {"StringEquals": {f"{HOST}:sub": "system:serviceaccount:default:app"}})
    role("shared", {"StringEquals": {**aud, f"{HOST}:sub": ["system:serviceaccount:a:x", "system:serviceaccount:b:y"]}})
    role("nothing", None)
    iam.create_role(RoleName="unrelated", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    result = invoke("audit", "--issuer-url", ISSUER, "-o", "json")
    assert result.exit_code == 1
    body = result.json()
    assert body["roles"] == ["good", "no-aud", "no-sub", "nothing", "shared", "wild"]
    assert sorted((f["role"], f["finding"]) for f in body["findings"]) == [
        ("no-aud", "no :aud condition"),
        ("no-sub", "no :sub condition"),
        ("nothing", "no :aud condition"),
        ("nothing", "no :sub condition"),
        ("shared", "shared by several service accounts"),
        ("wild", "wildcard subject"),
    ]
    assert invoke("audit", "--issuer-url", ISSUER, "--fail-on", "none").exit_code == 0
    # With the cluster: annotations pointing at missing roles, and roles trusting missing service accounts.
    kube_api.issuer = ISSUER
    kube_api.service_accounts[("default", "app")] = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/gone"}
    config = kube_api.kubeconfig(tmp_path / "kubeconfig")
    cluster = invoke("audit", "--issuer-url", ISSUER, "--from-cluster", "--kubeconfig", str(config), "-o", "json").json()
    extra = sorted((f["role"], f["finding"]) for f in cluster["findings"] if f["finding"] in (
        "annotated role does not exist", "trusts a service account that does not exist"))
    assert extra == [
        ("arn:aws:iam::123456789012:role/gone", "annotated role does not exist"),
        ("shared", "trusts a service account that does not exist"),
        ("shared", "trusts a service account that does not exist"),
    ]


def test_teardown_removes_what_the_tool_made_and_nothing_else(issuer: AwsWorld, tmp_path: Path) -> None:
    s3, iam = issuer.client("s3"), issuer.client("iam")
    s3.create_bucket(Bucket="unrelated-bucket")
    s3.put_object(Bucket="unrelated-bucket", Key="keep", Body=b"x")
    iam.create_open_id_connect_provider(Url="https://unrelated.example.com", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40])
    assert invoke("role", "create", "--issuer-url", ISSUER, "--namespace", "d", "--service-account", "a", "--policy-arn", READONLY).exit_code == 0
    issuer.recorder.reset()
    refused = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET)
    assert (refused.exit_code, refused.stderr.strip()) == (2, "error: refusing to tear down without confirmation: no terminal is attached; "
                                                              "re-run with --yes (or --dry-run to see what would go)")
    dry = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--dry-run", "-o", "json")
    assert dry.exit_code == 3
    assert issuer.recorder.writes == []
    done = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes", "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert "roles that trust this issuer are kept (delete them yourself): irsa-roles-issuer-d-a" in done.json()["notes"]
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["unrelated-bucket"]
    assert s3.get_object(Bucket="unrelated-bucket", Key="keep")["Body"].read() == b"x"
    providers = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    assert providers == ["arn:aws:iam::123456789012:oidc-provider/unrelated.example.com"]
    assert iam.get_role(RoleName="irsa-roles-issuer-d-a")["Role"]["RoleName"] == "irsa-roles-issuer-d-a"
    again = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes")
    assert again.exit_code == 0
    assert again.stdout.startswith("Nothing of this issuer's to remove.")


def test_teardown_cloudfront(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    front("cf-issuer", ("*.cloudfront.net",))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    boot = invoke("bootstrap", "--bucket", "cf-issuer", "--cloudfront", "--public-key", str(pub), "-o", "json")
    assert boot.exit_code == 0, boot.stderr
    issuer_url = boot.json()["issuer"]
    done = invoke("teardown", "--issuer-url", issuer_url, "--bucket", "cf-issuer", "--yes", "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert {c["resource"].split("/")[0] for c in done.json()["changes"]} >= {"cloudfront:distribution", "cloudfront:origin-access-control", "iam:oidc-provider"}
    cf = aws.client("cloudfront")
    assert cf.list_distributions()["DistributionList"].get("Items", []) == []
    assert cf.list_origin_access_controls()["OriginAccessControlList"].get("Items", []) == []
    assert aws.client("s3").list_buckets()["Buckets"] == []
