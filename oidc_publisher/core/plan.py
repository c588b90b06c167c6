"""Plans: what a command would change, and why. Pure.

Every command that changes anything first computes a plan from current state; ``--dry-run`` prints it,
a real run applies it. Each change names the resource, the action, and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Change:
    resource: str
    action: str  # create | update | delete | invalidate | write
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"resource": self.resource, "action": self.action, "reason": self.reason}

    def to_text(self) -> str:
        return f"{self.action:<10} {self.resource}: {self.reason}"


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)

    def add(self, resource: str, action: str, reason: str) -> None:
        self.changes.append(Change(resource, action, reason))

    def extend(self, changes: list[Change]) -> None:
        self.changes.extend(changes)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def to_text(self, *, dry_run: bool) -> str:
        if not self.changes:
            return "No changes: everything is up to date."
        head = "Would change:" if dry_run else "Changed:"
        return "\n".join([head, *(f"  {change.to_text()}" for change in self.changes)])

    def to_json(self) -> list[dict[str, Any]]:
        return [change.to_json() for change in self.changes]


# Exit code of a --dry-run that found changes to make (DESIGN.md: useful in CI).
EXIT_CHANGES_PENDING = 3
