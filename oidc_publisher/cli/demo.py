"""``oidc-publisher demo``: the README's first command."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from oidc_publisher.cli.common import OutputFormat, OutputOpt, run


def demo(
    work_dir: Annotated[
        Path | None, typer.Option("--work-dir", help="Keep the demo's keys, CA and documents here (default: a temp dir).")
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the temporary work directory.")] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Bootstrap and verify an issuer against a local AWS emulator and a local CloudFront stand-in (no AWS account)."""
    from oidc_publisher.demo import DemoSettings, run_demo

    def say(line: str) -> None:
        # Progress goes to stderr with --output json, so that stdout stays one JSON document.
        stream = sys.stderr if output is OutputFormat.json else sys.stdout
        stream.write(line + "\n")
        stream.flush()

    run(lambda: run_demo(DemoSettings(work_dir=work_dir, keep=keep), say), output)
