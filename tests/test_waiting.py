"""``--wait`` (issue 17, "Long waits say what they wait for"): ``teardown --wait`` and ``bootstrap --cloudfront
--wait`` poll the distribution until it has deployed, on a clock the tests move themselves (no sleeping):
moto's state manager keeps distributions InProgress until the fake sleep says they have deployed."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from oidc_publisher.cli import waiting as waiting_cli
from oidc_publisher.core.waiting import Polled, Waited, duration, wait_until
from tests.support import keys as k
from tests.support.cli import Outcome, invoke
from tests.support.deployments import finish_deployments
from tests.support.fronts import Front
from tests.support.motoserver import AwsWorld

BUCKET = "cf-issuer"
POLICY = f"oidc-publisher-{BUCKET}"


class FakeTime:
    """A clock that moves only when slept on; ``then`` runs after the ``after``-th sleep (e.g. a deployment ends)."""

    def __init__(self, after: int | None = None, then: Callable[[], None] = lambda: None) -> None:
        self.now = 5000.0
        self.sleeps: list[float] = []
        self.after, self.then = after, then

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if len(self.sleeps) == self.after:
            self.then()


class Recorded:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, str, float]] = []

    def changed(self, before: str | None, after: str, elapsed: float) -> None:
        self.events.append(("changed", before, after, elapsed))

    def polled(self, status: str, elapsed: float) -> None:
        self.events.append(("polled", None, status, elapsed))


def statuses(*seen: str) -> Callable[[], Polled]:
    """A poll that answers these statuses in turn (done at Deployed), then the last one forever."""
    answers = list(seen)

    def poll() -> Polled:
        status = answers.pop(0) if len(answers) > 1 else answers[0]
        return Polled(status, status == "Deployed")

    return poll


# ---------------------------------------------------------------- the loop, on a fake clock


def test_wait_until_reports_each_change_and_stops_when_done() -> None:
    time, progress = FakeTime(), Recorded()
    waited = wait_until("distribution E1", statuses("InProgress", "InProgress", "Deployed"), timeout=600,
                        clock=time.clock, sleep=time.sleep, progress=progress, interval=10)
    assert waited == Waited("distribution E1", True, 20.0, ("InProgress", "Deployed"))
    assert time.sleeps == [10, 10]
    assert progress.events == [("changed", None, "InProgress", 0.0), ("polled", None, "InProgress", 10.0),
                               ("changed", "InProgress", "Deployed", 20.0)]
    assert waited.summary() == "waited 20s for distribution E1 (InProgress -> Deployed)"


def test_wait_until_gives_up_at_the_timeout_after_a_last_look() -> None:
    time, progress = FakeTime(), Recorded()
    waited = wait_until("distribution E1", statuses("InProgress"), timeout=25, clock=time.clock, sleep=time.sleep,
                        progress=progress, interval=10)
    assert (waited.done, waited.elapsed, waited.last) == (False, 25.0, "InProgress")
    assert time.sleeps == [10, 10, 5]  # never past the timeout; the last poll is at it
    assert waited.summary() == "gave up waiting for distribution E1 after 25s (InProgress)"
    # Done at the very last look is done.
    time = FakeTime()
    assert wait_until("d", statuses("InProgress", "InProgress", "Deployed"), timeout=20, clock=time.clock,
                      sleep=time.sleep, progress=Recorded(), interval=10).done is True


def test_a_thing_already_done_is_not_waited_for() -> None:
    time = FakeTime()
    waited = wait_until("d", statuses("Deployed"), timeout=600, clock=time.clock, sleep=time.sleep, progress=Recorded())
    assert (waited.done, waited.elapsed, time.sleeps) == (True, 0.0, [])


def test_duration() -> None:
    assert [duration(s) for s in (0, 45.9, 60, 190, 3600, 3723)] == ["0s", "45s", "1m0s", "3m10s", "1h0m0s", "1h2m3s"]


def test_the_spinner_shows_the_status_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(force_terminal=True, file=out, width=100)
    time = FakeTime()
    with waiting_cli.spinner("distribution E1", console) as progress:
        wait_until("distribution E1", statuses("InProgress", "InProgress", "Deployed"), timeout=600,
                   clock=time.clock, sleep=time.sleep, progress=progress, interval=10)
    shown = out.getvalue()
    assert "waiting for distribution E1: InProgress (0s)" in shown
    assert "waiting for distribution E1: InProgress (10s)" in shown
    assert "waiting for distribution E1: Deployed (20s)" in shown


# ---------------------------------------------------------------- the commands, against moto's server


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeTime]:
    """Install a FakeTime as the commands' clock and sleep."""

    def install(after: int | None = None, then: Callable[[], None] = lambda: None) -> FakeTime:
        time = FakeTime(after, then)
        monkeypatch.setattr(waiting_cli, "clock_and_sleep", lambda: (time.clock, time.sleep))
        return time

    return install


