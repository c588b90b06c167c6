"""Independent AWS calls made side by side: each one waits on the network, not on the CPU."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def together(tasks: Sequence[Callable[[], Any]], *, return_exceptions: bool = False) -> list[Any]:
    """Run ``tasks`` at once and return their results in order, once every one has ended.

    When some fail, the first failure (in the order given, not in time) is raised, after the others
    have ended: nothing is left running behind an error. With ``return_exceptions``, a failed task's
    exception takes the place of its result instead. A single task runs in the caller's thread.
    """
    if len(tasks) <= 1 and not return_exceptions:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=max(1, len(tasks))) as pool:
        futures = [pool.submit(task) for task in tasks]
    errors = [future.exception() for future in futures]
    if not return_exceptions:
        for error in errors:
            if error is not None:
                raise error
    return [error if error is not None else future.result() for error, future in zip(errors, futures, strict=True)]
