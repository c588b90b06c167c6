"""``demo --serve``, the playground, as a user runs it: started as its own process, every command of
docs/quickstart-kubeadm.md run as written in a separate shell that has only the lines it printed, then
stopped with Ctrl-C: no process left, its ports free, its work directory gone."""

from __future__ import annotations

import json
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from oidc_publisher_demo.playground import bucket_for_host, exports, shell_lines

DOCS = Path(__file__).resolve().parents[1] / "docs"
BIN = Path(sys.executable).parent
READY = "Ready. Stop with Ctrl-C."


@dataclass
class Playground:
    process: subprocess.Popen[str]
    output: list[str]  # what it printed up to READY
    lines: list[str]  # the shell lines it printed for the user to paste
    rest: queue.Queue[str]  # what it prints after READY, line by line ("\x00" at the end)

    def stop(self, signum: int) -> tuple[int, list[str]]:
        """Send the signal, wait for the exit, and return the exit code and what it printed meanwhile."""
        self.process.send_signal(signum)
        code = self.process.wait(timeout=30)
        printed = []
        while (line := self.rest.get(timeout=30)) != "\x00":
            printed.append(line)
        return code, printed

    @property
    def exports(self) -> dict[str, str]:
        return {m[1]: shlex.split(m[2])[0] for line in self.lines if (m := re.match(r"^export (\w+)=(.*)$", line))}


