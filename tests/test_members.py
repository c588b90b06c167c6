"""Members: several clusters publishing into one issuer (issue 14). The pure policy (members.py) first, then
``publish --member`` against moto's server: the union, the steady state, the old state format, the ceiling,
and a write made between a run's read and its put (the race) losing no key."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oidc_publisher.commands import publish as publishing
from oidc_publisher.core.errors import ConflictError, InputError
from oidc_publisher.core.keys import SigningKey, load_public_keys_pem
from oidc_publisher.core.members import (
    HEARTBEAT,
    ceiling,
    check_member_name,
    decide_member,
    jwks_metadata,
    member_settled,
    member_statuses,
    remove_member,
)
from oidc_publisher.core.rotation import State
from oidc_publisher.sources import KeySource
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.motoserver import AwsClock, AwsWorld, RecordedRequest
from tests.test_rotation import OLD_STATE_REVOKED

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(hours=48)
BUCKET = "shared-issuer"
STATE = ".oidc-publisher/state.json"
JWKS = "openid/v1/jwks"


def key(pem: bytes) -> SigningKey:
    return load_public_keys_pem(pem, "test")[0]


def kid_of(path: Path) -> str:
    return key(path.read_bytes()).kid


RSA = key(k.K8S_RSA_PUBLIC_KEY)
EC = key(k.K8S_EC_PUBLIC_KEY)


def fresh() -> SigningKey:
    return key(k.public_pem(k.rsa_key()))


# ---------------------------------------------------------------- the pure policy


def test_two_members_publish_the_union_and_neither_touches_the_other() -> None:
    state = State(issuer="https://i.example.com")
    a = decide_member("blue", [RSA], [], state, now=NOW, retain=DAY)
    assert [x.kid for x in a.keys] == [RSA.kid]
    b = decide_member("green", [EC], a.keys, a.state, now=NOW, retain=DAY)
    assert {x.kid for x in b.keys} == {RSA.kid, EC.kid}
    # blue rotates: its old key is retained by blue, green's untouched
    new = fresh()
    a2 = decide_member("blue", [new], b.keys, b.state, now=NOW + dt.timedelta(hours=1), retain=DAY)
    assert {x.kid for x in a2.keys} == {RSA.kid, EC.kid, new.kid}
    assert [r.kid for r in a2.decision.retained] == [RSA.kid]
    # retention over: blue drops its own old key; green's key is never aged by blue's runs
    a3 = decide_member("blue", [new], a2.keys, a2.state, now=NOW + dt.timedelta(days=30), retain=DAY)
    assert {x.kid for x in a3.keys} == {EC.kid, new.kid}
    assert a3.state.members["green"].keys[EC.kid].left_source is None


def test_a_member_may_not_revoke_another_members_key() -> None:
    state = decide_member("green", [EC], [], State(issuer="https://i"), now=NOW, retain=DAY).state
    with pytest.raises(ConflictError, match=r"^refusing to revoke .*: it is member green's key, not blue's; revoke it from that member's run"):
        decide_member("blue", [RSA], [EC], state, now=NOW, retain=DAY, revoke=[EC.kid])


def test_the_implicit_members_state_is_what_the_previous_release_wrote() -> None:
    """Without --member: decide_member is rotation.decide, and the state stays format 1 (same bytes)."""
    from oidc_publisher.core.rotation import decide

    state = State(issuer="https://i")
    ours = decide_member("default", [RSA, EC], [], state, now=NOW, retain=DAY)
    theirs = decide([RSA, EC], [], state, now=NOW, retain=DAY)
    assert ours.state.to_bytes() == theirs.state.to_bytes()
    assert json.loads(ours.state.to_bytes())["format"] == 1
    assert ours.keys == theirs.keys


def test_a_cluster_serving_the_implicit_members_keys_takes_them_over() -> None:
    old = decide_member("default", [RSA], [], State(issuer="https://i"), now=NOW, retain=DAY)
    named = decide_member("blue", [RSA], old.keys, old.state, now=NOW, retain=DAY)
    assert named.state.keys == {}
    assert set(named.state.members["blue"].keys) == {RSA.kid}
    assert named.adopted == (RSA.kid,)
    assert json.loads(named.state.to_bytes())["format"] == 2
    # A different cluster joining beside the implicit member leaves its keys alone.
    joined = decide_member("green", [EC], old.keys, old.state, now=NOW, retain=DAY)
    assert set(joined.state.keys) == {RSA.kid}
    assert {x.kid for x in joined.keys} == {RSA.kid, EC.kid}


def test_a_live_key_no_record_holds_is_kept_and_retained_not_dropped() -> None:
    """A race: another member's key is live, its state not yet written. It is kept (unclaimed, retained)."""
    state = decide_member("green", [EC], [], State(issuer="https://i"), now=NOW, retain=DAY).state
    stranger = fresh()
    run = decide_member("green", [EC], [EC, stranger], state, now=NOW, retain=DAY)
    assert {x.kid for x in run.keys} == {EC.kid, stranger.kid}
    assert run.state.unclaimed[stranger.kid].until == NOW + DAY
    # ... and the member whose key it is claims it back on its next run
    claimed = decide_member("blue", [stranger], run.keys, run.state, now=NOW, retain=DAY)
    assert stranger.kid not in claimed.state.unclaimed and stranger.kid in claimed.state.members["blue"].keys


