"""``publish --fleet FILE`` against moto's server: every cluster's real bytes equal what ``render`` writes,
a second run writes nothing, one cluster's failure leaves the others published, a malformed file
publishes nothing (not one AWS call), and the pool never has more clusters in flight than asked."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.kube_api import KubeAPI
from tests.support.motoserver import AwsWorld
from tests.support.servers import LocalServer, relay

BUCKET = "fleet-issuers"


def s3_issuer(prefix: str) -> str:
    return f"https://{BUCKET}.s3.us-east-1.amazonaws.com/{prefix}"


@pytest.fixture
def bucket(aws: AwsWorld) -> AwsWorld:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    aws.recorder.reset()
    return aws


def fleet_file(directory: Path, document: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "fleet.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document, indent=2))
    return path


def body(aws: AwsWorld, key: str, bucket: str = BUCKET) -> bytes:
    return bytes(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def rendered(tmp_path: Path, issuer: str, *source: str) -> dict[str, bytes]:
    """What ``render`` writes for this issuer and source: the bytes ``publish`` must upload."""
    out = tmp_path / "rendered" / issuer.replace("/", "_").replace(":", "")
    result = invoke("render", "--issuer-url", issuer, *source, "--out-dir", str(out))
    assert result.exit_code == 0, result.stderr
    return {
        "openid/v1/jwks": (out / "openid/v1/jwks").read_bytes(),
        ".well-known/openid-configuration": (out / ".well-known/openid-configuration").read_bytes(),
    }


def assert_published(aws: AwsWorld, prefix: str, expected: dict[str, bytes]) -> None:
    for doc, data in expected.items():
        assert body(aws, f"{prefix}/{doc}" if prefix else doc) == data, (prefix, doc)


def three_clusters(directory: Path) -> tuple[Path, dict[str, tuple[str, str, list[str]]]]:
    """A fleet of three kinds of entry; returns (file, name -> (issuer, prefix, render's source options))."""
    keys = directory / "keys"
    prod = k.write(keys / "prod.pub", k.public_pem(k.rsa_key()))
    staging_a = k.write(keys / "staging-a.pub", k.public_pem(k.ec_key()))
    staging_b = k.write(keys / "staging-b.pub", k.public_pem(k.rsa_key()))
    edge = k.write(keys / "edge.jwks", k.K8S_WANT_KEYSET if isinstance(k.K8S_WANT_KEYSET, bytes) else k.K8S_WANT_KEYSET.encode())
    path = fleet_file(directory, {
        "defaults": {"bucket": BUCKET, "region": "us-east-1"},
        "clusters": [
            # Relative paths resolve against the fleet file's directory.
            {"name": "prod", "prefix": "prod", "public_keys": ["keys/prod.pub"]},
            {"name": "staging", "prefix": "staging", "public_keys": ["keys/staging-a.pub", str(staging_b)]},
            # An issuer on a custom domain: the objects live under its path.
            {"name": "edge", "issuer_url": "https://oidc.example.com/edge", "jwks": "keys/edge.jwks"},
        ],
    })
    return path, {
        "prod": (s3_issuer("prod"), "prod", ["--public-key", str(prod)]),
        "staging": (s3_issuer("staging"), "staging", ["--public-key", str(staging_a), "--public-key", str(staging_b)]),
        "edge": ("https://oidc.example.com/edge", "edge", ["--jwks", str(edge)]),
    }


def test_fleet_publishes_what_render_writes_then_is_a_no_op(bucket: AwsWorld, tmp_path: Path) -> None:
    path, clusters = three_clusters(tmp_path / "fleet")
    first = invoke("publish", "--fleet", str(path))
    assert first.exit_code == 0, first.stderr
    assert first.stderr == ""
    for name, (issuer, prefix, source) in clusters.items():
        assert_published(bucket, prefix, rendered(tmp_path, issuer, *source))
        state = json.loads(body(bucket, f"{prefix}/.oidc-publisher/state.json"))
        assert state["issuer"] == issuer, name
    lines = first.stdout.strip().splitlines()
    assert [line.split(": ", 1)[0] for line in lines[:-1]] == ["prod", "staging", "edge"]  # the file's order
    assert lines[0].startswith(f"prod: {s3_issuer('prod')}: wrote 3 changes (published 1 key; added ")
    assert lines[1].startswith(f"staging: {s3_issuer('staging')}: wrote 3 changes (published 2 keys; added ")
    assert lines[-1] == "fleet of 3 clusters: 3 changed, 0 unchanged, 0 failed"
    assert len(bucket.recorder.writes) == 9  # three objects per cluster

    bucket.recorder.reset()
    again = invoke("publish", "--fleet", str(path), "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert bucket.recorder.writes == []
    assert bucket.recorder.operations() == ["GetObject"] * 6  # the single publish's budget, per cluster
    report = again.json()
    assert [c["name"] for c in report["clusters"]] == ["prod", "staging", "edge"]
    assert [c["changed"] for c in report["clusters"]] == [False, False, False]
    assert [c["issuer"] for c in report["clusters"]] == [v[0] for v in clusters.values()]
    assert all(c["error"] is None for c in report["clusters"])
    # Each entry is the single publish's report, plus name and error.
    single = invoke("publish", "--bucket", BUCKET, "--prefix", "prod", *clusters["prod"][2], "-o", "json").json()
    assert {key: value for key, value in report["clusters"][0].items() if key not in ("name", "error")} == single
    assert (report["failed"], report["changed"], report["dry_run"]) == ([], 0, False)
    assert report["summary"] == "fleet of 3 clusters: 0 changed, 3 unchanged, 0 failed"

    text = invoke("publish", "--fleet", str(path))
    assert text.stdout.splitlines()[0] == f"prod: {s3_issuer('prod')}: unchanged (published 1 key)"


def test_one_cluster_failing_does_not_stop_the_others(bucket: AwsWorld, tmp_path: Path) -> None:
    directory = tmp_path / "fleet"
    good = k.write(directory / "good.pub", k.public_pem(k.rsa_key()))
    path = fleet_file(directory, {
        "defaults": {"bucket": BUCKET, "public_keys": ["good.pub"]},
        "clusters": [
            {"name": "one", "prefix": "one"},
            {"name": "gone", "prefix": "gone", "public_keys": ["rotated-away.pub"]},  # unreadable at run time
            {"name": "nobucket", "bucket": "no-such-bucket-here"},  # an AWS error
            {"name": "two", "prefix": "two"},
        ],
    })
    result = invoke("publish", "--fleet", str(path))
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines[1] == (
        f"gone: {s3_issuer('gone')}: failed: public key file {directory / 'rotated-away.pub'} does not exist; check the path"
    )
    assert lines[2].startswith(
        "nobucket: https://no-such-bucket-here.s3.us-east-1.amazonaws.com: failed: bucket no-such-bucket-here does not exist; "
    )
    assert lines[-1] == "fleet of 4 clusters: 2 changed, 0 unchanged, 2 failed (gone, nobucket)"
    for prefix in ("one", "two"):
        assert_published(bucket, prefix, rendered(tmp_path, s3_issuer(prefix), "--public-key", str(good)))
    assert "Traceback" not in result.stdout + result.stderr

    as_json = invoke("publish", "--fleet", str(path), "-o", "json")
    assert as_json.exit_code == 1
    report = as_json.json()
    assert report["failed"] == ["gone", "nobucket"]
    gone = report["clusters"][1]
    assert gone["error"] == {"type": "InputError", "message": f"public key file {directory / 'rotated-away.pub'} does not exist",
                             "hint": "check the path"}
    assert gone["objects"]["jwks"] == f"s3://{BUCKET}/gone/openid/v1/jwks"
    assert report["clusters"][2]["error"]["type"] == "AWSError"
    assert [c["error"] is None for c in report["clusters"]] == [True, False, False, True]


def test_dry_run_writes_nothing_and_exits_3(bucket: AwsWorld, tmp_path: Path) -> None:
    path, _ = three_clusters(tmp_path / "fleet")
    dry = invoke("publish", "--fleet", str(path), "--dry-run")
    assert dry.exit_code == 3, dry.stderr
    assert bucket.recorder.writes == []
    assert dry.stdout.splitlines()[0].startswith(f"prod: {s3_issuer('prod')}: would write 3 changes (")
    assert dry.stdout.strip().splitlines()[-1] == "fleet of 3 clusters: 3 would change, 0 unchanged, 0 failed"
    assert invoke("publish", "--fleet", str(path)).exit_code == 0
    bucket.recorder.reset()
    assert invoke("publish", "--fleet", str(path), "--dry-run").exit_code == 0  # nothing to do
    assert bucket.recorder.writes == []


def test_from_cluster_entries_and_inherited_sources(bucket: AwsWorld, kube_api: KubeAPI, tmp_path: Path) -> None:
    directory = tmp_path / "fleet"
    kube_api.issuer = s3_issuer("kube")
    config = kube_api.kubeconfig(directory / "kubeconfig", extra_contexts=("other",))
    kube_api.kubeconfig(directory / "bad" / "kubeconfig", kind="bad-token")
    k.write(directory / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    path = fleet_file(directory, {
        # A kubeconfig for all; a cluster with keys of another kind does not inherit it.
        "defaults": {"bucket": BUCKET, "kubeconfig": "kubeconfig"},
        "clusters": [
            {"name": "kube", "prefix": "kube", "context": "stand-in"},
            {"name": "file", "prefix": "file", "public_keys": ["sa.pub"]},
            {"name": "refused", "prefix": "refused", "kubeconfig": "bad/kubeconfig"},
            {"name": "wrong-issuer", "prefix": "wrong", "context": "other"},
        ],
    })
    result = invoke("publish", "--fleet", str(path))
    assert result.exit_code == 1, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"kube: {s3_issuer('kube')}: wrote 3 changes (published 1 key; added ")
    assert lines[1].startswith(f"file: {s3_issuer('file')}: wrote 3 changes")
    assert lines[2] == (
        f"refused: {s3_issuer('refused')}: failed: the API server {kube_api.url} refused the credentials (401); "
        "refresh the kubeconfig's token or certificate"
    )
    # In the file's words: issuer_url, not --issuer-url (the API server's own flag keeps its name).
    assert lines[3].startswith(
        f"wrong-issuer: {s3_issuer('wrong')}: failed: the cluster's issuer is '{s3_issuer('kube')}' but issuer_url is "
        f"'{s3_issuer('wrong')}'; tokens carry the cluster's 'iss': publish for that issuer, or first change the API server's "
        "--service-account-issuer"
    )
    assert_published(bucket, "kube", rendered(tmp_path, s3_issuer("kube"), "--from-cluster", "--kubeconfig", str(config)))
    assert_published(bucket, "file", rendered(tmp_path, s3_issuer("file"), "--public-key", str(directory / "sa.pub")))


# --- a malformed fleet file publishes nothing -----------------------------------------------------

GOOD = {"name": "prod", "bucket": BUCKET, "prefix": "prod", "public_keys": ["sa.pub"]}

# (name, the file (or None: keep GOOD's), extra arguments, exit code, the one line on stderr)
MALFORMED: list[tuple[str, Any, list[str], int, str]] = [
    ("not JSON", '{"clusters": [', [], 2, "error: fleet file {path} is not JSON (Expecting value: line 1 column 15 (char 14)); "),
    ("not an object", "[]", [], 2, "error: fleet file {path} is not a JSON object; "),
    ("no clusters", {"clusters": []}, [], 2, "error: fleet file {path} lists no clusters; "),
    ("clusters missing", {"defaults": {"bucket": BUCKET}}, [], 2, "error: fleet file {path} lists no clusters; "),
    ("unknown field", {"clusters": [{**GOOD, "bukcet": "x"}]}, [], 2, "error: clusters[0] (\"prod\"): unknown field 'bukcet'; did you mean 'bucket'?"),
    ("unknown top-level field", {"clusters": [GOOD], "default": {}}, [], 2, "error: the fleet file: unknown field 'default'; did you mean 'defaults'?"),
    ("name in defaults", {"clusters": [GOOD], "defaults": {"name": "x"}}, [], 2, "error: defaults: unknown field 'name'; "),
    ("field given twice", '{"clusters": [{"name": "a", "name": "b"}]}', [], 2, "error: fleet file {path}: field 'name' is given twice in one object; "),
    ("wrong type", {"clusters": [{**GOOD, "public_keys": "sa.pub"}]}, [], 2, "error: clusters[0] (\"prod\"): public_keys must be a non-empty list of strings; "),
    ("entry not an object", {"clusters": ["prod"]}, [], 2, "error: clusters[0] is not an object; "),
    ("no name", {"clusters": [{k_: v for k_, v in GOOD.items() if k_ != "name"}]}, [], 2, "error: clusters[0]: no name; give each cluster a unique name"),
    ("name with a space", {"clusters": [{**GOOD, "name": "prod eu"}]}, [], 2, "error: clusters[0] (\"prod eu\"): name 'prod eu' is not a plain name; "),
    ("two sources", {"clusters": [{**GOOD, "jwks": "x.json"}]}, [], 2, "error: clusters[0] (\"prod\"): jwks and public_keys were both given as key sources; give exactly one: "),
    ("no source", {"clusters": [{"name": "prod", "bucket": BUCKET}]}, [], 2, "error: clusters[0] (\"prod\"): no key source; give exactly one: jwks, public_keys, or kubeconfig/context"),
    ("two sources in defaults", {"clusters": [GOOD], "defaults": {"jwks": "a", "context": "b"}}, [], 2, "error: defaults give jwks and kubeconfig/context as key sources; "),
    ("no bucket", {"clusters": [{"name": "prod", "public_keys": ["sa.pub"]}]}, [], 2, "error: clusters[0] (\"prod\"): no bucket; give bucket in the entry, or in defaults"),
    ("duplicate names", {"clusters": [GOOD, {**GOOD, "prefix": "other"}]}, [], 2, "error: clusters[1] (\"prod\"): the name is also clusters[0] (\"prod\")'s; give each cluster a unique name"),
    ("duplicate bucket+prefix", {"clusters": [GOOD, {**GOOD, "name": "prod2", "prefix": "/prod/"}]}, [], 2,
     f"error: clusters[1] (\"prod2\"): publishes to s3://{BUCKET}/prod/, as clusters[0] (\"prod\") does; the two would overwrite each other's documents"),
    ("same objects through an issuer's path", {"clusters": [GOOD, {**GOOD, "name": "b", "prefix": None, "issuer_url": "https://oidc.example.com/prod"}]}, [], 2,
     f"error: clusters[1] (\"b\"): publishes to s3://{BUCKET}/prod/, as clusters[0] (\"prod\") does; "),
    ("duplicate issuer", {"clusters": [{**GOOD, "prefix": "a", "issuer_url": "https://oidc.example.com"}, {**GOOD, "name": "b", "prefix": "b", "issuer_url": "https://oidc.example.com"}]}, [], 2,
     "error: clusters[1] (\"b\"): issuer https://oidc.example.com is also clusters[0] (\"prod\")'s; "),
    ("one IAM provider, two spellings", {"clusters": [{**GOOD, "prefix": "a", "issuer_url": "https://oidc.example.com/a"}, {**GOOD, "name": "b", "prefix": "b", "issuer_url": "https://oidc.example.com/a/"}]}, [], 2,
     "error: clusters[1] (\"b\"): issuer https://oidc.example.com/a/ is also clusters[0] (\"prod\")'s (as https://oidc.example.com/a: IAM treats the two as one provider); "),
    ("bad issuer", {"clusters": [{**GOOD, "issuer_url": "http://oidc.example.com"}]}, [], 2, "error: clusters[0] (\"prod\"): issuer URL 'http://oidc.example.com' is not https; "),
    ("issuer with a port", {"clusters": [{**GOOD, "issuer_url": "https://oidc.example.com:8443"}]}, [], 2, "error: clusters[0] (\"prod\"): issuer URL 'https://oidc.example.com:8443' has a port; "),
    ("bad jwks_uri", {"clusters": [{**GOOD, "jwks_uri": "http://keys.example.com/jwks"}]}, [], 2, "error: clusters[0] (\"prod\"): jwks_uri 'http://keys.example.com/jwks' is not https; "),
    ("bad bucket", {"clusters": [{**GOOD, "bucket": "my.bucket"}]}, [], 2, "error: clusters[0] (\"prod\"): bucket name 'my.bucket' contains dots"),
    ("revoke of a kid no JWKS can hold", {"clusters": [{**GOOD, "revoke": ["a kid"]}]}, [], 2, "error: clusters[0] (\"prod\"): revoke has a 'kid' with spaces, control or non-ASCII characters (not shown); "),
    ("region disagrees", {"clusters": [{**GOOD, "prefix": None, "issuer_url": f"https://{BUCKET}.s3.eu-west-1.amazonaws.com", "region": "us-east-1"}]}, [], 2,
     "error: clusters[0] (\"prod\"): region us-east-1 disagrees with the issuer URL's region eu-west-1; drop region"),
    ("bad duration", {"clusters": [{**GOOD, "retain_removed_keys": "forever"}]}, [], 2, "error: clusters[0] (\"prod\"): retain_removed_keys: duration 'forever' is not understood; write it like 48h"),
    ("from_cluster false", {"clusters": [{**GOOD, "from_cluster": False}]}, [], 2, "error: clusters[0] (\"prod\"): from_cluster can only be true; "),
    ("mixed with --bucket", None, ["--bucket", BUCKET], 2, "error: --fleet and --bucket were both given; the fleet file gives each cluster's bucket"),
    ("mixed with key sources", None, ["--public-key", "sa.pub", "--retain-removed-keys", "1h"], 2, "error: --fleet and --public-key, --retain-removed-keys were both given; "),
    ("missing file", "MISSING", [], 2, "error: fleet file {path} does not exist; check the path"),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_fleet_files_publish_nothing(case: tuple[str, Any, list[str], int, str], aws: AwsWorld, tmp_path: Path) -> None:
    name, document, extra, code, message = case
    directory = tmp_path / "fleet"
    k.write(directory / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    if document is None:
        document = {"clusters": [GOOD]}
    if isinstance(document, dict):  # None in an entry means "leave the field out"
        document = {**document, "clusters": [
            {f: v for f, v in c.items() if v is not None} if isinstance(c, dict) else c for c in document.get("clusters", [])
        ]} if "clusters" in document else document
    path = directory / "missing.json" if document == "MISSING" else fleet_file(directory, document)
    result = invoke("publish", "--fleet", str(path), *extra)
    assert result.exit_code == code, (name, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, (name, lines)
    assert lines[0].startswith(message.format(path=path)), (name, lines[0])
    assert "; " in lines[0], f"{name}: the message says what to do"
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    assert aws.recorder.calls == [], f"{name}: AWS was called"


def test_every_problem_is_listed_and_nothing_is_published(aws: AwsWorld, tmp_path: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    directory = tmp_path / "fleet"
    k.write(directory / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    path = fleet_file(directory, {"clusters": [
        GOOD,  # valid, yet not published: the file is validated as a whole first
        {**GOOD, "name": "b", "prefix": "b", "bukcet": "x"},
        {**GOOD, "name": "c", "prefix": "c", "retain_removed_keys": "1 week", "issuer_url": "http://c.example.com"},
    ]})
    aws.recorder.reset()
    result = invoke("publish", "--fleet", str(path), "-o", "json")
    assert result.exit_code == 2
    assert [line.split(";")[0] for line in result.stderr.strip().splitlines()] == [
        "error: clusters[1] (\"b\"): unknown field 'bukcet'",
        "error: clusters[2] (\"c\"): issuer URL 'http://c.example.com' is not https",
        "error: clusters[2] (\"c\"): retain_removed_keys: duration '1 week' is not understood",
    ]
    error = result.json()["error"]
    assert error["type"] == "FleetFileError"
    assert len(error["problems"]) == 3
    assert aws.recorder.calls == []


@pytest.mark.parametrize(("args", "message"), [
    (["--public-key", "x.pub"], "error: --bucket is required; give --bucket BUCKET, or --fleet FILE for many clusters"),
    (["--bucket", BUCKET, "--public-key", "x.pub", "--concurrency", "2"], "error: --concurrency only applies with --fleet; "),
])
def test_single_cluster_usage_errors(args: list[str], message: str, aws: AwsWorld) -> None:
    result = invoke("publish", *args)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(message)
    assert aws.recorder.calls == []


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    for bad in ("0", "33"):
        result = invoke("publish", "--fleet", str(tmp_path / "f.json"), "--concurrency", bad)
        assert result.exit_code == 2  # Typer's own range check


# --- the pool's bound, seen at the wire ---------------------------------------------------------------


class InFlight:
    """A forwarder between the tool and the recording proxy that holds each request a moment and counts
    how many are in flight at once, and which cluster's prefix each request was for, in order."""

    def __init__(self, upstream: str, hold: float = 0.05) -> None:
        target = urllib.parse.urlsplit(upstream)
        self.now = self.peak = 0
        self.prefixes: list[str] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                with lock:
                    outer.now += 1
                    outer.peak = max(outer.peak, outer.now)
                    outer.prefixes.append(self.path.split("?")[0].split("/")[2])
                try:
                    time.sleep(hold)
                    length = int(self.headers.get("Content-Length") or 0)
                    data = self.rfile.read(length) if length else b""
                    relay(self, (target.hostname or "127.0.0.1", target.port or 80), data)
                finally:
                    with lock:
                        outer.now -= 1

            do_GET = do_PUT = do_POST = do_HEAD = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = LocalServer(Handler).start()

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def in_flight(bucket: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[InFlight]:
    forwarder = InFlight(bucket.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", forwarder.url)
    yield forwarder
    forwarder.server.stop()


def nine_clusters(directory: Path) -> Path:
    k.write(directory / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    return fleet_file(directory, {
        "defaults": {"bucket": BUCKET, "public_keys": ["sa.pub"]},
        "clusters": [{"name": f"c{i}", "prefix": f"c{i}"} for i in range(9)],
    })


@pytest.mark.parametrize("concurrency", [3, 1])
def test_no_more_clusters_in_flight_than_asked(concurrency: int, in_flight: InFlight, bucket: AwsWorld, tmp_path: Path) -> None:
    path = nine_clusters(tmp_path / "fleet")
    result = invoke("publish", "--fleet", str(path), "--concurrency", str(concurrency))
    assert result.exit_code == 0, result.stderr
    assert len(in_flight.prefixes) == 9 * 6  # 3 reads and 3 writes per cluster
    # Each cluster's calls are sequential: the peak is the number of clusters at work at once.
    assert in_flight.peak == concurrency
    if concurrency == 1:  # one at a time, in the file's order
        assert in_flight.prefixes == [f"c{i}" for i in range(9) for _ in range(6)]
    else:  # all three workers were busy from the start
        assert sorted(in_flight.prefixes[:3]) == ["c0", "c1", "c2"]


def test_revocations_warn_per_cluster_and_are_applied(bucket: AwsWorld, tmp_path: Path) -> None:
    directory = tmp_path / "fleet"
    k.write(directory / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    k.write(directory / "old.pub", k.public_pem(k.rsa_key()))
    both = {"defaults": {"bucket": BUCKET, "public_keys": ["sa.pub", "old.pub"]},
            "clusters": [{"name": "a", "prefix": "a"}, {"name": "b", "prefix": "b"}]}
    assert invoke("publish", "--fleet", str(fleet_file(directory, both))).exit_code == 0
    old_kid = [key["kid"] for key in json.loads(body(bucket, "a/openid/v1/jwks"))["keys"] if key["kid"] != k.K8S_RSA_KID][0]
    # The old key leaves the source and is revoked in one cluster: dropped at once there, retained in the other.
    path = fleet_file(directory, {
        "defaults": {"bucket": BUCKET, "public_keys": ["sa.pub"]},
        "clusters": [{"name": "a", "prefix": "a", "revoke": [old_kid]}, {"name": "b", "prefix": "b"}],
    })
    result = invoke("publish", "--fleet", str(path))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f'warning: clusters[0] ("a"): revoking {old_kid}: every token signed by it stops working as soon as caches expire (minutes)'
    ]
    assert [key["kid"] for key in json.loads(body(bucket, "a/openid/v1/jwks"))["keys"]] == [k.K8S_RSA_KID]
    assert sorted(key["kid"] for key in json.loads(body(bucket, "b/openid/v1/jwks"))["keys"]) == sorted([k.K8S_RSA_KID, old_kid])
    assert f"revoked {old_kid}" in result.stdout.splitlines()[0]

    short = fleet_file(directory, {
        "defaults": {"bucket": BUCKET, "public_keys": ["sa.pub"]},
        "clusters": [{"name": "a", "prefix": "a", "retain_removed_keys": "2h"}, {"name": "b", "prefix": "b", "retain_removed_keys": "24h"}],
    })
    warned = invoke("publish", "--fleet", str(short))
    assert warned.exit_code == 0, warned.stdout + warned.stderr
    assert warned.stderr.splitlines() == [
        'warning: clusters[0] ("a"): retain_removed_keys 2h00m is shorter than the 24h life of an IRSA token: a removed '
        "key leaves the JWKS while tokens it signed are still used, and STS refuses them (48h is the default; to drop a "
        "compromised key at once, list its kid under revoke)"
    ]

    unknown = fleet_file(directory, {"clusters": [{"name": "a", "bucket": BUCKET, "prefix": "a", "public_keys": ["sa.pub"], "revoke": ["no-such-kid"]}]})
    failed = invoke("publish", "--fleet", str(unknown))
    assert failed.exit_code == 1
    assert failed.stdout.splitlines()[0].startswith(f"a: {s3_issuer('a')}: failed: revoke no-such-kid: no published key has that kid; ")


def test_a_shells_issuer_variables_do_not_conflict_with_fleet(bucket: AwsWorld, tmp_path: Path) -> None:
    """OIDC_PUBLISHER_* name one issuer for single commands; --fleet takes everything from its file."""
    path, _ = three_clusters(tmp_path / "fleet")
    env = {"OIDC_PUBLISHER_BUCKET": "elsewhere", "OIDC_PUBLISHER_ISSUER_URL": "https://other.example.com",
           "OIDC_PUBLISHER_REGION": "eu-west-1"}
    result = invoke("publish", "--fleet", str(path), env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "fleet of 3 clusters: 3 changed, 0 unchanged, 0 failed"
    explicit = invoke("publish", "--fleet", str(path), "--bucket", BUCKET, env=env)
    assert explicit.exit_code == 2 and explicit.stderr.startswith("error: --fleet and --bucket were both given")


def test_an_error_about_an_option_names_the_flag_or_the_files_key() -> None:
    """Errors carry the option they are about (Error.option): the command line shows the flag, the fleet the
    file's key, from the same error; text that names no option of the error's is shown as it is."""
    from oidc_publisher.commands.fleet import FILE_KEYS, _as_outcome_error
    from oidc_publisher.core.errors import OPTION, AWSError, InputError

    error = InputError(f"{OPTION} us-east-1 disagrees with the issuer URL's region eu-west-1", f"drop {OPTION}", option="--region")
    assert str(error) == "--region us-east-1 disagrees with the issuer URL's region eu-west-1; drop --region"
    assert error.named("region") == ("region us-east-1 disagrees with the issuer URL's region eu-west-1", "drop region")
    in_file = _as_outcome_error(error)
    assert str(in_file) == "region us-east-1 disagrees with the issuer URL's region eu-west-1; drop region"
    assert type(in_file) is InputError and in_file.exit_code == 2
    assert str(error) == "--region us-east-1 disagrees with the issuer URL's region eu-west-1; drop --region"  # unchanged
    public_keys = _as_outcome_error(InputError(f"{OPTION} files hold no key", None, option="--public-key"))
    assert str(public_keys) == "public_keys files hold no key"
    # Not about an option of the file's: shown as it is, never rewritten.
    kept = _as_outcome_error(AWSError("the API server's --service-account-issuer differs", "see --help", option="--front"))
    assert str(kept) == "the API server's --service-account-issuer differs; see --help"
    assert set(FILE_KEYS) == {"--issuer-url", "--region", "--prefix", "--bucket", "--kubeconfig", "--context", "--revoke",
                              "--public-key", "--jwks-uri"}


def test_another_issuers_documents_are_refused_in_the_files_terms(bucket: AwsWorld, tmp_path: Path) -> None:
    """The ownership conflict names the issuer URL by the file's key (its error's option), not the flag."""
    directory = tmp_path / "fleet"
    pub = k.write(directory / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    theirs = "https://a.oidc.example.com/team"
    assert invoke("publish", "--issuer-url", theirs, "--bucket", BUCKET, "--public-key", str(pub)).exit_code == 0
    path = fleet_file(directory, {"clusters": [
        {"name": "b", "bucket": BUCKET, "issuer_url": "https://b.oidc.example.com/team", "public_keys": ["sa.pub"]}]})
    result = invoke("publish", "--fleet", str(path))
    assert result.exit_code == 1
    [line] = [line for line in result.stdout.splitlines() if "belongs to issuer" in line]
    assert line.endswith(
        f"nothing was written; if the cluster's --service-account-issuer is {theirs}, give issuer_url {theirs}; "
        "a different issuer needs its own --prefix or bucket"
    ), line
