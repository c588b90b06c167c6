"""The typed plan: steps carry declared operations; phases order them; --output json shows the calls."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import pytest

from oidc_publisher.aws.executor import execute
from oidc_publisher.core.operations import SURFACE, Operation
from oidc_publisher.core.plan import Plan, step


def test_phases_keep_plan_order_within_a_phase_and_order_phases() -> None:
    plan = Plan()
    a = plan.add("s3://b", "update", "policy", Operation("s3", "put_bucket_policy", {"Bucket": "b", "Policy": "{}"}), phase=2)
    b = plan.add("s3://b", "create", "bucket", Operation("s3", "create_bucket", {"Bucket": "b"}), phase=0)
    c = plan.add("s3://b", "update", "versioning", Operation("s3", "put_bucket_versioning", {"Bucket": "b"}), phase=1)
    d = plan.add("s3://b", "update", "encryption", Operation("s3", "put_bucket_encryption", {"Bucket": "b"}), phase=1)
    assert plan.phases == [[b], [c, d], [a]]
    assert plan.changes == [a, b, c, d]


def test_an_undeclared_call_cannot_be_planned() -> None:
    with pytest.raises(KeyError, match=r"s3\.put_bucket_acl is not in the declared AWS surface"):
        Operation("s3", "put_bucket_acl", {"Bucket": "b", "ACL": "public-read"})


def test_json_shows_the_call_bodies_by_digest_and_policies_as_documents() -> None:
    body = b'{"keys":[]}'
    put = step("s3://b/openid/v1/jwks", "write", "new key", "s3", "put_object", Bucket="b", Key="openid/v1/jwks", Body=body)
    policy = step("s3://b", "update", "read", "s3", "put_bucket_policy", Bucket="b", Policy='{"Version": "2012-10-17"}')
    assert put.to_json()["operation"] == {
        "call": "s3:PutObject",
        "params": {"Bucket": "b", "Key": "openid/v1/jwks", "Body": {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}},
    }
    assert policy.to_json()["operation"]["params"]["Policy"] == {"Version": "2012-10-17"}


def test_every_declared_write_names_the_iam_actions_it_needs() -> None:
    for (service, method), call in SURFACE.items():
        assert call.service == service and call.method == method
        if call.writes:
            assert call.actions and all(a.startswith(f"{service}:") for a in call.actions), call


def test_a_ref_takes_its_value_from_an_earlier_steps_answer_and_shows_as_a_reference() -> None:
    """The executor puts in, just before the call, what the step named by the Ref answered; --output json
    shows the reference, never a made-up id."""

    from oidc_publisher.aws.executor import execute
    from oidc_publisher.core.operations import Ref
    from oidc_publisher.core.plan import Step

    oac = Ref("oac", "OriginAccessControl.Id")
    make = Step("oac", "create", "r", Operation("cloudfront", "create_origin_access_control", {"OriginAccessControlConfig": {}}), 0, "oac")
    use = Step("dist", "update", "r", Operation("cloudfront", "update_distribution",
                                                {"Id": "E1", "IfMatch": "x", "DistributionConfig": {"Origins": [{"OriginAccessControlId": oac}]}}), 1)
    sent: list[tuple[str, dict[str, Any]]] = []

    class Client:
        def create_origin_access_control(self, **params: Any) -> dict[str, Any]:
            sent.append(("create", params))
            return {"OriginAccessControl": {"Id": "E1OAC"}, "ResponseMetadata": {}}

        def update_distribution(self, **params: Any) -> dict[str, Any]:
            sent.append(("update", params))
            return {}

    class Clients:
        def client(self, service: str, region: str | None = None) -> Client:
            return Client()

    done = execute([use, make], Clients())  # type: ignore[arg-type]
    assert sent[1] == ("update", {"Id": "E1", "IfMatch": "x", "DistributionConfig": {"Origins": [{"OriginAccessControlId": "E1OAC"}]}})
    assert [d.step for d in done] == [use, make] and done[1].response == {"OriginAccessControl": {"Id": "E1OAC"}}
    assert use.to_json()["operation"]["params"]["DistributionConfig"] == {
        "Origins": [{"OriginAccessControlId": {"ref": "oac", "path": "OriginAccessControl.Id"}}]
    }
    assert make.to_json()["key"] == "oac"
    with pytest.raises(KeyError, match=r"oac\.OriginAccessControl\.Id is not in the answers"):
        use.operation.resolved({})  # type: ignore[union-attr]


class _Client:
    """Stands in for a boto3 client: records each call; the policy call says when it has been made."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.policy_written = threading.Event()

    def create_bucket(self, **params: Any) -> None:
        self.log.append("CreateBucket")

    def put_public_access_block(self, **params: Any) -> None:
        self.log.append("PutPublicAccessBlock")

    def put_bucket_policy(self, **params: Any) -> None:
        self.log.append("PutBucketPolicy")
        self.policy_written.set()


class _Clients:
    def __init__(self, client: _Client) -> None:
        self._client = client

    def client(self, service: str, region: str | None = None) -> _Client:
        return self._client


def _bucket_plan() -> Plan:
    return Plan([
        step("s3://b", "create", "new", "s3", "create_bucket", phase=0, Bucket="b"),
        step("s3://b", "update", "block", "s3", "put_public_access_block", phase=1, Bucket="b"),
        step("s3://b", "update", "read", "s3", "put_bucket_policy", phase=2, Bucket="b", Policy="{}"),
    ])


def test_alongside_tasks_run_with_their_phase_and_the_next_phase_waits_for_them() -> None:
    client = _Client()

    def documents() -> None:
        assert client.log[:1] == ["CreateBucket"]  # after the phases before theirs
        client.log.append("documents")

    execute(_bucket_plan(), _Clients(client), alongside=[documents])  # type: ignore[arg-type]
    assert client.log.index("documents") < client.log.index("PutBucketPolicy")
    assert client.log[0] == "CreateBucket" and client.log[-1] == "PutBucketPolicy"


def test_alongside_to_end_runs_them_beside_every_later_phase_too() -> None:
    client = _Client()

    def documents() -> None:
        assert client.log[:1] == ["CreateBucket"]
        # Phase 2 goes on while this task still runs: waited for in turn, this would time out.
        assert client.policy_written.wait(timeout=10)
        client.log.append("documents")

    execute(_bucket_plan(), _Clients(client), alongside=[documents], alongside_to_end=True)  # type: ignore[arg-type]
    assert client.log == ["CreateBucket", "PutPublicAccessBlock", "PutBucketPolicy", "documents"]