def test_remove_moves_keys_to_retention_or_revokes_them() -> None:
    s = decide_member("blue", [RSA], [], State(issuer="https://i"), now=NOW, retain=DAY).state
    s = decide_member("green", [EC], [RSA], s, now=NOW, retain=DAY).state
    kept = remove_member(s, "blue", now=NOW, retain=DAY, revoke=False)
    assert kept.retained == (RSA.kid,) and "blue" not in kept.state.members
    assert kept.state.unclaimed[RSA.kid].until == NOW + DAY
    # green's run publishes blue's retained key until its retention ends, then drops it
    during = decide_member("green", [EC], [RSA, EC], kept.state, now=NOW + dt.timedelta(hours=47), retain=DAY)
    assert {x.kid for x in during.keys} == {RSA.kid, EC.kid}
    after = decide_member("green", [EC], [RSA, EC], kept.state, now=NOW + DAY, retain=DAY)
    assert [x.kid for x in after.keys] == [EC.kid] and after.dropped == (RSA.kid,)
    gone = remove_member(s, "blue", now=NOW, retain=DAY, revoke=True)
    assert gone.revoked == (RSA.kid,) and RSA.kid in gone.state.revoked
    with pytest.raises(InputError, match=r"^no member 'red' in this issuer's state \(members: blue, green\); check the name"):
        remove_member(s, "red", now=NOW, retain=DAY, revoke=False)


def test_the_ceiling_refuses_beyond_and_warns_from_eighty_percent() -> None:
    s = decide_member("blue", [RSA], [], State(issuer="https://i"), now=NOW, retain=DAY).state
    assert ceiling(s, 79, 100) is None
    assert (ceiling(s, 80, 100) or "").startswith("the JWKS holds 80 keys, near the ceiling of 100 (keys per member: blue 1)")
    with pytest.raises(ConflictError, match=r"^refusing to publish 101 keys, more than --max-keys 100 .*keys per member: blue 1; shorten"):
        ceiling(s, 101, 100)


def test_the_metadata_settles_a_member_only_while_nothing_is_due() -> None:
    s = decide_member("blue", [RSA], [], State(issuer="https://i"), now=NOW, retain=DAY).state
    meta = jwks_metadata(s)
    assert member_settled(meta, "blue", [RSA.kid], NOW + dt.timedelta(hours=1))
    assert not member_settled(meta, "blue", [RSA.kid, EC.kid], NOW)  # a new key
    assert not member_settled(meta, "green", [EC.kid], NOW)  # not a member yet
    assert not member_settled(meta, "blue", [RSA.kid], NOW + HEARTBEAT)  # time to record itself
    assert jwks_metadata(State(issuer="https://i")) == {}


def test_statuses_flag_a_member_silent_too_long() -> None:
    s = decide_member("blue", [RSA], [], State(issuer="https://i"), now=NOW, retain=DAY, origin=("cluster at x", "pod-1")).state
    s = decide_member("green", [EC], [RSA], s, now=NOW + dt.timedelta(days=5), retain=DAY).state
    statuses = member_statuses(s, now=NOW + dt.timedelta(days=5), stale_after=dt.timedelta(days=3), live=[RSA.kid])
    assert [(m.name, m.stale, m.missing) for m in statuses] == [("blue", True, ()), ("green", False, (EC.kid,))]
    assert statuses[0].source == "cluster at x" and statuses[0].host == "pod-1"


def test_member_names_are_checked() -> None:
    assert check_member_name("prod-eu-1") == "prod-eu-1"
    with pytest.raises(InputError, match=r"^--member 'Blue Cluster' is not a member name"):
        check_member_name("Blue Cluster")


# ---------------------------------------------------------------- publish --member against moto


