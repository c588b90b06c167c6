"""``doctor`` from a pod's side: a healthy pod passes every check; each broken link of the IRSA chain is
built for real (in the API server stand-in, in IAM on moto, in the published documents) and named with
its fix; and doctor only reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from oidc_publisher.core import diagnosis
from oidc_publisher.core.diagnosis import check_service_account, evaluate_statement, recreate_command
from oidc_publisher.core.trust import ROLE_ARN_ANNOTATION
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.kube_api import KubeAPI
from tests.support.motoserver import AwsWorld

BUCKET = "doctor-issuer"
HOST = f"{BUCKET}.s3.us-east-1.amazonaws.com"
ISSUER = f"https://{HOST}"
NS, SA, POD = "shop", "cart", "cart-7d9f8c6b5-abcde"
ACCOUNT = "123456789012"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
CHECKS = ["pod", "cluster issuer", "service account", "pod identity webhook", "pod mutated", "IAM provider", "token audience",
          "published keys", "trust policy", "session duration", "role policies", "exchange"]


class World:
    def __init__(self, aws: AwsWorld, kube: KubeAPI, role_arn: str, role_name: str, policy_arn: str) -> None:
        self.aws, self.kube, self.role_arn, self.role_name, self.policy_arn = aws, kube, role_arn, role_name, policy_arn

    def doctor(self, *extra: str, target: tuple[str, ...] = ("--pod", POD)) -> tuple[int, dict[str, dict], dict]:
        result = invoke("doctor", "-n", NS, *target, *extra, "-o", "json")
        assert "Traceback" not in result.stderr
        body = result.json()
        return result.exit_code, {c["check"]: c for c in body["checks"]}, body


@pytest.fixture
def world(aws: AwsWorld, front: Front, kube_api: KubeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """A healthy cluster: published issuer and provider, a role made by role create, annotated service
    account, the webhook running, and a pod it mutated."""
    front(BUCKET, ("*.s3.us-east-1.amazonaws.com",))
    kube_api.issuer = ISSUER
    pub = k.write(tmp_path / "sa.pub", k.public_pem(kube_api.keys[0]))
    assert invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub)).exit_code == 0
    iam = aws.client("iam")
    policy = iam.create_policy(PolicyName="cart-s3", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))["Policy"]["Arn"]
    made = invoke("role", "create", "--issuer-url", ISSUER, "--namespace", NS, "--service-account", SA, "--policy-arn", policy, "-o", "json")
    assert made.exit_code == 0, made.stderr
    role_arn, role_name = made.json()["role_arn"], made.json()["role_name"]
    kube_api.service_accounts[(NS, SA)] = {ROLE_ARN_ANNOTATION: role_arn}
    kube_api.install_webhook()
    kube_api.add_pod(NS, POD, SA, mutated_for=role_arn, deployment="cart")
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig(tmp_path / "kubeconfig")))
    aws.recorder.reset()
    kube_api.requests.clear()
    return World(aws, kube_api, role_arn, role_name, policy)


def failed(checks: dict[str, dict]) -> list[str]:
    return [name for name, c in checks.items() if c["status"] == "fail"]


def test_a_healthy_pod_passes_every_check_and_doctor_only_reads(world: World) -> None:
    code, checks, body = world.doctor()
    assert code == 0, body
    assert list(checks) == CHECKS == list(diagnosis.CHECKS)
    assert {c["status"] for c in checks.values()} == {"pass"}
    assert checks["exchange"]["detail"].endswith("a local emulator's STS ignores the token, so this is not proof; run doctor against AWS)")
    assert checks["exchange"]["detail"].startswith(f"STS returned credentials for arn:aws:sts::{ACCOUNT}:assumed-role/{world.role_name}/oidc-publisher-doctor")
    assert checks["pod mutated"]["detail"].startswith(f"pod {NS}/{POD}: AWS_ROLE_ARN {world.role_arn}")
    assert len(body["hints"]) == 2 and "--http-put-response-hop-limit 1" in body["hints"][0]
    # AWS: reads, and the exchange; no write of any kind.
    assert world.aws.recorder.writes == []
    assert sorted(op for _, op in world.aws.recorder.calls) == [
        "AssumeRoleWithWebIdentity", "GetOpenIDConnectProvider", "GetRole", "ListAttachedRolePolicies", "ListRolePolicies"]
    # Kubernetes: GETs, and one TokenRequest (a create that stores nothing).
    not_get = [(r.method, r.path) for r in world.kube.requests if r.method != "GET"]
    assert not_get == [("POST", f"/api/v1/namespaces/{NS}/serviceaccounts/{SA}/token")]
    assert sorted({r.path for r in world.kube.requests if r.method == "GET"}) == sorted({
        "/.well-known/openid-configuration", f"/api/v1/namespaces/{NS}/pods/{POD}", f"/api/v1/namespaces/{NS}/serviceaccounts/{SA}",
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
        "/api/v1/namespaces/pod-identity-webhook/services/pod-identity-webhook",
        "/api/v1/namespaces/pod-identity-webhook/endpoints/pod-identity-webhook",
    })


def test_text_and_json_give_the_same_checklist(world: World) -> None:
    _, checks, _ = world.doctor()
    text = invoke("doctor", "-n", NS, "--pod", POD)
    assert text.exit_code == 0
    lines = re.findall(r"^  \[(ok  |FAIL|skip)\] ([^:]+): ", text.stdout, re.M)
    assert [(name, {"ok  ": "pass", "FAIL": "fail", "skip": "skip"}[mark]) for mark, name in lines] == [
        (name, c["status"]) for name, c in checks.items()]
    assert "All checks passed: this pod can trade its token for the role's credentials." in text.stdout


def test_a_service_account_alone(world: World) -> None:
    code, checks, _ = world.doctor(target=("--service-account", SA))
    assert code == 0
    assert "pod" not in checks
    assert checks["pod mutated"] == {"check": "pod mutated", "status": "skip", "detail": "no pod to look at (give --pod NAME)"}


def test_wrong_sub_in_the_trust_policy(world: World) -> None:
    iam = world.aws.client("iam")
    document = json.loads(json.dumps(iam.get_role(RoleName=world.role_name)["Role"]["AssumeRolePolicyDocument"]))
    document["Statement"][0]["Condition"]["StringEquals"][f"{HOST}:sub"] = f"system:serviceaccount:{NS}:checkout"
    iam.update_assume_role_policy(RoleName=world.role_name, PolicyDocument=json.dumps(document))
    code, checks, _ = world.doctor()
    assert code == 1
    assert failed(checks) == ["trust policy"]
    trust = checks["trust policy"]
    assert trust["detail"] == (
        f"Not authorized to perform sts:AssumeRoleWithWebIdentity: {world.role_name}'s trust policy does not admit the token: "
        f"StringEquals {HOST}:sub system:serviceaccount:{NS}:checkout does not admit 'system:serviceaccount:{NS}:{SA}'")
    first, fixed = trust["fix"].split(":\n", 1)
    assert first == (f"oidc-publisher role create --issuer-url {ISSUER} --namespace {NS} --service-account {SA} "
                     f"--role-name {world.role_name} converges it (the tool made this role)")
    assert json.loads(fixed)["Condition"]["StringEquals"] == {f"{HOST}:aud": "sts.amazonaws.com", f"{HOST}:sub": f"system:serviceaccount:{NS}:{SA}"}
    assert checks["exchange"] == {"check": "exchange", "status": "skip", "detail": "STS would refuse: see trust policy"}


def test_a_wildcard_that_admits_is_an_audit_finding(world: World) -> None:
    iam = world.aws.client("iam")
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": PROVIDER},
                "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringLike": {f"{HOST}:sub": f"system:serviceaccount:{NS}:*"},
                                                                          "StringEquals": {f"{HOST}:aud": "sts.amazonaws.com"}}}]}
    iam.update_assume_role_policy(RoleName=world.role_name, PolicyDocument=json.dumps(document))
    code, checks, body = world.doctor()
    assert code == 0
    assert checks["trust policy"]["detail"].endswith(f"audit finding: wildcard subject (high): system:serviceaccount:{NS}:* matches more than one service account")
    assert body["findings"] == [{"role": world.role_name, "severity": "high", "finding": "wildcard subject",
                                 "detail": f"system:serviceaccount:{NS}:* matches more than one service account"}]


def test_missing_provider(world: World) -> None:
    world.aws.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=PROVIDER)
    code, checks, _ = world.doctor()
    assert code == 1
    assert failed(checks) == ["IAM provider"]
    assert checks["IAM provider"]["detail"] == f"No OpenIDConnect provider found in your account for {HOST} (account {ACCOUNT}, the role's)"
    assert checks["IAM provider"]["fix"] == f"oidc-publisher register --issuer-url {ISSUER} (with credentials of account {ACCOUNT})"
    assert checks["token audience"]["status"] == "skip"


def test_wrong_audience(world: World) -> None:
    world.kube.add_pod(NS, POD, SA, mutated_for=world.role_arn, audience="vault", deployment="cart")
    code, checks, _ = world.doctor()
    assert code == 1
    assert failed(checks) == ["token audience", "trust policy"]
    assert checks["token audience"]["detail"] == (
        "Incorrect token audience: the pod's tokens are for vault (the pod's projected token), the provider accepts sts.amazonaws.com")
    assert checks["token audience"]["fix"].startswith(f"oidc-publisher register --issuer-url {ISSUER} --client-id vault")


def test_pod_created_before_the_annotation(world: World) -> None:
    world.kube.add_pod(NS, POD, SA, created="2026-01-01T00:00:00Z", deployment="cart")
    world.kube.annotated_at[(NS, SA)] = "2026-01-02T09:30:00Z"
    code, checks, _ = world.doctor()
    assert code == 1
    assert failed(checks) == ["pod mutated"]
    assert checks["pod mutated"]["detail"].startswith(
        f"pod {NS}/{POD} was not mutated (app lacks AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, the aws-iam-token volume mount): "
        "it was created at 2026-01-01T00:00:00Z, before the service account was annotated at 2026-01-02T09:30:00Z")
    assert checks["pod mutated"]["fix"] == f"recreate it: kubectl -n {NS} rollout restart deployment/cart"


def test_webhook_without_endpoints(world: World) -> None:
    world.kube.install_webhook(ready=False)
    code, checks, _ = world.doctor()
    assert code == 1
    assert failed(checks) == ["pod identity webhook"]
    assert checks["pod identity webhook"]["detail"] == (
        "the Service pod-identity-webhook/pod-identity-webhook has no ready endpoints: the webhook cannot answer and "
        "pods created meanwhile get no AWS credentials")
    assert checks["pod identity webhook"]["fix"].startswith("kubectl -n pod-identity-webhook get pods,deploy -o wide")


def test_webhook_without_a_ca_bundle(world: World) -> None:
    world.kube.install_webhook(ca_bundle=False)
    _, checks, _ = world.doctor()
    assert failed(checks) == ["pod identity webhook"]
    assert "has no caBundle" in checks["pod identity webhook"]["detail"]


def test_unpublished_signing_key(world: World) -> None:
    world.kube.keys.append(k.rsa_key())
    world.kube.signing = 1  # the API server signs with a key that was never published
    code, checks, _ = world.doctor()
    assert code == 1
    assert failed(checks) == ["published keys"]
    assert checks["published keys"]["detail"].startswith(
        f"a token minted for {NS}/{SA} fails at STS (token): Couldn't retrieve verification key from your identity provider: the token's kid")
    assert checks["published keys"]["fix"] == "publish the cluster's current keys (oidc-publisher publish --from-cluster)"


def test_missing_annotation(world: World) -> None:
    world.kube.service_accounts[(NS, SA)] = {}
    world.kube.add_pod(NS, POD, SA, deployment="cart")
    code, checks, _ = world.doctor()
    assert code == 1
    assert failed(checks) == ["service account"]
    assert checks["service account"]["detail"].startswith(f"{NS}/{SA} has no {ROLE_ARN_ANNOTATION} annotation")
    assert checks["service account"]["fix"].startswith(f"kubectl annotate serviceaccount -n {NS} {SA} {ROLE_ARN_ANNOTATION}=arn:aws:iam::ACCOUNT:role/ROLE")
    assert [name for name, c in checks.items() if c["status"] == "skip"] == [
        "pod mutated", "IAM provider", "token audience", "trust policy", "session duration", "role policies", "exchange"]


def test_role_without_policies(world: World) -> None:
    world.aws.client("iam").detach_role_policy(RoleName=world.role_name, PolicyArn=world.policy_arn)
    code, checks, _ = world.doctor()
    assert code == 1
    assert failed(checks) == ["role policies"]
    assert checks["role policies"]["detail"] == f"{world.role_name} has no policy: the exchange works, and every AWS call is then denied"
    assert checks["role policies"]["fix"].startswith(f"aws iam attach-role-policy --role-name {world.role_name} --policy-arn POLICY_ARN")
    assert checks["exchange"]["status"] == "pass"  # the exchange itself does not need a policy


def test_missing_role(world: World) -> None:
    iam = world.aws.client("iam")
    iam.detach_role_policy(RoleName=world.role_name, PolicyArn=world.policy_arn)
    iam.delete_role(RoleName=world.role_name)
    code, checks, _ = world.doctor()
    assert code == 1
    assert failed(checks) == ["trust policy"]
    assert checks["trust policy"]["fix"].startswith(f"oidc-publisher role create --issuer-url {ISSUER} --namespace {NS} --service-account {SA}")


def test_annotation_with_another_path_than_the_role(world: World) -> None:
    moved = world.role_arn.replace(":role/", ":role/team/")
    world.kube.service_accounts[(NS, SA)] = {ROLE_ARN_ANNOTATION: moved}
    world.kube.add_pod(NS, POD, SA, mutated_for=moved, deployment="cart")
    code, checks, _ = world.doctor()
    assert code == 1
    assert failed(checks) == ["trust policy"]
    assert checks["trust policy"]["detail"] == (
        f"the annotation names {moved}, but the role {world.role_name} is {world.role_arn}: STS looks the role up by the exact ARN")
    assert checks["trust policy"]["fix"] == f"kubectl annotate --overwrite serviceaccount -n {NS} {SA} {ROLE_ARN_ANNOTATION}={world.role_arn}"


def test_a_check_without_permission_names_it_and_the_others_go_on(world: World) -> None:
    world.kube.forbid.add("/apis/admissionregistration.k8s.io/")
    world.aws.proxy.fail_next("GetRole", status=403, code="AccessDenied")
    code, checks, _ = world.doctor()
    assert code == 1
    assert failed(checks) == ["pod identity webhook", "trust policy"]
    assert checks["pod identity webhook"]["detail"] == (
        f"cannot check: the API server {world.kube.url} forbids reading mutating webhook configurations (403)")
    assert checks["pod identity webhook"]["fix"] == (
        "grant this identity RBAC list mutatingwebhookconfigurations (admissionregistration.k8s.io, cluster-wide)")
    assert checks["trust policy"]["detail"] == f"cannot check: iam:GetRole on {world.role_name} failed (AccessDenied: injected by the test)"
    assert checks["trust policy"]["fix"] == "grant iam:GetRole to the caller (see docs/iam-permissions.md)"
    assert {checks[n]["status"] for n in ("IAM provider", "token audience", "published keys", "pod mutated")} == {"pass"}


def test_token_request_forbidden(world: World) -> None:
    world.kube.forbid.add(f"/api/v1/namespaces/{NS}/serviceaccounts/{SA}/token")
    _, checks, _ = world.doctor()
    assert failed(checks) == ["published keys"]
    assert checks["published keys"]["fix"] == f"grant this identity RBAC create serviceaccounts/token in namespace {NS}"
    assert checks["exchange"]["status"] == "skip"


def test_usage(world: World) -> None:
    for target in ((), ("--pod", POD, "--service-account", SA)):
        result = invoke("doctor", "-n", NS, *target)
        assert result.exit_code == 2
        assert result.stderr == "error: give exactly one of --pod NAME or --service-account NAME; e.g. doctor -n default --pod my-app-7d9f-x2x\n"
    assert world.kube.requests == []


# --- the pure checks ---------------------------------------------------------------------------------


def test_annotations_must_be_well_formed() -> None:
    def sa(**annotations: str) -> dict:
        return {"metadata": {"name": SA, "namespace": NS, "annotations": annotations}}

    role = {ROLE_ARN_ANNOTATION: f"arn:aws:iam::{ACCOUNT}:role/team/cart"}
    check, intent = check_service_account(sa(**role), NS, SA, ISSUER)
    assert check.status == "pass" and intent is not None and intent.role_name == "cart" and intent.token_seconds == 86400
    for bad, fragment in (({ROLE_ARN_ANNOTATION: "cart-role"}, "is not a role ARN"),
                          ({**role, "eks.amazonaws.com/token-expiration": "1h"}, "'1h' is not a number of seconds"),
                          ({**role, "eks.amazonaws.com/token-expiration": "60"}, "'60' is not a number of seconds"),
                          ({**role, "eks.amazonaws.com/sts-regional-endpoints": "yes"}, "'yes' is neither")):
        check, intent = check_service_account(sa(**bad), NS, SA, ISSUER)
        assert (check.status, intent) == ("fail", None) and fragment in check.detail, check


def test_trust_conditions_evaluated_like_iam() -> None:
    context = {"sub": f"system:serviceaccount:{NS}:{SA}", "aud": "sts.amazonaws.com"}

    def refusals(condition: dict) -> list[str]:
        return evaluate_statement({"Condition": condition}, HOST, context)

    assert refusals({"StringLike": {f"{HOST}:sub": "system:serviceaccount:shop:*"}}) == []
    assert refusals({"StringEquals": {f"{HOST}:SUB": context["sub"]}}) == []  # keys are case-insensitive
    assert refusals({"ForAnyValue:StringEquals": {f"{HOST}:aud": ["vault", "sts.amazonaws.com"]}}) == []
    assert refusals({"StringNotEquals": {f"{HOST}:sub": context["sub"]}}) == [
        f"StringNotEquals {HOST}:sub {context['sub']} does not admit {context['sub']!r}"]
    assert refusals({"StringEquals": {f"{HOST}:amr": "x"}}) == [f"StringEquals {HOST}:amr x does not admit None"]
    assert refusals({"StringEqualsIfExists": {f"{HOST}:amr": "x"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}) == []


def test_the_command_that_recreates_a_pod() -> None:
    def pod(*owners: tuple[str, str]) -> dict:
        return {"metadata": {"namespace": NS, "name": "p", "ownerReferences": [{"kind": kind, "name": name} for kind, name in owners]}}

    assert recreate_command(pod(("ReplicaSet", "web-5c9d7f"))) == f"kubectl -n {NS} rollout restart deployment/web"
    assert recreate_command(pod(("StatefulSet", "db"))) == f"kubectl -n {NS} rollout restart statefulset/db"
    assert recreate_command(pod(("Job", "nightly"))) == f"kubectl -n {NS} delete pod p (its Job nightly creates a new one)"
    assert recreate_command(pod()).startswith(f"kubectl -n {NS} get pod p -o yaml > pod.yaml")


def test_sts_refusing_the_exchange_is_named(world: World) -> None:
    world.aws.proxy.fail_next("AssumeRoleWithWebIdentity", status=400, code="InvalidIdentityToken")
    code, checks, _ = world.doctor()
    assert code == 1
    assert failed(checks) == ["exchange"]
    assert checks["exchange"]["detail"] == "AssumeRoleWithWebIdentity failed: InvalidIdentityToken: injected by the test"
    assert checks["exchange"]["fix"] == "see the IAM provider and published keys checks"
    assert ("sts", "AssumeRoleWithWebIdentity") in world.aws.recorder.calls


def test_the_api_server_refusing_the_credentials_is_one_line(world: World, tmp_path: Path) -> None:
    bad = world.kube.kubeconfig(tmp_path / "bad", kind="bad-token")
    result = invoke("doctor", "-n", NS, "--pod", POD, "--kubeconfig", str(bad))
    assert result.exit_code == 1
    assert result.stderr == f"error: the API server {world.kube.url} refused the credentials (401); refresh the kubeconfig's token or certificate\n"
    assert world.aws.recorder.calls == []


def test_bad_names_are_refused_before_any_call(world: World) -> None:
    for target, message in ((("-n", "Shop", "--pod", POD), "namespace 'Shop' is not a valid Kubernetes name"),
                            (("-n", NS, "--pod", "../secrets/x"), "pod '../secrets/x' is not a valid Kubernetes name"),
                            (("-n", NS, "--service-account", "a b"), "service account 'a b' is not a valid Kubernetes name")):
        result = invoke("doctor", *target)
        assert result.exit_code == 2  # bad input
        assert result.stderr.startswith(f"error: {message}; "), result.stderr
    assert world.kube.requests == [] and world.aws.recorder.calls == []


def test_mutation_in_every_container_but_the_skipped_ones() -> None:
    from oidc_publisher.core.diagnosis import check_mutation
    from tests.support.kube_api import KubeAPI

    role = f"arn:aws:iam::{ACCOUNT}:role/cart"
    _, intent = check_service_account({"metadata": {"annotations": {ROLE_ARN_ANNOTATION: role}}}, NS, SA, ISSUER)
    assert intent is not None
    api = KubeAPI(issuer=ISSUER, keys=[])
    pod = api.add_pod(NS, POD, SA, mutated_for=role, deployment="cart")
    sa: dict = {"metadata": {}}
    assert check_mutation(pod, sa, intent).status == "pass"
    pod["spec"]["containers"].append({"name": "istio-proxy", "image": "istio/proxyv2"})
    check = check_mutation(pod, sa, intent)
    assert check.status == "fail" and "istio-proxy lacks AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, the aws-iam-token volume mount" in check.detail
    pod["metadata"]["annotations"] = {"eks.amazonaws.com/skip-containers": "istio-proxy"}
    assert check_mutation(pod, sa, intent).status == "pass"
    _, moved = check_service_account({"metadata": {"annotations": {ROLE_ARN_ANNOTATION: role + "-v2"}}}, NS, SA, ISSUER)
    assert moved is not None
    stale = check_mutation(pod, sa, moved)
    assert (stale.status, stale.fix) == ("fail", f"recreate it: kubectl -n {NS} rollout restart deployment/cart")
    assert stale.detail == f"pod {NS}/{POD} has AWS_ROLE_ARN {role}, the service account is now annotated with {role}-v2"


def test_trust_policy_differences_and_fixes() -> None:
    from oidc_publisher.core.diagnosis import check_trust
    from oidc_publisher.core.issuer import parse_issuer
    from oidc_publisher.core.trust import trust_policy

    role = f"arn:aws:iam::{ACCOUNT}:role/cart"
    _, intent = check_service_account({"metadata": {"annotations": {ROLE_ARN_ANNOTATION: role}}}, NS, SA, ISSUER)
    assert intent is not None
    good = trust_policy(PROVIDER, parse_issuer(ISSUER), NS, SA)
    fixed = good["Statement"][0]

    def judge(document: dict, tags: dict | None = None) -> tuple[str, str, str]:
        check, _ = check_trust(document, "cart", tags or {}, PROVIDER, HOST, intent, "sts.amazonaws.com", fixed, ISSUER)
        return check.status, check.detail, check.fix

    assert judge(good)[0] == "pass"
    other = f"arn:aws:iam::{ACCOUNT}:oidc-provider/other.example.com"
    status, detail, fix = judge({"Statement": [{**fixed, "Principal": {"Federated": other}}]})
    assert (status, detail.split(": ")[-1]) == ("fail", f"it trusts {other}, not {PROVIDER}")
    assert fix.startswith("add this statement to the trust policy of cart (aws iam update-assume-role-policy --role-name cart")
    assert json.loads(fix.split(":\n", 1)[1]) == fixed
    deny = {"Effect": "Deny", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity"}
    assert judge({"Statement": [fixed, deny]})[1] == (
        f"Not authorized to perform sts:AssumeRoleWithWebIdentity: a Deny statement of cart matches system:serviceaccount:{NS}:{SA}")
    assert judge({"Statement": fixed}, {"managed-by": "oidc-publisher"})[0] == "pass"  # a lone statement, not in a list


def test_a_kubeconfig_that_skips_tls_verification_is_refused_unless_the_risk_is_accepted(world: World, tmp_path: Path) -> None:
    """doctor compares the cluster's keys with the published ones: read over an unverified connection, that
    comparison proves nothing. Refused like --from-cluster, before any call; the named flag warns."""
    from tests.test_kube import insecure_kubeconfig

    config = insecure_kubeconfig(world.kube, tmp_path)
    refused = invoke("doctor", "-n", NS, "--pod", POD, "--kubeconfig", str(config))
    assert refused.exit_code == 2  # bad input: the kubeconfig
    assert refused.stderr.startswith(f"error: the kubeconfig {config} sets insecure-skip-tls-verify for the API server {world.kube.url}; ")
    assert refused.stderr.count("\n") == 1
    assert world.kube.requests == [] and world.aws.recorder.calls == []
    accepted = invoke("doctor", "-n", NS, "--pod", POD, "--kubeconfig", str(config), "--insecure-skip-tls-verify")
    assert accepted.exit_code == 0, accepted.stdout + accepted.stderr
    assert accepted.stderr.startswith(f"warning: --insecure-skip-tls-verify: the API server {world.kube.url} is reached without verifying")
    assert "All checks passed" in accepted.stdout


def test_the_missing_webhook_fix_is_a_command_that_works(world: World, tmp_path: Path) -> None:
    """The fix doctor prints for a missing webhook renders the webhook when run as written (placeholders filled)."""
    world.kube.webhook_configurations = []
    code, checks, _ = world.doctor()
    assert code == 1
    fix = checks["pod identity webhook"]["fix"]
    assert fix == diagnosis.WEBHOOK_INSTALL
    command = fix.split(", then ")[0].replace("ISSUER", ISSUER).replace("REGION", "us-east-1").replace("DIR", str(tmp_path / "wh"))
    rendered = invoke(*command.split()[1:])
    assert rendered.exit_code == 0, rendered.stderr
    assert any((tmp_path / "wh").iterdir())
