"""``together``: side by side, results in order, the first failure in order, nothing left running."""

from __future__ import annotations

import threading
import time

import pytest

from oidc_publisher.concurrency import together


def test_results_come_back_in_the_order_given() -> None:
    assert together([lambda: 1, lambda: 2, lambda: 3]) == [1, 2, 3]
    assert together([lambda: "alone"]) == ["alone"]
    assert together([]) == []


def test_tasks_run_at_the_same_time() -> None:
    # Each task waits for the other: run one after the other, both would time out.
    barrier = threading.Barrier(2, timeout=5)
    assert together([lambda: barrier.wait() is not None, lambda: barrier.wait() is not None]) == [True, True]


def test_the_first_failure_in_order_is_raised_after_every_task_ended() -> None:
    ended: list[str] = []

    def slow_ok() -> None:
        time.sleep(0.2)
        ended.append("slow")

    def fail(message: str, delay: float) -> None:
        time.sleep(delay)
        ended.append(message)
        raise ValueError(message)

    # "second" fails first in time, "first" first in order: "first" is raised, and only once all ended.
    with pytest.raises(ValueError, match=r"^first$"):
        together([slow_ok, lambda: fail("first", 0.1), lambda: fail("second", 0.0)])
    assert sorted(ended) == ["first", "second", "slow"]


def test_return_exceptions_puts_each_failure_in_its_place() -> None:
    error = KeyError("x")

    def boom() -> None:
        raise error

    assert together([lambda: 1, boom], return_exceptions=True) == [1, error]