@pytest.fixture
def pems(aws: AwsWorld, tmp_path: Path) -> dict[str, Path]:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    return {
        "rsa": k.write(tmp_path / "rsa.pub", k.K8S_RSA_PUBLIC_KEY),
        "ec": k.write(tmp_path / "ec.pub", k.K8S_EC_PUBLIC_KEY),
        "new": k.write(tmp_path / "new.pub", k.public_pem(k.rsa_key())),
        "green2": k.write(tmp_path / "green2.pub", k.public_pem(k.ec_key())),
    }


def live_kids(aws: AwsWorld) -> set[str]:
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=JWKS)["Body"].read()
    return {entry["kid"] for entry in json.loads(body)["keys"]}


def stored_state(aws: AwsWorld) -> dict:
    return json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key=STATE)["Body"].read())


def publish(member: str | None, pem: Path, *extra: str) -> dict:
    who = ["--member", member] if member else []
    result = invoke("publish", "--bucket", BUCKET, *who, "--public-key", str(pem), "-o", "json", *extra)
    assert result.exit_code == 0, result.stdout + result.stderr
    return result.json()


def test_two_members_publish_one_jwks_and_the_steady_state_is_two_reads(aws: AwsWorld, pems: dict[str, Path]) -> None:
    first = publish("blue", pems["rsa"])
    assert first["member"] == "blue" and first["keys"] == [k.K8S_RSA_KID]
    publish("green", pems["ec"])
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID}
    members = stored_state(aws)["members"]
    assert set(members) == {"blue", "green"} and stored_state(aws)["format"] == 2
    assert set(members["green"]["keys"]) == {k.K8S_EC_KID}
    for member, pem in (("blue", pems["rsa"]), ("green", pems["ec"])):
        aws.recorder.reset()
        again = publish(member, pem)
        assert again["changed"] is False
        assert aws.recorder.operations() == ["GetObject", "GetObject"]  # JWKS and discovery; no state, no write
    # blue rotates: green's key stays, blue's old one is retained
    rotated = publish("blue", pems["new"])
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID, kid_of(pems["new"])}
    assert [r["kid"] for r in rotated["retained"]] == [k.K8S_RSA_KID]


def test_an_issuer_published_by_the_previous_release_keeps_working(aws: AwsWorld, pems: dict[str, Path]) -> None:
    issuer = "https://i.example.com"
    invoke("publish", "--bucket", BUCKET, "--issuer-url", issuer, "--public-key", str(pems["ec"]))
    aws.client("s3").put_object(Bucket=BUCKET, Key=STATE, Body=OLD_STATE_REVOKED)  # the bytes the last release wrote
    before = {key: aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in (JWKS, STATE)}
    aws.recorder.reset()
    # without --member: exactly as before
    plain = invoke("publish", "--bucket", BUCKET, "--issuer-url", issuer, "--public-key", str(pems["ec"]))
    assert plain.exit_code == 0 and aws.recorder.writes == []
    # its first member-aware run, nothing changed: no write, the state migrates on the next change
    named = invoke("publish", "--bucket", BUCKET, "--issuer-url", issuer, "--member", "blue", "--public-key", str(pems["ec"]))
    assert named.exit_code == 0, named.stderr
    assert aws.recorder.writes == []
    assert {key: aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in (JWKS, STATE)} == before
    joined = invoke("publish", "--bucket", BUCKET, "--issuer-url", issuer, "--member", "green", "--public-key", str(pems["new"]))
    assert joined.exit_code == 0, joined.stderr
    mixed = invoke("publish", "--bucket", BUCKET, "--issuer-url", issuer, "--public-key", str(pems["ec"]))
    assert mixed.exit_code == 0 and mixed.stderr == (
        "warning: this issuer is shared by members (green): this run published without --member, as the implicit "
        "member 'default'; give each cluster's job --member NAME (docs/shared-issuer.md)\n")
    state = stored_state(aws)
    assert state["revoked"] == {k.K8S_RSA_KID: "2026-01-01T02:00:00Z"}  # kept
    assert set(state["keys"]) == {k.K8S_EC_KID}  # still the implicit member's: green did not take it
    assert len(live_kids(aws)) == 2


