"""One consistent command line, checked over every command of the Typer app (a new command must take
its place in each table below): files are never overwritten without --force, every command reports
with --output text|json, and bad input exits 2 with one line and no AWS call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from oidc_publisher.cli import app
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.motoserver import AwsWorld

ISSUER = "https://oidc.example.com"
ROLE = "arn:aws:iam::123456789012:role/oidc-publisher"


def commands() -> Iterator[tuple[str, Any]]:
    """Every leaf command, by its name on the command line ("role create")."""

    def walk(command: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), command

    yield from walk(typer.main.get_command(app), [])


def options(command: Any) -> dict[str, Any]:
    return {opt: param for param in command.params for opt in getattr(param, "opts", ())}


ALL = dict(commands())


# --- files: never overwritten without --force --------------------------------------------------------

# command -> (arguments that write `target` given the directory `d` and a good public key, target)
WRITERS: dict[str, Callable[[Path, Path], tuple[list[str], Path]]] = {
    "keys generate": lambda d, pub: (["--out-dir", str(d)], d / "sa-signer.key"),
    "render": lambda d, pub: (["--issuer-url", ISSUER, "--public-key", str(pub), "--out-dir", str(d)], d / "openid/v1/jwks"),
    "templates render": lambda d, pub: (["--distribution", "k3s", "--issuer-url", ISSUER, "--out", str(d)], d / "k3s.yaml"),
    "role create": lambda d, pub: (
        ["--issuer-url", ISSUER, "--namespace", "default", "--service-account", "app",
         "--policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess", "--out", str(d / "sa.yaml")],
        d / "sa.yaml",
    ),
}


def test_every_command_that_writes_files_is_listed() -> None:
    writers = {name for name, command in ALL.items() if {"--out", "--out-dir"} & set(options(command))}
    assert writers == set(WRITERS)
    assert all("--force" in options(ALL[name]) for name in writers)


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_no_command_overwrites_a_file_without_force(name: str, aws: AwsWorld, tmp_path: Path) -> None:
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    args, target = WRITERS[name](tmp_path / "out", pub)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("mine\n")
    result = invoke(*name.split(), *args)
    assert result.exit_code == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "already exists" in line and "--force" in line, line
    assert target.read_text() == "mine\n"
    assert aws.recorder.writes == []


# --- reports: --output text|json everywhere ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_command_takes_output_json(name: str) -> None:
    output = options(ALL[name]).get("--output")
    assert output is not None, f"{name} has no --output"
    assert "-o" in output.opts
    assert list(output.type.choices) == ["text", "json"]


@pytest.mark.parametrize(
    "args",
    [
        ("templates", "list"),
        ("role", "trust-policy", "--issuer-url", ISSUER, "--namespace", "ns", "--service-account", "sa"),
        ("thumbprint", "ftp://x"),  # an error is JSON too
    ],
)
def test_output_json_is_one_json_document(args: tuple[str, ...], aws: AwsWorld) -> None:
    import json

    result = invoke(*args, "--output", "json")
    assert isinstance(json.loads(result.stdout), dict)


def test_output_with_a_path_suggests_out() -> None:
    result = invoke("templates", "render", "--distribution", "k3s", "--issuer-url", ISSUER, "--output", "k3s.yaml")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", (
        "error: Invalid value for '--output' / '-o': 'k3s.yaml' is not one of 'text', 'json'; did you mean --out PATH? "
        "(--output is the report's format: text or json)\n"))
    out_dir = invoke("render", "--issuer-url", ISSUER, "--output", "./docs")
    assert out_dir.stderr.endswith("did you mean --out-dir DIR? (--output is the report's format: text or json)\n")
    no_out = invoke("audit", "--issuer-url", ISSUER, "--output", "x.json")
    assert no_out.stderr.endswith("run 'oidc-publisher audit --help' for the options\n")


# --- bad input: exit 2, one line, no AWS call -------------------------------------------------------

# command -> arguments with one bad value (a file named "missing" does not exist)
BAD_INPUT: dict[str, list[str]] = {
    "render": ["--issuer-url", "http://oidc.example.com", "--public-key", "{pub}", "--out-dir", "{tmp}/out"],
    "publish": ["--bucket", "My.Bucket", "--region", "us-east-1", "--public-key", "{pub}"],
    "thumbprint": ["ftp://oidc.example.com"],
    "register": ["--issuer-url", "https://oidc.example.com:8443"],
    "bootstrap": ["--bucket", "my-issuer", "--region", "us-east-1", "--public-key", "{tmp}/missing.pub"],
    "verify": ["--issuer-url", ISSUER, "--token", "{tmp}/missing.token"],
    "audit": ["--issuer-url", "https://oidc.example.com/?q"],
    "teardown": ["--issuer-url", "http://oidc.example.com", "--bucket", "my-issuer", "--yes"],
    "demo": ["--issuer-url", ISSUER],  # --issuer-url is for --serve
    "keys generate": ["--out-dir", "{tmp}/keys", "--bits", "1024"],
    "templates list": ["--output", "yaml"],
    "templates render": ["--distribution", "kubeadm", "--issuer-url", "https://OIDC.example.com"],
    "role trust-policy": ["--issuer-url", ISSUER, "--namespace", "Bad_NS", "--service-account", "sa"],
    "role create": ["--issuer-url", ISSUER, "--namespace", "ns", "--service-account", "sa", "--policy-arn", "ReadOnlyAccess"],
    "doctor": ["--namespace", "Shop", "--pod", "p"],
    "members list": ["--bucket", "my-issuer", "--stale-after", "soon"],
    "members remove": ["Blue Cluster", "--bucket", "my-issuer"],
}


def test_every_command_has_a_bad_input_case() -> None:
    assert set(BAD_INPUT) == set(ALL)


@pytest.mark.parametrize("name", sorted(BAD_INPUT))
def test_bad_input_exits_2_with_one_line_and_no_aws_call(name: str, aws: AwsWorld, tmp_path: Path) -> None:
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    args = [a.format(pub=pub, tmp=tmp_path) for a in BAD_INPUT[name]]
    result = invoke(*name.split(), *args)
    assert result.exit_code == 2, (name, result.stderr)
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "; " in line, line
    assert aws.recorder.calls == []
    assert not (tmp_path / "out").exists() and not (tmp_path / "keys").exists()


# --- one handle per issuer: the variables -----------------------------------------------------------

VARIABLES = {"--issuer-url": "OIDC_PUBLISHER_ISSUER_URL", "--bucket": "OIDC_PUBLISHER_BUCKET", "--region": "OIDC_PUBLISHER_REGION"}


@pytest.mark.parametrize("name", sorted(ALL))
def test_issuer_bucket_and_region_come_from_the_environment_too(name: str) -> None:
    for option, variable in VARIABLES.items():
        param = options(ALL[name]).get(option)
        if param is None or name == "demo":  # demo --serve's issuer is the playground's own
            continue
        assert param.envvar == variable, (name, option)
        assert param.show_envvar, (name, option)


def test_an_explicit_option_wins_over_the_variable(aws: AwsWorld) -> None:
    import json

    args = ("role", "trust-policy", "--namespace", "ns", "--service-account", "sa")
    from_env = invoke(*args, env={"OIDC_PUBLISHER_ISSUER_URL": "https://env.example.com"})
    assert from_env.exit_code == 0, from_env.stderr
    assert "env.example.com:sub" in json.loads(from_env.stdout)["Statement"][0]["Condition"]["StringEquals"]
    explicit = invoke(*args, "--issuer-url", ISSUER, env={"OIDC_PUBLISHER_ISSUER_URL": "https://env.example.com"})
    assert "oidc.example.com:sub" in json.loads(explicit.stdout)["Statement"][0]["Condition"]["StringEquals"]
