"""Rotation never loses a key and never stalls, against moto's server: ``--revoke`` stays in the job
without stopping it, time comes from AWS (the Date of its answers) whatever the node's clock says, and a
CloudFront invalidation that failed is redone by the next run. AWS's clock is moved, never slept on."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from oidc_publisher.commands import publish as publishing
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.motoserver import AwsClock, AwsWorld
from tests.test_rotation import OLD_STATE_REVOKED

BUCKET = "careful-issuer"
STATE = ".oidc-publisher/state.json"


def live_kids(aws: AwsWorld, bucket: str = BUCKET, key: str = "openid/v1/jwks") -> set[str]:
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return {entry["kid"] for entry in json.loads(body)["keys"]}


def state(aws: AwsWorld, bucket: str = BUCKET) -> dict:
    return json.loads(aws.client("s3").get_object(Bucket=bucket, Key=STATE)["Body"].read())


@pytest.fixture
def keyfiles(aws: AwsWorld, tmp_path: Path) -> dict[str, Path]:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    return {
        "one": k.write(tmp_path / "one.pub", k.K8S_RSA_PUBLIC_KEY),
        "two": k.write(tmp_path / "two.pub", k.K8S_EC_PUBLIC_KEY),
        "three": k.write(tmp_path / "three.pub", k.public_pem(k.rsa_key())),
    }


def node_clock(monkeypatch: pytest.MonkeyPatch, offset: dt.timedelta) -> None:
    """This node's clock, off by ``offset`` (AWS's clock is untouched)."""
    monkeypatch.setattr(publishing, "local_clock", lambda: dt.datetime.now(dt.timezone.utc) + offset)


def retire_one(keyfiles: dict[str, Path], *extra: str) -> None:
    """One and two published, then one leaves the source (retained)."""
    both = ["--public-key", str(keyfiles["one"]), "--public-key", str(keyfiles["two"])]
    assert invoke("publish", "--bucket", BUCKET, *both, *extra).exit_code == 0
    assert invoke("publish", "--bucket", BUCKET, "--public-key", str(keyfiles["two"]), *extra).exit_code == 0


# ---------------------------------------------------------------- --revoke is idempotent


def test_the_job_keeps_its_revoke_and_still_publishes_the_next_key(aws: AwsWorld, keyfiles: dict[str, Path]) -> None:
    retire_one(keyfiles)
    job = ["publish", "--bucket", BUCKET, "--revoke", k.K8S_RSA_KID, "--public-key", str(keyfiles["two"])]
    assert invoke(*job).exit_code == 0
    assert live_kids(aws) == {k.K8S_EC_KID}
    # The next run of the same job: a no-op with a note, no warning, nothing written.
    aws.recorder.reset()
    again = invoke(*job)
    assert again.exit_code == 0, again.stderr
    assert again.stderr == ""
    assert again.stdout.strip().endswith(f"published 1 key; already revoked {k.K8S_RSA_KID}; no changes")
    assert aws.recorder.writes == []
    # The next key change, with the --revoke still in the job: published, as it must be.
    three = invoke(*job, "--public-key", str(keyfiles["three"]), "-o", "json")
    assert three.exit_code == 0, three.stderr
    assert three.json()["already_revoked"] == [k.K8S_RSA_KID] and len(three.json()["added"]) == 1
    assert live_kids(aws) == {k.K8S_EC_KID, three.json()["added"][0]}
    assert list(state(aws)["revoked"]) == [k.K8S_RSA_KID]


def test_a_kid_never_seen_is_still_refused_in_one_line(aws: AwsWorld, keyfiles: dict[str, Path]) -> None:
    retire_one(keyfiles)
    aws.recorder.reset()
    typo = invoke("publish", "--bucket", BUCKET, "--public-key", str(keyfiles["two"]), "--revoke", "nope")
    assert typo.exit_code == 2  # bad input
    assert typo.stderr.splitlines() == [
        "error: --revoke nope: no published key has that kid; check the kid (oidc-publisher verify lists them)"
    ]
    assert aws.recorder.writes == []


def test_a_fleet_file_revoke_entry_stays_and_the_fleet_still_converges(aws: AwsWorld, keyfiles: dict[str, Path], tmp_path: Path) -> None:
    retire_one(keyfiles)
    entry = {"name": "prod", "bucket": BUCKET, "region": "us-east-1", "public_keys": [str(keyfiles["two"])],
             "revoke": [k.K8S_RSA_KID]}
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({"clusters": [entry]}))
    assert invoke("publish", "--fleet", str(fleet)).exit_code == 0
    assert live_kids(aws) == {k.K8S_EC_KID}
    again = invoke("publish", "--fleet", str(fleet))
    assert again.exit_code == 0, again.stdout + again.stderr
    assert f"prod: https://{BUCKET}.s3.us-east-1.amazonaws.com: unchanged (published 1 key; already revoked {k.K8S_RSA_KID})" in again.stdout
    entry["public_keys"] = [str(keyfiles["two"]), str(keyfiles["three"])]
    fleet.write_text(json.dumps({"clusters": [entry]}))
    grown = invoke("publish", "--fleet", str(fleet))
    assert grown.exit_code == 0, grown.stdout + grown.stderr
    assert len(live_kids(aws)) == 2 and k.K8S_EC_KID in live_kids(aws)


def test_a_state_written_by_the_previous_release_works_with_a_standing_revoke(aws: AwsWorld, keyfiles: dict[str, Path]) -> None:
    issuer = "https://i.example.com"
    job = ["publish", "--bucket", BUCKET, "--issuer-url", issuer, "--revoke", k.K8S_RSA_KID, "--public-key", str(keyfiles["two"])]
    assert invoke("publish", "--bucket", BUCKET, "--issuer-url", issuer, "--public-key", str(keyfiles["two"])).exit_code == 0
    aws.client("s3").put_object(Bucket=BUCKET, Key=STATE, Body=OLD_STATE_REVOKED)  # the bytes the last release wrote
    aws.recorder.reset()
    result = invoke(*job)
    assert result.exit_code == 0, result.stderr
    assert f"already revoked {k.K8S_RSA_KID}" in result.stdout
    assert aws.recorder.writes == []  # the old state is exactly what this release would write
    assert invoke(*job, "--public-key", str(keyfiles["three"])).exit_code == 0
    assert state(aws)["revoked"] == {k.K8S_RSA_KID: "2026-01-01T02:00:00Z"}  # its recorded time is kept


# ---------------------------------------------------------------- time comes from AWS


def test_a_node_49h_ahead_does_not_drop_a_retained_key(aws: AwsWorld, aws_clock: AwsClock, keyfiles: dict[str, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    retire_one(keyfiles)
    left = state(aws)["keys"][k.K8S_RSA_KID]["left_source"]
    node_clock(monkeypatch, dt.timedelta(hours=49))
    ahead = invoke("publish", "--bucket", BUCKET, "--public-key", str(keyfiles["two"]), "-o", "json")
    assert ahead.exit_code == 0, ahead.stderr
    assert ahead.stderr.splitlines() == [
        "warning: the local clock is 49h00m ahead of AWS's: this run timed retention by AWS's clock; "
        "fix the node's time sync (NTP)"
    ]
    assert ahead.json()["removed"] == [] and [r["kid"] for r in ahead.json()["retained"]] == [k.K8S_RSA_KID]
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID}
    assert state(aws)["keys"][k.K8S_RSA_KID]["left_source"] == left
    # Retention ends by AWS's clock, whatever the node's.
    aws_clock.advance(hours=47)
    assert invoke("publish", "--bucket", BUCKET, "--public-key", str(keyfiles["two"]), "-o", "json").json()["removed"] == []
    aws_clock.advance(hours=1, seconds=1)
    dropped = invoke("publish", "--bucket", BUCKET, "--public-key", str(keyfiles["two"]), "-o", "json")
    assert dropped.json()["removed"] == [k.K8S_RSA_KID]
    assert live_kids(aws) == {k.K8S_EC_KID}
    assert list(state(aws)["removed"]) == [k.K8S_RSA_KID]  # remembered past its retention


def test_a_node_behind_records_the_removal_at_aws_time(aws: AwsWorld, aws_clock: AwsClock, keyfiles: dict[str, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    node_clock(monkeypatch, -dt.timedelta(hours=49))
    retire_one(keyfiles)

    def recorded(kid: str, field: str) -> dt.timedelta:
        when = dt.datetime.strptime(state(aws)["keys"][kid][field], "%Y-%m-%dT%H:%M:%SZ")
        return abs(when.replace(tzinfo=dt.timezone.utc) - dt.datetime.now(dt.timezone.utc))

    # The first run read only 404s: their Date is AWS's time too.
    assert recorded(k.K8S_EC_KID, "first_published") < dt.timedelta(minutes=1)
    assert recorded(k.K8S_RSA_KID, "left_source") < dt.timedelta(minutes=1)
    aws_clock.advance(hours=47)
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID}
    assert invoke("publish", "--bucket", BUCKET, "--public-key", str(keyfiles["two"])).exit_code == 0
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID}


def test_without_a_date_from_aws_retention_waits_for_one(aws: AwsWorld, aws_clock: AwsClock, keyfiles: dict[str, Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    retire_one(keyfiles)
    aws_clock.hidden = True
    node_clock(monkeypatch, dt.timedelta(hours=49))
    blind = invoke("publish", "--bucket", BUCKET, "--public-key", str(keyfiles["two"]))
    assert blind.exit_code == 0, blind.stderr
    assert blind.stderr.splitlines() == [
        "warning: no time from AWS in this run: retention not applied, 1 removed key kept "
        "(a later run with AWS's time applies it)"
    ]
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID}
    aws_clock.hidden = False
    aws_clock.advance(hours=48, seconds=1)
    assert invoke("publish", "--bucket", BUCKET, "--public-key", str(keyfiles["two"])).exit_code == 0
    assert live_kids(aws) == {k.K8S_EC_KID}


# ---------------------------------------------------------------- a failed invalidation is redone


def test_a_failed_invalidation_is_redone_by_the_next_run(aws: AwsWorld, aws_clock: AwsClock, front: Front, tmp_path: Path) -> None:
    front("cdn-issuer", ("*.cloudfront.net",))
    one = k.write(tmp_path / "one.pub", k.K8S_RSA_PUBLIC_KEY)
    two = k.write(tmp_path / "two.pub", k.K8S_EC_PUBLIC_KEY)
    boot = invoke("bootstrap", "--bucket", "cdn-issuer", "--cloudfront", "--public-key", str(one), "-o", "json")
    assert boot.exit_code == 0, boot.stderr
    issuer, distribution_id = boot.json()["issuer"], boot.json()["distribution_id"]
    cf = aws.client("cloudfront")

    def invalidations() -> list[dict]:
        return cf.list_invalidations(DistributionId=distribution_id)["InvalidationList"].get("Items", [])

    job = ["publish", "--bucket", "cdn-issuer", "--issuer-url", issuer, "--public-key", str(one), "--public-key", str(two)]
    before = len(invalidations())
    aws.proxy.fail_next("CreateInvalidation", status=403, code="AccessDenied")
    failed = invoke(*job)
    assert failed.exit_code == 1
    assert len(failed.stderr.splitlines()) == 1 and failed.stderr.startswith("error: cloudfront:CreateInvalidation")
    assert live_kids(aws, "cdn-issuer") == {k.K8S_RSA_KID, k.K8S_EC_KID}  # published; only the invalidation failed
    assert len(invalidations()) == before
    # The next run sees it from what it reads: the dry run plans it, the run makes it.
    aws.recorder.reset()
    planned = invoke(*job, "--dry-run")
    assert planned.exit_code == 3, planned.stdout + planned.stderr
    assert f"cloudfront:{distribution_id}" in planned.stdout and "whose invalidation failed" in planned.stdout
    assert aws.recorder.writes == []
    redone = invoke(*job, "-o", "json")
    assert redone.exit_code == 0, redone.stderr
    assert redone.json()["invalidation_id"] is not None
    [made] = [i for i in invalidations() if i["Id"] == redone.json()["invalidation_id"]]
    paths = cf.get_invalidation(DistributionId=distribution_id, Id=made["Id"])["Invalidation"]["InvalidationBatch"]["Paths"]
    assert paths["Items"] == ["/openid/v1/jwks", "/.well-known/openid-configuration"]  # ES256 joined the algorithms
    assert len(invalidations()) == before + 1
    # Done: the next run writes nothing, and once the change is older than any cache keeps it, two reads.
    aws.recorder.reset()
    assert invoke(*job, "-o", "json").json()["changed"] is False
    assert aws.recorder.writes == []
    aws_clock.advance(hours=2)
    aws.recorder.reset()
    assert invoke(*job).exit_code == 0
    assert aws.recorder.calls == [("s3", "GetObject"), ("s3", "GetObject")]