def test_the_ceiling_refuses_and_writes_nothing(aws: AwsWorld, pems: dict[str, Path]) -> None:
    publish("blue", pems["rsa"])
    publish("green", pems["ec"])
    aws.recorder.reset()
    refused = invoke("publish", "--bucket", BUCKET, "--member", "green", "--public-key", str(pems["ec"]),
                     "--public-key", str(pems["new"]), "--max-keys", "2")
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        "error: refusing to publish 3 keys, more than --max-keys 2 (STS is reported to fail beyond about 100 keys in one "
        "JWKS); keys per member: green 2, blue 1; shorten --retain-removed-keys, remove members that left"
    )
    assert aws.recorder.writes == []
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID}
    planned = invoke("publish", "--bucket", BUCKET, "--member", "green", "--public-key", str(pems["ec"]),
                     "--public-key", str(pems["new"]), "--max-keys", "2", "--dry-run")
    assert planned.exit_code == 1 and planned.stderr.startswith("error: refusing to publish 3 keys")  # dry-run refuses too
    assert aws.recorder.writes == []
    warned = invoke("publish", "--bucket", BUCKET, "--member", "green", "--public-key", str(pems["ec"]),
                    "--public-key", str(pems["new"]), "--max-keys", "3")
    assert warned.exit_code == 0
    assert "warning: the JWKS holds 3 keys, near the ceiling of 3" in warned.stderr


def test_a_write_between_read_and_put_loses_no_key(aws: AwsWorld, pems: dict[str, Path]) -> None:
    """green's run reads the JWKS; before its put reaches S3, blue publishes a new key (observer seam). green's
    conditional put fails (412), it re-reads, merges, and the JWKS ends with both members' keys."""
    publish("blue", pems["rsa"])
    publish("green", pems["ec"])
    fired: list[str] = []
    blue_settings = publishing.PublishSettings(bucket=BUCKET, source=KeySource(public_keys=(pems["new"],)), member="blue")

    def between(request: RecordedRequest) -> None:
        if request.operation == "PutObject" and request.path.endswith(JWKS) and not fired:
            fired.append(request.headers.get("if-match", ""))
            from oidc_publisher.aws.clients import AwsClients

            publishing.publish(blue_settings, AwsClients())  # blue wins the race

    aws.recorder.reset()
    aws.proxy.observers.append(between)
    publish("green", pems["ec"], "--public-key", str(pems["green2"]))  # green adds a key
    aws.proxy.observers.clear()
    blue_new, green_new = kid_of(pems["new"]), kid_of(pems["green2"])
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID, blue_new, green_new}
    assert fired and fired[0]  # green's write was conditional on the ETag it read
    state = stored_state(aws)
    assert set(state["members"]["blue"]["keys"]) == {k.K8S_RSA_KID, blue_new}
    assert set(state["members"]["green"]["keys"]) == {k.K8S_EC_KID, green_new}
    assert len([p for p in aws.recorder.puts() if p.endswith(JWKS)]) == 3  # green's lost put, blue's, green's retry


# ---------------------------------------------------------------- members list / remove


def test_members_list_shows_each_member_in_text_and_json(aws: AwsWorld, aws_clock: AwsClock, pems: dict[str, Path]) -> None:
    publish("blue", pems["rsa"])
    publish("green", pems["ec"])
    aws_clock.advance(days=4)
    aws.recorder.reset()
    assert publish("green", pems["ec"])["changed"] is True  # green's daily record; blue has been silent for 4 days
    assert sorted(p.rsplit("/", 1)[-1] for p in aws.recorder.puts()) == ["jwks", "state.json"]  # same JWKS bytes
    aws.recorder.reset()
    assert publish("green", pems["ec"])["changed"] is False
    assert aws.recorder.operations() == ["GetObject", "GetObject"]  # recorded: back to two reads
    aws.recorder.reset()
    listed = invoke("members", "list", "--bucket", BUCKET, "-o", "json")
    assert listed.exit_code == 0, listed.stderr
    body = listed.json()
    assert [(m["name"], m["current"], m["stale"]) for m in body["members"]] == [
        ("blue", [k.K8S_RSA_KID], True), ("green", [k.K8S_EC_KID], False)]
    import platform

    assert body["members"][0]["source"] == f"public key file {pems['rsa']}"
    assert body["members"][0]["host"] == platform.node()
    assert aws.recorder.writes == []
    text = invoke("members", "list", "--bucket", BUCKET)
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert lines[0] == f"Members of https://{BUCKET}.s3.us-east-1.amazonaws.com (s3://{BUCKET}):"
    assert lines[1].startswith(f"  blue: 1 current key ({k.K8S_RSA_KID}); last published 96h") and lines[1].endswith(
        "[STALE: silent for more than 72h00m]")
    assert lines[-1] == ("2 members; silent longer than 72h00m: blue (if it left, 'oidc-publisher members remove NAME'; "
                         "if not, check its rotation job)")


