"""``--wait`` and ``--wait-timeout``: the options, and how a wait shows itself on stderr.

On a terminal, a spinner with the status (rich's ``console.status``); otherwise (CI, a pipe, a cron job)
one line per state change, like ``waiting: distribution E123 InProgress -> Deployed (3m10s)``. stdout stays
the report. rich is imported only when a wait begins.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from oidc_publisher.core.errors import InputError, UsageError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from oidc_publisher.core.waiting import Clock, Progress, Sleep, Waiter

WaitTimeoutOpt = Annotated[
    str | None,
    typer.Option(
        "--wait-timeout",
        metavar="DURATION",
        help="With --wait: how long to wait at most, like 30m or 1h (default 30m). Then one line says what is "
        "left and to re-run, and the exit code is 1.",
    ),
]


def clock_and_sleep() -> tuple[Clock, Sleep]:
    """The real clock and sleep (tests replace this to move a clock of their own instead of sleeping)."""
    import time

    return time.monotonic, time.sleep


def terminal_console() -> Console | None:
    """A rich console on stderr when stderr is a terminal (the spinner's), else None (a line per change).
    Tests replace this to render the spinner to a console of their own."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console

    return Console(stderr=True)


def waiter(wait: bool, wait_timeout: str | None) -> Waiter | None:
    """The Waiter for ``--wait`` (None without it); ``--wait-timeout`` alone is a usage error."""
    if wait_timeout is not None and not wait:
        raise UsageError("--wait-timeout only applies with --wait", "add --wait or drop --wait-timeout")
    if not wait:
        return None
    from oidc_publisher.core.rotation import parse_duration
    from oidc_publisher.core.waiting import DEFAULT_TIMEOUT, Waiter

    timeout = DEFAULT_TIMEOUT
    if wait_timeout is not None:
        try:
            timeout = parse_duration(wait_timeout).total_seconds()
        except InputError as exc:
            raise UsageError(f"--wait-timeout: {exc.message}", "write it like 30m, 1h or 90s") from None
    clock, sleep = clock_and_sleep()
    console = terminal_console()
    show: Callable[[str], AbstractContextManager[Progress]] = (
        (lambda subject: spinner(subject, console)) if console is not None else lines
    )
    return Waiter(timeout=timeout, clock=clock, sleep=sleep, show=show)


class _Lines:
    def __init__(self, subject: str) -> None:
        self.subject = subject

    def changed(self, before: str | None, after: str, elapsed: float) -> None:
        from oidc_publisher.core.waiting import duration

        change = f"{before} -> {after}" if before is not None else after
        sys.stderr.write(f"waiting: {self.subject} {change} ({duration(elapsed)})\n")
        sys.stderr.flush()

    def polled(self, status: str, elapsed: float) -> None:
        """Nothing new: no line."""


@contextmanager
def lines(subject: str) -> Iterator[Progress]:
    """A line on stderr per state change."""
    yield _Lines(subject)


class _Spinner:
    def __init__(self, subject: str, status: Status) -> None:
        self.subject, self.status = subject, status

    def changed(self, before: str | None, after: str, elapsed: float) -> None:
        self.polled(after, elapsed)

    def polled(self, status: str, elapsed: float) -> None:
        from rich.markup import escape

        # Naming the spinner (console.status's default) makes rich redraw now, not at its next frame.
        self.status.update(escape(spinner_text(self.subject, status, elapsed)), spinner="dots")


def spinner_text(subject: str, status: str, elapsed: float) -> str:
    from oidc_publisher.core.waiting import duration

    return f"waiting for {subject}: {status} ({duration(elapsed)})"


@contextmanager
def spinner(subject: str, console: Console) -> Iterator[Progress]:
    """A spinner on ``console`` with the latest status; gone when the wait ends (the report says how it went)."""
    from rich.markup import escape

    with console.status(escape(f"waiting for {subject}")) as status:
        yield _Spinner(subject, status)
