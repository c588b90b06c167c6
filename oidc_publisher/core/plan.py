"""Plans: what a command will change, and why. Pure data.

A plan is ordered phases of independent steps. Each step names the resource, the action and the
reason (what ``--dry-run`` prints) and carries one :class:`~oidc_publisher.core.operations.Operation`,
the exact AWS call that makes the change. ``--dry-run`` prints the plan; otherwise the executor
(``aws/executor.py``) runs it: phase after phase, the steps of one phase side by side. Planners (pure
functions of snapshots and settings) are the only place that decides what to write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from oidc_publisher.core.operations import Operation


@dataclass(frozen=True)
class Step:
    resource: str
    action: str  # create | update | delete | invalidate | write | keep
    reason: str
    operation: Operation | None = None  # None only for steps not yet moved to the executor (issue 13)
    phase: int = 0  # steps run phase after phase, in increasing order; those of one phase side by side
    key: str | None = None  # names the step's response for a later step's Ref (core/operations.py)
    subject: str | None = None  # what an error of its call names (a provider's ARN, a role's name); else the resource

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"resource": self.resource, "action": self.action, "reason": self.reason}
        if self.key is not None:
            body["key"] = self.key
        if self.operation is not None:
            body["operation"] = self.operation.to_json()
        return body

    def to_text(self) -> str:
        return f"{self.action:<10} {self.resource}: {self.reason}"


# The name the plan's lines had before they carried operations; the same type.
Change = Step


@dataclass
class Plan:
    changes: list[Step] = field(default_factory=list)

    def add(self, resource: str, action: str, reason: str, operation: Operation | None = None, *, phase: int = 0) -> Step:
        step = Step(resource, action, reason, operation, phase)
        self.changes.append(step)
        return step

    def extend(self, changes: Iterable[Step]) -> None:
        self.changes.extend(changes)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def phases(self) -> list[list[Step]]:
        """The steps grouped by phase, phases in order; within a phase, in the order they were planned."""
        ordered = sorted(enumerate(self.changes), key=lambda pair: (pair[1].phase, pair[0]))
        return [[step for _, step in group] for _, group in groupby(ordered, key=lambda pair: pair[1].phase)]

    def to_text(self, *, dry_run: bool) -> str:
        if not self.changes:
            return "No changes: everything is up to date."
        head = "Would change:" if dry_run else "Changed:"
        return "\n".join([head, *(f"  {change.to_text()}" for change in self.changes)])

    def to_json(self) -> list[dict[str, Any]]:
        return [change.to_json() for change in self.changes]


def step(resource: str, action: str, reason: str, service: str, method: str, *, phase: int = 0,
         region: str | None = None, subject: str | None = None, key: str | None = None, **params: Any) -> Step:
    """A step and its operation in one call: ``step(r, "update", why, "s3", "put_bucket_policy", Bucket=b, Policy=p)``."""
    return Step(resource, action, reason, Operation(service, method, params, region), phase, key=key, subject=subject)


# Exit code of a --dry-run that found changes to make (DESIGN.md: useful in CI).
EXIT_CHANGES_PENDING = 3