def test_members_remove_keeps_the_keys_for_the_window_then_they_go(aws: AwsWorld, aws_clock: AwsClock, pems: dict[str, Path]) -> None:
    publish("blue", pems["rsa"])
    publish("green", pems["ec"])
    aws.recorder.reset()
    planned = invoke("members", "remove", "blue", "--bucket", BUCKET, "--dry-run")
    assert planned.exit_code == 3 and aws.recorder.writes == []
    removed = invoke("members", "remove", "blue", "--bucket", BUCKET, "-o", "json")
    assert removed.exit_code == 0, removed.stderr
    assert removed.json()["retained"] == [k.K8S_RSA_KID]
    assert "warning: stop blue's rotation job first" in removed.stderr
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID}
    assert "blue" not in stored_state(aws)["members"]
    listed = invoke("members", "list", "--bucket", BUCKET)
    assert f"  retained, no member: {k.K8S_RSA_KID} (blue's, removed) until " in listed.stdout
    aws_clock.advance(hours=47)
    publish("green", pems["ec"])
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID}
    aws_clock.advance(hours=2)
    dropped = publish("green", pems["ec"])
    assert dropped["removed"] == [k.K8S_RSA_KID]
    assert live_kids(aws) == {k.K8S_EC_KID}


def test_members_remove_revoke_drops_at_once_and_names_refused(aws: AwsWorld, pems: dict[str, Path]) -> None:
    publish("blue", pems["rsa"])
    publish("green", pems["ec"])
    gone = invoke("members", "remove", "blue", "--bucket", BUCKET, "--revoke")
    assert gone.exit_code == 0, gone.stderr
    assert gone.stdout.splitlines() == [
        "Changed:",
        f"  write      s3://{BUCKET}/{JWKS}: drop {k.K8S_RSA_KID} (revoked)",
        f"  write      s3://{BUCKET}/.well-known/openid-configuration: the signing algorithms of the keys left",
        f"  write      s3://{BUCKET}/{STATE}: member blue left (private)",
        f"removed member blue of https://{BUCKET}.s3.us-east-1.amazonaws.com; revoked at once: {k.K8S_RSA_KID}",
    ]
    assert f"warning: revoked {k.K8S_RSA_KID}: every token signed by it stops working" in gone.stderr
    assert live_kids(aws) == {k.K8S_EC_KID}
    discovery = json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key=".well-known/openid-configuration")["Body"].read())
    assert discovery["id_token_signing_alg_values_supported"] == ["ES256"]
    aws.recorder.reset()
    unknown = invoke("members", "remove", "red", "--bucket", BUCKET)
    assert unknown.exit_code == 2
    assert unknown.stderr == "error: no member 'red' in this issuer's state (members: green); check the name with 'oidc-publisher members list'\n"
    last = invoke("members", "remove", "green", "--bucket", BUCKET, "--revoke")
    assert last.exit_code == 1
    assert last.stderr.startswith("error: refusing to remove green with --revoke: it is the last member")
    assert aws.recorder.writes == []


# ---------------------------------------------------------------- the fleet file and the rotation job take the member


def test_a_fleet_file_publishes_members_of_one_issuer_side_by_side(aws: AwsWorld, pems: dict[str, Path], tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({
        "defaults": {"bucket": BUCKET, "region": "us-east-1"},
        "clusters": [
            {"name": "blue-cluster", "member": "blue", "public_keys": [str(pems["rsa"])]},
            {"name": "green-cluster", "member": "green", "public_keys": [str(pems["ec"])]},
        ],
    }))
    result = invoke("publish", "--fleet", str(fleet))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID}
    assert set(stored_state(aws)["members"]) == {"blue", "green"}
    aws.recorder.reset()
    again = invoke("publish", "--fleet", str(fleet))
    assert again.exit_code == 0 and aws.recorder.writes == []


@pytest.mark.parametrize(("clusters", "message"), [
    ([{"name": "a", "member": "blue"}, {"name": "b", "member": "blue"}],
     'error: clusters[1] ("b"): member blue of https://shared-issuer.s3.us-east-1.amazonaws.com is also clusters[0] ("a")\'s; '
     "give each cluster of a shared issuer its own member name"),
    ([{"name": "a"}, {"name": "b", "member": "green"}],
     'error: clusters[1] ("b"): publishes to the issuer clusters[0] ("a") publishes without a member; '
     "give every cluster of a shared issuer a member name (docs/shared-issuer.md)"),
])
def test_a_fleet_file_with_clashing_members_publishes_nothing(clusters: list[dict], message: str, aws: AwsWorld, pems: dict[str, Path], tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({"defaults": {"bucket": BUCKET, "region": "us-east-1", "public_keys": [str(pems["rsa"])]},
                                 "clusters": clusters}))
    aws.recorder.reset()
    result = invoke("publish", "--fleet", str(fleet))
    assert result.exit_code == 2
    assert result.stderr == message + "\n"
    assert aws.recorder.writes == []


