"""Every ``oidc-publisher`` command in the quick starts runs, as written, against the local emulator
(moto's server, an HTTPS front for the bucket's S3 host, and a stand-in API server for --from-cluster);
and docs/reference.md is exactly what ``--help`` says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support import keys as k
from tests.support.fronts import Front
from tests.support.kube_api import KubeAPI
from tests.support.motoserver import AwsWorld

DOCS = Path(__file__).resolve().parents[1] / "docs"
QUICKSTARTS = ["quickstart-kubeadm.md", "quickstart-k3s.md", "quickstart-kind.md"]


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def commands(text: str) -> tuple[dict[str, str], list[tuple[str, int]]]:
    """Variables assigned and oidc-publisher commands (with the exit code a '# exit N' comment expects)."""
    variables: dict[str, str] = {}
    found: list[tuple[str, int]] = []
    for block in shell_blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if m := re.match(r"^([A-Z_]+)=(\S+)$", line):
                variables[m[1]] = m[2]
            elif line.startswith("oidc-publisher "):
                expected = 0
                if m := re.search(r"\s+#\s*exit (\d+)$", line):
                    expected, line = int(m[1]), line[: m.start()]
                found.append((line, expected))
    return variables, found


@pytest.mark.parametrize("name", QUICKSTARTS)
def test_quickstart_commands_run(name: str, aws: AwsWorld, front: Front, kube_api: KubeAPI, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    text = (DOCS / name).read_text()
    variables, cmds = commands(text)
    assert len(cmds) >= 3, "a quick start without commands"
    issuer, bucket = variables["ISSUER"], variables["BUCKET"]
    # AWS's managed policies, as in a real account (the docs attach ReadOnlyAccess).
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    requests.post(f"{aws.moto_endpoint}/moto-api/reset", timeout=30).raise_for_status()
    front(bucket, ("*.s3.eu-west-1.amazonaws.com",), region="eu-west-1")
    # The cluster: its key pair stands where the guide says the public key is.
    private = k.rsa_key()
    root = tmp_path / "root"
    for path in ("/etc/kubernetes/pki/sa.pub", "service.pub"):
        k.write(root / path.lstrip("/"), k.public_pem(private))
    kube_api.issuer = issuer
    kube_api.keys = [private]
    kube_api.service_accounts[("default", "my-app")] = {}
    kube_api.service_accounts[("default", "default")] = {}
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig(tmp_path / "kubeconfig")))
    monkeypatch.setenv("PWD", str(root))
    run_as_written(name, cmds, variables, root)


def run_as_written(name: str, cmds: list[tuple[str, int]], variables: dict[str, str], root: Path) -> None:
    """Run a page's commands in a shell, as a reader would (the key path under ``root``): each exits as the page
    says, never with a traceback, and a verify passes every check."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **variables}
    for command, expected in cmds:
        local = command.replace("/etc/kubernetes/pki/", f"{root}/etc/kubernetes/pki/")
        result = subprocess.run(["bash", "-c", local], cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == expected, f"{name}: {command}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr
        if command.startswith("oidc-publisher verify"):
            assert "All checks passed" in result.stdout, result.stdout


def help_text(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "100", "LINES": "50", "TERM": "dumb", "NO_COLOR": "1", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-m", "oidc_publisher", *args, "--help"], capture_output=True, text=True,
                          env=env, check=True).stdout


def reference() -> str:
    """docs/reference.md as generated from --help (python -m tests.test_docs regenerates it)."""
    import typer.main

    from oidc_publisher.cli import app

    sections = ["# Command reference", "", "Generated from `--help`; `tests/test_docs.py` fails when they differ",
                "(regenerate with `python -m tests.test_docs`).", ""]

    def walk(cmd: object, path: list[str]) -> None:
        sections.extend([f"## oidc-publisher {' '.join(path)}".rstrip(), "", "```text", help_text(*path).rstrip(), "```", ""])
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return "\n".join(sections)


def test_reference_is_in_step_with_help() -> None:
    assert (DOCS / "reference.md").read_text() == reference(), "docs/reference.md is stale: run python -m tests.test_docs"


def test_docs_links_resolve() -> None:
    for page in [*DOCS.glob("*.md"), DOCS.parent / "README.md"]:
        for target in re.findall(r"\]\(([^)#]+\.(?:md|png))(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_troubleshooting_names_real_checks_and_real_messages() -> None:
    """docs/troubleshooting.md names `verify` checks that exist, and quotes messages the tool really prints
    ('…', 'A', 'B', KID stand for what varies; a number may be a constant in the code)."""
    package = DOCS.parent / "oidc_publisher"
    source = "\n".join(p.read_text() for p in sorted(package.rglob("*.py")))
    source = re.sub(r'"\s*\n\s*f?"', "", source)  # implicitly concatenated literals, as one string
    source = re.sub(r"\{[^{}]*\}", "\x00", source)  # what an f-string fills in
    templates = [lit for lit in re.findall(r'"((?:[^"\\\n]|\\.)*)"', source) if "\x00" in lit and len(lit) >= 25]

    def printed(message: str) -> bool:
        parts = re.split(r"('…'|…|'[A-Z]'|\bKID\b|\d+)", message)
        pattern = "".join(
            r"(?:\d+|\x00)" if re.fullmatch(r"\d+", p) else ".{0,120}?" if re.fullmatch(r"'…'|…|'[A-Z]'|KID", p) else re.escape(p)
            for p in parts
        )
        return bool(re.search(pattern, source)) or any(
            re.fullmatch(".+?".join(map(re.escape, t.split("\x00"))), message) for t in templates
        )

    assert not printed("refusing to publish a key the moon serves")  # the check can fail
    text = (DOCS / "troubleshooting.md").read_text()
    sts_table, ours = text.split("Messages of `oidc-publisher` itself")
    checks = set(re.findall(r'report\.add\(\s*"([^"]+)"', (package / "commands" / "verify.py").read_text()))
    # doctor's checks (its table sits with verify's, above the tool's own messages)
    from oidc_publisher.core.diagnosis import CHECKS as DOCTOR_CHECKS

    checks |= set(DOCTOR_CHECKS)
    named = set(re.findall(r"\*\*([^*]+)\*\*", sts_table))
    assert named and named <= checks, f"troubleshooting.md names verify checks that do not exist: {named - checks}"
    quoted = [m for row in re.findall(r"^\| `(.+?)`(?: / `(.+?)`)? \|", ours, re.M) for m in row if m]
    assert len(quoted) >= 10
    assert [m for m in quoted if not printed(m)] == [], "troubleshooting.md quotes messages the tool does not print"


if __name__ == "__main__":
    (DOCS / "reference.md").write_text(reference())
