"""Waiting for something that takes minutes (a CloudFront distribution to deploy), and saying what for.

The loop is :func:`wait_until`: it polls, reports each state it sees to a :class:`Progress`, and stops when
the poll says done or the timeout has passed. The clock and the sleep are passed in: the command gives it
``time.monotonic`` and ``time.sleep``, tests a clock they move themselves. How progress is shown (a
spinner on a terminal, a line per change otherwise) is the command line's business (``cli/waiting.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

# Seconds between two polls. CloudFront takes minutes to deploy a change; boto3's own waiter polls each
# minute. Every 10 s keeps the wait close to the real end at a few hundred reads per half hour.
POLL_INTERVAL = 10.0
DEFAULT_TIMEOUT = 30 * 60.0

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class Progress(Protocol):
    """Where a wait reports what it sees; ``elapsed`` is seconds since the wait began."""

    def changed(self, before: str | None, after: str, elapsed: float) -> None: ...

    def polled(self, status: str, elapsed: float) -> None: ...


@dataclass(frozen=True)
class Polled:
    """One look at the thing waited for: its status as shown to the user, and whether the wait is over."""

    status: str
    done: bool


@dataclass(frozen=True)
class Waited:
    """How a wait ended: done or given up, after how long, and the states seen in order."""

    subject: str
    done: bool
    elapsed: float
    states: tuple[str, ...]

    @property
    def last(self) -> str:
        return self.states[-1] if self.states else "unknown"

    def summary(self) -> str:
        """The report's line about the wait (done or not)."""
        seen = " -> ".join(self.states)
        if self.done:
            return f"waited {duration(self.elapsed)} for {self.subject} ({seen})"
        return f"gave up waiting for {self.subject} after {duration(self.elapsed)} ({seen})"


def duration(seconds: float) -> str:
    """``45s``, ``3m10s``, ``1h2m0s``: how long a wait took, to the second."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def wait_until(
    subject: str,
    poll: Callable[[], Polled],
    *,
    timeout: float,
    clock: Clock,
    sleep: Sleep,
    progress: Progress,
    interval: float = POLL_INTERVAL,
) -> Waited:
    """Poll until done, or until ``timeout`` seconds have passed (the last poll is at the timeout, so a thing
    done just then is not given up on). Each new state goes to ``progress.changed``, each repeat to
    ``progress.polled``."""
    start = clock()
    states: list[str] = []
    while True:
        seen = poll()
        elapsed = clock() - start
        if not states or seen.status != states[-1]:
            progress.changed(states[-1] if states else None, seen.status, elapsed)
            states.append(seen.status)
        else:
            progress.polled(seen.status, elapsed)
        if seen.done or elapsed >= timeout:
            return Waited(subject, seen.done, elapsed, tuple(states))
        sleep(min(interval, timeout - elapsed))


@dataclass(frozen=True)
class Waiter:
    """What a command needs to wait: the timeout, the clock and sleep, and a progress display per subject
    (a context manager: a spinner starts and stops with it)."""

    timeout: float
    clock: Clock
    sleep: Sleep
    show: Callable[[str], AbstractContextManager[Progress]]
    interval: float = POLL_INTERVAL

    def wait(self, subject: str, poll: Callable[[], Polled]) -> Waited:
        with self.show(subject) as progress:
            return wait_until(
                subject, poll, timeout=self.timeout, clock=self.clock, sleep=self.sleep, progress=progress,
                interval=self.interval,
            )
