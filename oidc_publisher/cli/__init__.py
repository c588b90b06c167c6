"""The ``oidc-publisher`` command line: this module only wires the commands together.

The command modules leave out ``from __future__ import annotations`` on purpose: Typer reads every
command's signature on every run, and string annotations would be compiled and evaluated each time.
"""

import gc
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from oidc_publisher import __version__
from oidc_publisher.cli import (
    audit,
    bootstrap,
    demo,
    doctor,
    keys,
    members,
    publish,
    register,
    render,
    role,
    teardown,
    templates,
    thumbprint,
    verify,
)

# Typer vendors click in recent releases and imports it in older ones: find its base exception by name.
_CLICK_EXCEPTION: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _OneLineErrors(TyperGroup):
    """Typer's own usage errors (an unknown option, a missing one, a bad choice) as one line on stderr,
    like every other error of the tool, instead of a usage banner and a box."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        call = {"args": args, "prog_name": prog_name, "complete_var": complete_var,
                "windows_expand_args": windows_expand_args, **extra}
        if not standalone_mode:
            return super().main(standalone_mode=False, **call)
        try:
            code = super().main(standalone_mode=False, **call)
        except _CLICK_EXCEPTION as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # the help is the answer (already printed)
                sys.exit(2)
            message = exc.format_message().strip().rstrip(".")  # type: ignore[attr-defined]
            ctx = getattr(exc, "ctx", None)
            command = ctx.command_path if ctx is not None else "oidc-publisher"
            advice = f"run '{command} --help' for the options"
            if (out := _meant_out(exc, ctx)) is not None:
                advice = f"did you mean {out}? (--output is the report's format: text or json)"
            sys.stderr.write(f"error: {message}; {advice}\n")
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        except typer.Abort:
            sys.stderr.write("aborted\n")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _meant_out(exc: Exception, ctx: Any) -> str | None:
    """``--output FILE`` where ``--out FILE`` (or ``--out-dir DIR``) was meant: the option that writes files."""
    param = getattr(exc, "param", None)
    if getattr(param, "name", None) != "output" or ctx is None:
        return None
    options = {opt for p in ctx.command.params for opt in getattr(p, "opts", ())}
    return next((f"{opt} {meta}" for opt, meta in (("--out", "PATH"), ("--out-dir", "DIR")) if opt in options), None)


app = typer.Typer(
    name="oidc-publisher",
    cls=_OneLineErrors,
    help="Publish a self-managed Kubernetes cluster's service-account issuer (JWKS + OIDC discovery) "
    "to S3, register it in IAM, and prove that STS will accept its tokens (IRSA).",
    no_args_is_help=True,
    # Key material passes through locals: never print them in a traceback.
    pretty_exceptions_show_locals=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"oidc-publisher {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    pass


app.add_typer(keys.app, name="keys")
app.add_typer(templates.app, name="templates")
app.add_typer(role.app, name="role")
app.add_typer(members.app, name="members")
app.command("render")(render.render)
app.command("publish")(publish.publish)
app.command("thumbprint")(thumbprint.thumbprint)
app.command("register")(register.register)
app.command("bootstrap")(bootstrap.bootstrap)
app.command("verify")(verify.verify)
app.command("audit")(audit.audit)
app.command("doctor")(doctor.doctor)
app.command("teardown")(teardown.teardown)
app.command("demo")(demo.demo)


def main() -> None:
    """Console-script entry point: anything that is not an expected error is a bug, and says so."""
    try:
        app(prog_name="oidc-publisher")
    except SystemExit:
        # The process ends here. Python's last garbage collection would walk every object boto3 and
        # botocore loaded (~40 ms, a tenth of a bootstrap); frozen, it skips them. atexit handlers (the
        # kubernetes client's temporary files), flushes and reference-counted clean-up all still run.
        gc.freeze()
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence, see docstring
        if os.environ.get("OIDC_PUBLISHER_DEBUG"):
            import traceback

            traceback.print_exc()
        sys.stderr.write(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in oidc-publisher; please report it (set OIDC_PUBLISHER_DEBUG=1 for a traceback).\n"
        )
        sys.exit(70)