@pytest.fixture
def cf_front(front: Front) -> None:
    """HTTPS for the distributions' hosts (one CA for the whole test: re-runs see the same thumbprint)."""
    front(BUCKET, ("*.cloudfront.net",))


def bootstrap_cloudfront(tmp_path: Path, *extra: str) -> Outcome:
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    return invoke("bootstrap", "--bucket", BUCKET, "--cloudfront", "--public-key", str(pub), "-o", "json", *extra)


def test_teardown_wait_deletes_distribution_oac_and_cache_policy_in_one_run(
    aws: AwsWorld, cf_front: None, tmp_path: Path, slow_deployments: None, fake_time: Callable[..., FakeTime],
) -> None:
    boot = bootstrap_cloudfront(tmp_path)
    assert boot.exit_code == 0, boot.stderr
    issuer, distribution = boot.json()["issuer"], boot.json()["distribution_id"]
    cf = aws.client("cloudfront")
    [oac] = [o["Id"] for o in cf.list_origin_access_controls()["OriginAccessControlList"]["Items"]]
    time = fake_time(after=3, then=lambda: finish_deployments(aws))  # deployed after the third sleep

    done = invoke("teardown", "--issuer-url", issuer, "--bucket", BUCKET, "--yes", "--wait", "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert time.sleeps == [10, 10, 10]
    # stderr (not a terminal): a line per state change; stdout: the report alone.
    assert done.stderr == (f"waiting: distribution {distribution} InProgress (0s)\n"
                           f"waiting: distribution {distribution} InProgress -> Deployed (30s)\n")
    body = done.json()
    assert [(c["action"], c["resource"]) for c in body["changes"] if c["resource"].startswith("cloudfront:")] == [
        ("delete", f"cloudfront:distribution/{distribution}"), ("delete", f"cloudfront:origin-access-control/{oac}"),
        ("delete", f"cloudfront:cache-policy/{POLICY}")]
    assert body["waited"] == f"waited 30s for distribution {distribution} (InProgress -> Deployed)"
    assert not any("re-run" in note for note in body["notes"])
    assert cf.list_distributions()["DistributionList"].get("Items", []) == []
    assert cf.list_origin_access_controls()["OriginAccessControlList"].get("Items", []) == []
    assert aws.cache_policies.by_name() == {}
    ops = aws.recorder.operations("cloudfront")
    assert ops.index("DeleteCachePolicy") > ops.index("DeleteOriginAccessControl") > ops.index("DeleteDistribution")


def test_teardown_wait_text_report_ends_with_the_summary(
    aws: AwsWorld, cf_front: None, tmp_path: Path, slow_deployments: None, fake_time: Callable[..., FakeTime],
) -> None:
    boot = bootstrap_cloudfront(tmp_path)
    issuer, distribution = boot.json()["issuer"], boot.json()["distribution_id"]
    fake_time(after=1, then=lambda: finish_deployments(aws))
    done = invoke("teardown", "--issuer-url", issuer, "--bucket", BUCKET, "--yes", "--wait")
    assert done.exit_code == 0, done.stderr
    assert done.stdout.startswith("Changed:\n")
    assert done.stdout.endswith(f"\nwaited 10s for distribution {distribution} (InProgress -> Deployed)\n")


def test_teardown_wait_gives_up_at_the_timeout_and_a_rerun_finishes(
    aws: AwsWorld, cf_front: None, tmp_path: Path, slow_deployments: None, fake_time: Callable[..., FakeTime],
) -> None:
    boot = bootstrap_cloudfront(tmp_path)
    issuer, distribution = boot.json()["issuer"], boot.json()["distribution_id"]
    cf = aws.client("cloudfront")
    [oac] = [o["Id"] for o in cf.list_origin_access_controls()["OriginAccessControlList"]["Items"]]
    args = ("teardown", "--issuer-url", issuer, "--bucket", BUCKET, "--yes", "--wait")
    time = fake_time()  # never deploys

    gave_up = invoke(*args, "--wait-timeout", "1m")
    assert gave_up.exit_code == 1
    assert time.sleeps == [10] * 6
    assert gave_up.stderr == f"waiting: distribution {distribution} InProgress (0s)\n"
    line = (f"gave up waiting after 1m0s: distribution {distribution} is disabled but still InProgress; re-run teardown "
            f"(with --wait) to delete it, then its origin access control {oac} and its cache policy {POLICY}")
    assert gave_up.stdout.endswith(f"\n{line}\n")
    assert gave_up.stdout.count("re-run") == 1  # one line says what is left
    # Only what happened is listed as changed: the distribution disabled, nothing of CloudFront's deleted.
    assert f"  update     cloudfront:distribution/{distribution}: disabled; CloudFront deletes it once deployed\n" in gave_up.stdout
    assert "delete     cloudfront:" not in gave_up.stdout
    # Left re-runnable: disabled, still there with its OAC and cache policy; everything else gone.
    assert cf.get_distribution_config(Id=distribution)["DistributionConfig"]["Enabled"] is False
    assert [o["Id"] for o in cf.list_origin_access_controls()["OriginAccessControlList"]["Items"]] == [oac]
    assert list(aws.cache_policies.by_name()) == [POLICY]
    assert aws.client("s3").list_buckets()["Buckets"] == []

    finish_deployments(aws)
    time = fake_time()
    again = invoke(*args, "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert time.sleeps == [] and again.stderr == ""  # deployed by now: nothing to wait for
    assert [(c["action"], c["resource"]) for c in again.json()["changes"]] == [
        ("delete", f"cloudfront:distribution/{distribution}"), ("delete", f"cloudfront:origin-access-control/{oac}"),
        ("delete", f"cloudfront:cache-policy/{POLICY}")]
    assert again.json()["waited"] is None
    assert cf.list_distributions()["DistributionList"].get("Items", []) == []


def test_teardown_wait_shows_a_spinner_on_a_terminal(
    aws: AwsWorld, cf_front: None, tmp_path: Path, slow_deployments: None, fake_time: Callable[..., FakeTime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    boot = bootstrap_cloudfront(tmp_path)
    issuer, distribution = boot.json()["issuer"], boot.json()["distribution_id"]
    terminal = io.StringIO()
    monkeypatch.setattr(waiting_cli, "terminal_console", lambda: Console(force_terminal=True, file=terminal, width=120))
    fake_time(after=2, then=lambda: finish_deployments(aws))
    done = invoke("teardown", "--issuer-url", issuer, "--bucket", BUCKET, "--yes", "--wait", "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert done.stderr == ""  # the spinner, not lines
    assert f"waiting for distribution {distribution}: InProgress (10s)" in terminal.getvalue()
    assert f"waiting for distribution {distribution}: Deployed (20s)" in terminal.getvalue()
    assert done.json()["waited"] == f"waited 20s for distribution {distribution} (InProgress -> Deployed)"


def test_teardown_dry_run_with_wait_waits_for_nothing(
    aws: AwsWorld, cf_front: None, tmp_path: Path, slow_deployments: None, fake_time: Callable[..., FakeTime],
) -> None:
    boot = bootstrap_cloudfront(tmp_path)
    aws.recorder.reset()
    time = fake_time()
    dry = invoke("teardown", "--issuer-url", boot.json()["issuer"], "--bucket", BUCKET, "--wait", "--dry-run", "-o", "json")
    assert dry.exit_code == 3, dry.stderr
    assert (time.sleeps, dry.stderr, dry.json()["waited"]) == ([], "", None)
    assert aws.recorder.writes == []
    assert "GetDistribution" not in aws.recorder.operations("cloudfront")


def test_bootstrap_cloudfront_wait_waits_until_deployed(
    aws: AwsWorld, cf_front: None, tmp_path: Path, slow_deployments: None, fake_time: Callable[..., FakeTime],
) -> None:
    time = fake_time(after=2, then=lambda: finish_deployments(aws))
    boot = bootstrap_cloudfront(tmp_path, "--wait")
    assert boot.exit_code == 0, boot.stderr
    distribution = boot.json()["distribution_id"]
    assert time.sleeps == [10, 10]
    assert boot.stderr == (f"waiting: distribution {distribution} InProgress (0s)\n"
                           f"waiting: distribution {distribution} InProgress -> Deployed (20s)\n")
    assert boot.json()["waited"] == f"waited 20s for distribution {distribution} (InProgress -> Deployed)"
    assert aws.client("cloudfront").get_distribution(Id=distribution)["Distribution"]["Status"] == "Deployed"
    # The wait comes after everything was written: the provider exists once the wait begins.
    ops = aws.recorder.calls
    assert ops.index(("iam", "CreateOpenIDConnectProvider")) < ops.index(("cloudfront", "GetDistribution"))
    # Text: the summary before the next steps.
    fake_time()
    again = invoke("bootstrap", "--bucket", BUCKET, "--cloudfront", "--public-key", str(tmp_path / "sa.pub"), "--wait")
    assert again.exit_code == 0, again.stderr
    assert f"\nwaited 0s for distribution {distribution} (Deployed)\n\nNext:\n" in again.stdout


def test_bootstrap_cloudfront_wait_gives_up_at_the_timeout(
    aws: AwsWorld, cf_front: None, tmp_path: Path, slow_deployments: None, fake_time: Callable[..., FakeTime],
) -> None:
    time = fake_time()
    boot = bootstrap_cloudfront(tmp_path, "--wait", "--wait-timeout", "30s")
    assert boot.exit_code == 1, boot.stderr
    distribution = boot.json()["distribution_id"]
    assert time.sleeps == [10, 10, 10]
    assert boot.json()["waited"] == (
        f"gave up waiting after 30s: distribution {distribution} is still InProgress, and serves the issuer only once "
        "Deployed; everything else is in place: re-run bootstrap with --wait to wait again")
    assert boot.json()["provider_arn"]  # the rest was done
    finish_deployments(aws)
    fake_time()
    again = bootstrap_cloudfront(tmp_path, "--wait")
    assert again.exit_code == 0, again.stderr
    assert again.json()["waited"] == f"waited 0s for distribution {distribution} (Deployed)"
    assert again.json()["changed"] is False


def test_bootstrap_dry_run_with_wait_waits_for_nothing(
    aws: AwsWorld, cf_front: None, tmp_path: Path, slow_deployments: None, fake_time: Callable[..., FakeTime],
) -> None:
    assert bootstrap_cloudfront(tmp_path).exit_code == 0
    aws.recorder.reset()
    time = fake_time()
    dry = bootstrap_cloudfront(tmp_path, "--wait", "--dry-run")
    assert dry.exit_code == 0, dry.stdout
    assert (time.sleeps, dry.stderr, dry.json()["waited"]) == ([], "", None)
    assert "GetDistribution" not in aws.recorder.operations("cloudfront")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bootstrap", "--bucket", BUCKET, "--public-key", "sa.pub", "--wait"),
         "error: --wait only applies with --cloudfront (an S3-direct issuer is served as soon as it is written); "
         "add --cloudfront or drop --wait\n"),
        (("bootstrap", "--bucket", BUCKET, "--cloudfront", "--public-key", "sa.pub", "--wait-timeout", "5m"),
         "error: --wait-timeout only applies with --wait; add --wait or drop --wait-timeout\n"),
        (("teardown", "--issuer-url", "https://d1.cloudfront.net", "--bucket", BUCKET, "--yes", "--wait-timeout", "5m"),
         "error: --wait-timeout only applies with --wait; add --wait or drop --wait-timeout\n"),
        (("teardown", "--issuer-url", "https://d1.cloudfront.net", "--bucket", BUCKET, "--yes", "--wait", "--wait-timeout", "soon"),
         "error: --wait-timeout: duration 'soon' is not understood; write it like 30m, 1h or 90s\n"),
    ],
)
def test_wait_options_misused_are_usage_errors(aws: AwsWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               args: tuple[str, ...], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    result = invoke(*args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message)
    assert aws.recorder.calls == []
