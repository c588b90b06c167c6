"""``oidc-publisher demo``: the README's first command; ``demo --serve``: the playground."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from oidc_publisher.cli.common import OutputFormat, OutputOpt, Report, fail, run
from oidc_publisher.commands.demo import demo_module
from oidc_publisher.core.errors import UsageError


def demo(
    work_dir: Annotated[
        Path | None, typer.Option("--work-dir", help="Keep the demo's keys, CA and documents here (default: a temp dir).")
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the temporary work directory.")] = False,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Keep a local AWS, an HTTPS front for issuer hosts and a local Kubernetes API up until Ctrl-C, "
            "and print the exports that point another shell's oidc-publisher at them (docs/playground.md).",
        ),
    ] = False,
    issuer_url: Annotated[
        str | None,
        typer.Option(
            "--issuer-url",
            help="--serve: the issuer the local Kubernetes API signs tokens for (default: the kubeadm quick start's).",
        ),
    ] = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Bootstrap and verify an issuer against a local AWS emulator and a local CloudFront stand-in (no AWS account)."""

    def say(line: str) -> None:
        # Progress goes to stderr with --output json, so that stdout stays one JSON document.
        stream = sys.stderr if output is OutputFormat.json else sys.stdout
        stream.write(line + "\n")
        stream.flush()

    if serve:
        if output is OutputFormat.json:
            fail(UsageError("demo --serve prints shell lines, not JSON", "drop --output json; it writes them to env.sh too"))

        def ready(lines: list[str]) -> None:
            say("\nIn another shell, paste these lines; then every command of docs/quickstart-kubeadm.md works as written:\n")
            for line in lines:
                say(f"  {line}" if line else "")
            say("\nReady. Stop with Ctrl-C.")

        def serve_playground() -> Report:
            playground = demo_module("playground")
            settings = playground.PlaygroundSettings(
                issuer_url=issuer_url or playground.DEFAULT_ISSUER, work_dir=work_dir, keep=keep
            )
            report: Report = playground.run_playground(settings, say, ready)
            return report

        run(serve_playground, output)
    if issuer_url is not None:
        fail(UsageError("--issuer-url is for demo --serve", "add --serve, or drop --issuer-url"), output)

    def run_demo() -> Report:
        demo_run = demo_module("demo")
        report: Report = demo_run.run_demo(demo_run.DemoSettings(work_dir=work_dir, keep=keep), say)
        return report

    run(run_demo, output)