def start(home: Path, *options: str) -> Playground:
    process = subprocess.Popen(
        [sys.executable, "-m", "oidc_publisher", "demo", "--serve", *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"},
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put("\x00")  # end of output

    threading.Thread(target=read, daemon=True).start()
    output: list[str] = []
    while READY not in output:
        try:
            line = lines.get(timeout=90)
        except queue.Empty:
            process.kill()
            pytest.fail("demo --serve did not get ready in 90 s:\n" + "\n".join(output))
        if line == "\x00":
            pytest.fail(f"demo --serve exited {process.returncode}:\n" + "\n".join(output))
        output.append(line)
    pasted = [line.strip() for line in output if re.match(r"^  (export|unset) ", line)]
    return Playground(process, output, pasted, lines)


@pytest.fixture
def playground(tmp_path: Path) -> Iterator[Playground]:
    served = start(tmp_path)
    yield served
    if served.process.poll() is None:
        served.process.kill()
        served.process.wait()


def quickstart(text: str) -> tuple[list[str], list[tuple[str, int]]]:
    """The assignments the reader makes, and each oidc-publisher command with the exit code a '# exit N'
    comment says to expect; any other line of a ```sh block fails the test (nothing is skipped)."""
    assignments: list[str] = []
    commands: list[tuple[str, int]] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if re.match(r"^[A-Z_]+=\S+$", line):
                assignments.append(line)
            elif line.startswith("oidc-publisher "):
                m = re.search(r"\s+#\s*exit (\d+)$", line)
                commands.append((line, int(m[1]) if m else 0))
            else:
                assert not line, f"a line of a sh block the test does not run: {line}"
    return assignments, commands


def in_new_shell(playground: Playground, script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A fresh bash with nothing but PATH and HOME, that first runs the lines the playground printed."""
    return subprocess.run(
        ["bash", "-c", "\n".join([*playground.lines, script])], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd)}, check=False,
    )


def refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_the_kubeadm_quick_start_runs_as_written_against_the_playground(playground: Playground, tmp_path: Path) -> None:
    work = Path(playground.exports["KUBECONFIG"]).parent
    assert sorted(playground.exports) == sorted(
        [
            "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION",
            "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED", "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE", "KUBECONFIG", "OIDC_PUBLISHER_CONNECT_TO", "SA_PUB",
        ]
    )
    assert (work / "env.sh").read_text().splitlines() == playground.lines
    kube_server = json.loads(Path(playground.exports["KUBECONFIG"]).read_text())["clusters"][0]["cluster"]["server"]
    ports = [
        int(urlsplit(playground.exports["AWS_ENDPOINT_URL"]).port or 0),
        int(playground.exports["OIDC_PUBLISHER_CONNECT_TO"].rsplit(":", 1)[1]),
        int(urlsplit(kube_server).port or 0),
    ]
    assert not any(refused(port) for port in ports)

    assignments, commands = quickstart((DOCS / "quickstart-kubeadm.md").read_text())
    assert [c for c, _ in commands if "--dry-run" in c] and commands[-1][0].startswith("oidc-publisher verify")
    for command, expected in commands:
        done = in_new_shell(playground, "\n".join([*assignments, command]), tmp_path)
        assert done.returncode == expected, f"{command}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr
    assert "All checks passed: STS will accept this issuer's tokens." in done.stdout
    assert "[FAIL]" not in done.stdout
    # The commands wrote where the doc says, in the reader's directory.
    assert (tmp_path / "rotation-job" / "cronjob.yaml").is_file() and (tmp_path / "my-app-sa.yaml").is_file()

    # The connect-to knob moves TCP connections only: a host the front's certificate does not name fails.
    elsewhere = in_new_shell(playground, "oidc-publisher thumbprint https://example.com", tmp_path)
    assert elsewhere.returncode == 1, elsewhere.stdout + elsewhere.stderr
    assert elsewhere.stderr.startswith("error: the certificate of example.com does not cover the host name example.com")

    code, out = playground.stop(signal.SIGINT)  # Ctrl-C
    assert code == 0, out
    assert out[-1] == "Playground stopped (SIGINT); removed its work directory."
    assert "Traceback" not in "\n".join(out)
    assert "PRIVATE KEY" not in "\n".join([*playground.output, *out])  # the signing key stays in its 0600 file
    assert all(refused(port) for port in ports)
    assert not work.exists()


def test_sigterm_stops_it_and_work_dir_is_kept(tmp_path: Path) -> None:
    served = start(tmp_path, "--work-dir", str(tmp_path / "state"))
    try:
        code, out = served.stop(signal.SIGTERM)
    finally:
        if served.process.poll() is None:
            served.process.kill()
    assert code == 0, out
    assert out[-1] == f"Playground stopped (SIGTERM); kept {tmp_path / 'state'}."
    assert (tmp_path / "state" / "env.sh").read_text().splitlines() == served.lines


def test_exports_point_at_the_stand_ins(tmp_path: Path) -> None:
    values = exports(
        endpoint="http://127.0.0.1:5000", ca_file=tmp_path / "ca.pem", kubeconfig=tmp_path / "kubeconfig",
        front_port=8443, public_key=tmp_path / "sa it.pub", work=tmp_path,
    )
    lines = shell_lines(values)
    assert lines[0] == "unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN"
    assert f"export SA_PUB='{tmp_path}/sa it.pub'" in lines
    assert "export OIDC_PUBLISHER_CONNECT_TO=::127.0.0.1:8443" in lines
    assert values["SSL_CERT_FILE"] == values["REQUESTS_CA_BUNDLE"] == str(tmp_path / "ca.pem")


def test_the_front_serves_the_bucket_a_host_names() -> None:
    distributions = [
        {"DomainName": "d1.cloudfront.net", "Origins": {"Items": [{"DomainName": "priv.s3.eu-west-1.amazonaws.com", "OriginPath": "/p"}]}},
    ]
    assert bucket_for_host("my-cluster-oidc.s3.eu-west-1.amazonaws.com", list) == ("my-cluster-oidc", "")
    assert bucket_for_host("d1.cloudfront.net", lambda: distributions) == ("priv", "p")
    assert bucket_for_host("d2.cloudfront.net", lambda: distributions) is None
    assert bucket_for_host("example.com", lambda: distributions) is None


def test_serve_refuses_what_it_cannot_do_before_starting_anything(tmp_path: Path) -> None:
    from tests.support.cli import invoke

    without_serve = invoke("demo", "--issuer-url", "https://oidc.example.com")
    assert (without_serve.exit_code, without_serve.stderr) == (
        2, "error: --issuer-url is for demo --serve; add --serve, or drop --issuer-url\n"
    )
    as_json = invoke("demo", "--serve", "-o", "json")
    assert as_json.exit_code == 2
    assert as_json.stderr == "error: demo --serve prints shell lines, not JSON; drop --output json; it writes them to env.sh too\n"
    bad = invoke("demo", "--serve", "--issuer-url", "http://oidc.example.com", "--work-dir", str(tmp_path / "w"))
    assert bad.exit_code != 0
    assert bad.stderr.startswith("error: issuer URL 'http://oidc.example.com' is not https")
    assert not (tmp_path / "w").exists()


def test_without_moto_it_says_how_to_install_the_demo_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PyPI package to name: the fix is the clone's own extra."""
    from tests.support.cli import invoke

    monkeypatch.setitem(sys.modules, "moto.server", None)  # what an install without the demo extra has
    for args in (("demo",), ("demo", "--serve")):
        result = invoke(*args)
        assert (result.exit_code, result.stderr) == (
            1,
            "error: the demo needs moto's server (the local AWS); install the demo extra: pip install '.[demo]' in "
            "the clone (pipx: pipx install --force '.[demo]')\n",
        ), args


def test_the_kubernetes_stand_in_signs_tokens_an_independent_verifier_accepts() -> None:
    import jwt
    from oidc_publisher_demo.emulator_kube import ClusterStandIn

    from tests.support import keys as k

    issuer = "https://my-cluster-oidc.s3.eu-west-1.amazonaws.com"
    cluster = ClusterStandIn(issuer, k.rsa_key(), "https://127.0.0.1:6443", "secret-token")
    assert cluster.answer("GET", "/openid/v1/jwks", "Bearer wrong", b"").status == 401
    assert cluster.answer("GET", "/openid/v1/jwks", "", b"").status == 401
    discovery = cluster.answer("GET", "/.well-known/openid-configuration", "Bearer secret-token", b"")
    assert discovery.body["issuer"] == issuer
    assert discovery.body["jwks_uri"] == "https://127.0.0.1:6443/openid/v1/jwks"
    jwks = cluster.answer("GET", "/openid/v1/jwks", "Bearer secret-token", b"")
    assert jwks.content_type == "application/jwk-set+json"
    [jwk] = jwks.body["keys"]
    request = json.dumps({"spec": {"audiences": ["sts.amazonaws.com"], "expirationSeconds": 600}}).encode()
    minted = cluster.answer("POST", "/api/v1/namespaces/default/serviceaccounts/my-app/token", "Bearer secret-token", request)
    assert minted.status == 201
    token = minted.body["status"]["token"]
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"], audience="sts.amazonaws.com", issuer=issuer)
    assert claims["sub"] == "system:serviceaccount:default:my-app"
    assert cluster.answer("GET", "/api/v1/namespaces/default/pods", "Bearer secret-token", b"").status == 404
