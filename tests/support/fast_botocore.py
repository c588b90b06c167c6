"""botocore for the tests: the same calls and retries, without the waits and the repeated parsing.

- :func:`zero_backoff`: standard-mode retries without their sleeps (exponential with jitter, up to
  20 s: minutes of the fault tests). The number of attempts, the retry quota and which errors are
  retried stay botocore's, so the tests still prove (and count) the retries the tool makes.
- :func:`data_parsed_once`: botocore parses its JSON data files (endpoints, service models) again for
  every new session, and the tool makes one session per command: ~0.4 s of every command the tests run
  in-process. The parsed files are read-only data (botocore's own loader shares them between callers),
  so the process parses each once.

In-process, tests/conftest.py applies both for the session. ``tests.support.cli.run`` starts the command
line as ``python -m tests.support.fast_botocore ARGS``, which applies the first and then runs
``oidc_publisher`` exactly as ``python -m oidc_publisher ARGS`` does.
"""

from __future__ import annotations

import contextlib
import runpy
import threading
from collections.abc import Iterator
from typing import Any


def _no_wait(self: Any, context: Any) -> float:
    return 0.0


@contextlib.contextmanager
def zero_backoff() -> Iterator[None]:
    from botocore.retries import standard

    original = standard.ExponentialBackoff.delay_amount
    standard.ExponentialBackoff.delay_amount = _no_wait  # type: ignore[method-assign]
    try:
        yield
    finally:
        standard.ExponentialBackoff.delay_amount = original  # type: ignore[method-assign]


@contextlib.contextmanager
def data_parsed_once() -> Iterator[None]:
    from botocore.loaders import JSONFileLoader

    original = JSONFileLoader.load_file
    parsed: dict[str, Any] = {}
    lock = threading.Lock()

    def load_file(self: JSONFileLoader, file_path: str) -> Any:
        with lock:
            if file_path not in parsed:
                parsed[file_path] = original(self, file_path)
            return parsed[file_path]

    JSONFileLoader.load_file = load_file  # type: ignore[method-assign]
    try:
        yield
    finally:
        JSONFileLoader.load_file = original  # type: ignore[method-assign]


if __name__ == "__main__":
    with zero_backoff():
        runpy.run_module("oidc_publisher", run_name="__main__", alter_sys=True)
