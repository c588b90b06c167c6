"""Running the command line the way a user does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from oidc_publisher.cli import app


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Outcome:
    """In-process, through Typer's CliRunner (fast; what most tests use)."""
    result = CliRunner().invoke(app, list(args), env=env, input=input, catch_exceptions=False)
    return Outcome(result.exit_code, result.stdout, result.stderr)


ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Outcome:
    """As a separate process through ``python -m oidc_publisher`` (what a user's shell does), by way of
    tests/support/fast_botocore.py: botocore's retries without their waits, as in-process."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), full_env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.fast_botocore", *args],
        capture_output=True, text=True, env=full_env, timeout=timeout, check=False,
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr)