def test_the_rotation_job_publishes_its_member(tmp_path: Path) -> None:
    import yaml

    role = "arn:aws:iam::123456789012:role/oidc-publisher"
    args = ["templates", "render", "--distribution", "rotation-job", "--issuer-url", "https://oidc.example.com",
            "--bucket", "issuer-bucket", "--role-arn", role, "--region", "eu-west-1", "--image", "r.example.com/op:1",
            "--member", "green", "--out", str(tmp_path / "job")]
    assert invoke(*args).exit_code == 0
    job = yaml.safe_load((tmp_path / "job" / "cronjob.yaml").read_text())
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["publish", "--from-cluster", "--member", "green", "--output", "json"]
    wrong = invoke("templates", "render", "--distribution", "kubeadm", "--issuer-url", "https://oidc.example.com",
                   "--member", "green")
    assert (wrong.exit_code, wrong.stderr) == (
        2, "error: --member only applies to the rotation job; add --distribution rotation-job or drop --member\n")
    bad = invoke(*args[:-2], "--member", "Green!")
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --member 'Green!' is not a member name")


def test_a_member_joining_between_anothers_jwks_and_state_writes_loses_nothing(aws: AwsWorld, pems: dict[str, Path]) -> None:
    """The other interleaving: green has written the JWKS and is about to write the state when blue joins
    (reads, writes JWKS and state). green's state write is refused (412); its retry merges blue's record."""
    publish("green", pems["ec"])
    fired: list[str] = []
    blue_settings = publishing.PublishSettings(bucket=BUCKET, source=KeySource(public_keys=(pems["rsa"],)), member="blue")

    def between(request: RecordedRequest) -> None:
        if request.operation == "PutObject" and request.path.endswith(STATE) and not fired:
            fired.append(request.headers.get("if-match", ""))
            from oidc_publisher.aws.clients import AwsClients

            publishing.publish(blue_settings, AwsClients())

    aws.proxy.observers.append(between)
    publish("green", pems["ec"], "--public-key", str(pems["green2"]))
    aws.proxy.observers.clear()
    green_new = kid_of(pems["green2"])
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID, green_new}
    state = stored_state(aws)
    assert set(state["members"]["blue"]["keys"]) == {k.K8S_RSA_KID}
    assert set(state["members"]["green"]["keys"]) == {k.K8S_EC_KID, green_new}
    assert state["unclaimed"] == {}  # green's new key, seen by blue before green recorded it, went back to green
    assert fired and fired[0]


def test_a_retry_after_a_lost_state_write_does_not_trust_its_own_jwks(
    aws: AwsWorld, aws_clock: AwsClock, pems: dict[str, Path]
) -> None:
    """green has dropped its expired key from the JWKS but not yet recorded that in the state when blue runs:
    blue, reading green's old record, puts the key back in the JWKS; then green's state lands first and
    blue's state write is refused (412). blue's retry must decide again from the state, not settle on the
    JWKS it wrote itself (its own fresh record in the JWKS metadata): else green's dropped key stays
    published with nobody left to drop it."""
    publish("blue", pems["rsa"])
    publish("green", pems["ec"], "--public-key", str(pems["green2"]))
    publish("green", pems["green2"])  # the EC key leaves green's API server: retained for the window
    old = kid_of(pems["ec"])
    aws_clock.advance(hours=49)
    s3 = aws.client("s3")
    before = s3.get_object(Bucket=BUCKET, Key=STATE)["Body"].read()
    publish("green", pems["green2"])  # green's run: drops its expired key from the JWKS and the state...
    assert old not in live_kids(aws)
    greens_state = s3.get_object(Bucket=BUCKET, Key=STATE)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=STATE, Body=before)  # ... but, as far as blue can see, not yet the state
    fired: list[str] = []

    def greens_state_lands_first(request: RecordedRequest) -> None:
        if request.operation == "PutObject" and request.path.endswith(STATE) and not fired:
            fired.append("green")
            s3.put_object(Bucket=BUCKET, Key=STATE, Body=greens_state)

    aws.proxy.observers.append(greens_state_lands_first)
    publish("blue", pems["rsa"])
    aws.proxy.observers.clear()
    assert fired
    assert old not in live_kids(aws)
    assert live_kids(aws) == {k.K8S_RSA_KID, kid_of(pems["green2"])}
    assert old not in stored_state(aws)["members"]["green"]["keys"]


def test_a_discovery_document_derived_from_a_jwks_that_moved_is_written_again(aws: AwsWorld, pems: dict[str, Path]) -> None:
    """blue reads the JWKS (its RSA key alone); green joins before blue reads the discovery document and the
    state (green's JWKS and discovery land, its state not yet). blue, deciding from its older JWKS, would write
    a discovery document without green's algorithm, and no conditional write of the JWKS tells it the JWKS has
    moved: it checks once more and decides again. The issuer ends with a discovery document that admits both
    members' tokens (seen once in the concurrent test: PyJWT refused an ES256 token)."""
    from oidc_publisher.core.documents import build_documents
    from oidc_publisher.core.issuer import parse_issuer

    publish("blue", pems["rsa"])
    issuer = parse_issuer(f"https://{BUCKET}.s3.us-east-1.amazonaws.com")
    greens = build_documents(issuer, [RSA, EC])
    s3 = aws.client("s3")
    fired: list[str] = []

    def green_lands(request: RecordedRequest) -> None:
        if request.operation == "GetObject" and request.path.endswith("openid-configuration") and not fired:
            fired.append("green")
            s3.put_object(Bucket=BUCKET, Key=JWKS, Body=greens.jwks, ContentType="application/json",
                          CacheControl="public, max-age=300")
            s3.put_object(Bucket=BUCKET, Key=".well-known/openid-configuration", Body=greens.discovery,
                          ContentType="application/json", CacheControl="public, max-age=300")

    aws.proxy.observers.append(green_lands)
    publish("blue", pems["rsa"])  # nothing of blue's changed: its JWKS is not rewritten, so no write checks it
    aws.proxy.observers.clear()
    assert fired
    discovery = json.loads(s3.get_object(Bucket=BUCKET, Key=".well-known/openid-configuration")["Body"].read())
    assert discovery["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID}


def test_teardown_of_a_shared_issuer_is_refused_until_one_member_is_left_or_all_members(
    aws: AwsWorld, pems: dict[str, Path]
) -> None:
    """Removing a shared issuer ends every member's tokens: refused (nothing read past the state, nothing
    written) while two members publish, with or without --dry-run; allowed once one has left, or with --all-members."""
    publish("blue", pems["rsa"])
    publish("green", pems["ec"])
    issuer = f"https://{BUCKET}.s3.us-east-1.amazonaws.com"
    for extra in ((), ("--dry-run",)):
        aws.recorder.reset()
        refused = invoke("teardown", "--issuer-url", issuer, "--bucket", BUCKET, "--yes", *extra)
        assert refused.exit_code == 1, refused.stdout + refused.stderr
        assert refused.stderr.strip().splitlines() == [
            f"error: refusing to tear down {issuer}: it is shared by members blue, green, and every one of them loses "
            "its tokens; let each cluster leave first (oidc-publisher members remove NAME --bucket ...), or add "
            "--all-members to end the issuer for all of them"
        ]
        assert aws.recorder.writes == []
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID}
    # blue leaves: green alone publishes a current key, so tearing down ends only green's issuer.
    assert invoke("members", "remove", "blue", "--bucket", BUCKET).exit_code == 0
    planned = invoke("teardown", "--issuer-url", issuer, "--bucket", BUCKET, "--yes", "--dry-run", "-o", "json")
    assert planned.exit_code == 3, planned.stderr
    # With both still publishing, --all-members says the end of the issuer for both is meant.
    publish("blue", pems["rsa"])
    done = invoke("teardown", "--issuer-url", issuer, "--bucket", BUCKET, "--yes", "--all-members")
    assert done.exit_code == 0, done.stdout + done.stderr
    listing = aws.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert [o["Key"] for o in listing] == []


# ---------------------------------------------------------------- property: no member's run touches another's keys

POOL = [RSA, EC, *(key(k.public_pem(k.ec_key())) for _ in range(4))]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["blue", "green", "red"]), st.sets(st.integers(0, len(POOL) - 1), min_size=1),
                          st.integers(0, 30)), min_size=1, max_size=12))
def test_no_run_touches_another_members_keys_and_every_served_key_is_published(runs: list[tuple[str, set[int], int]]) -> None:
    """Any sequence of member runs (each with some keys, some hours later): a run leaves every other member's
    records exactly as they were, and the union holds every key any member currently serves."""
    state, live, now = State(issuer="https://i"), (), NOW
    serving: dict[str, set[str]] = {}
    for member, picks, hours in runs:
        now += dt.timedelta(hours=hours)
        source = [POOL[i] for i in sorted(picks)]
        before = {name: dict(m.keys) for name, m in state.members.items() if name != member}
        result = decide_member(member, source, live, state, now=now, retain=DAY)
        assert {name: dict(m.keys) for name, m in result.state.members.items() if name != member} == before
        serving[member] = {x.kid for x in source}
        assert set().union(*serving.values()) <= {x.kid for x in result.keys}
        state, live = result.state, result.keys


def test_a_key_two_members_share_is_not_revoked_by_one_and_an_ended_key_put_back_stays_gone() -> None:
    s = decide_member("blue", [RSA], [], State(issuer="https://i"), now=NOW, retain=DAY).state
    s = decide_member("green", [RSA, EC], [RSA], s, now=NOW, retain=DAY).state  # one signing key in two clusters
    green_rotated = decide_member("green", [EC], [RSA, EC], s, now=NOW, retain=DAY).state  # green stops serving it
    with pytest.raises(ConflictError, match=r"^refusing to revoke .*: it is member blue's key too, not only green's;"):
        decide_member("green", [EC], [RSA, EC], green_rotated, now=NOW, retain=DAY, revoke=[RSA.kid])
    # blue rotates away from RSA; after the retention RSA is gone, and a restored old JWKS does not bring it back
    s = decide_member("blue", [EC], [RSA, EC], State(issuer="https://i"), now=NOW, retain=DAY).state
    s = decide_member("blue", [EC], [EC], s, now=NOW, retain=DAY).state
    blue_only = decide_member("blue", [fresh()], [EC], s, now=NOW, retain=DAY)
    later = decide_member("blue", [x for x in blue_only.keys if x.kid != EC.kid], blue_only.keys, blue_only.state,
                          now=NOW + DAY, retain=DAY)
    assert EC.kid not in {x.kid for x in later.keys} and EC.kid in later.state.removed
    restored = decide_member("green", [RSA], [*later.keys, EC], later.state, now=NOW + DAY, retain=DAY)
    assert EC.kid not in {x.kid for x in restored.keys} and EC.kid not in restored.state.unclaimed


def test_members_remove_behind_cloudfront_invalidates_what_changed_and_records_it(
    aws: AwsWorld, front: Front, pems: dict[str, Path]
) -> None:
    """members remove --revoke of a member of a private issuer behind CloudFront: the JWKS write, then the
    invalidation of exactly /openid/v1/jwks, then the state, which records the invalidated ETag; the dry run
    shows each of those calls."""
    front("cf-shared", ("*.cloudfront.net",))
    first = invoke("bootstrap", "--bucket", "cf-shared", "--cloudfront", "--member", "blue", "--public-key",
                   str(pems["rsa"]), "-o", "json")
    assert first.exit_code == 0, first.stderr
    issuer = ("--issuer-url", first.json()["issuer"])
    joined = invoke("publish", "--bucket", "cf-shared", *issuer, "--member", "green", "--public-key", str(pems["ec"]))
    assert joined.exit_code == 0, joined.stderr
    planned = invoke("members", "remove", "green", "--bucket", "cf-shared", *issuer, "--revoke", "--dry-run", "-o", "json")
    assert planned.exit_code == 3, planned.stderr
    calls = [change["operation"]["call"] for change in planned.json()["changes"]]
    assert calls == ["s3:PutObject", "s3:PutObject", "cloudfront:CreateInvalidation", "s3:PutObject"]
    aws.recorder.reset()
    removed = invoke("members", "remove", "green", "--bucket", "cf-shared", *issuer, "--revoke")
    assert removed.exit_code == 0, removed.stderr
    assert aws.recorder.operations("cloudfront") == ["CreateInvalidation"]
    s3 = aws.client("s3")
    jwks = s3.get_object(Bucket="cf-shared", Key=JWKS)
    assert {key["kid"] for key in json.loads(jwks["Body"].read())["keys"]} == {k.K8S_RSA_KID}
    state = json.loads(s3.get_object(Bucket="cf-shared", Key=STATE)["Body"].read())
    assert state["invalidated"][JWKS] == jwks["ETag"]
