"""A checklist's items (verify, doctor): passed, failed with the fix, skipped, or passed with a warning."""

from __future__ import annotations

from dataclasses import dataclass

PASS, FAIL, SKIP = "pass", "fail", "skip"
WARN = "warn"  # passes, but says what to change (verify still exits 0)


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        body = {"check": self.name, "status": self.status, "detail": self.detail}
        if self.fix:
            body["fix"] = self.fix
        return body


def check_lines(checks: list[Check]) -> list[str]:
    """The checklist as text: one line per check, and a failed check's fix under it (indented, line by line)."""
    marks = {PASS: "ok  ", FAIL: "FAIL", SKIP: "skip", WARN: "warn"}
    lines = []
    for check in checks:
        lines.append(f"  [{marks[check.status]}] {check.name}: {check.detail}")
        if check.status in (FAIL, WARN) and check.fix:
            first, *rest = check.fix.splitlines()
            lines.append(f"         fix: {first}")
            lines.extend(f"              {line}" for line in rest)
    return lines


def summary_line(checks: list[Check], *, passed: str, failed: str) -> str:
    """The checklist's last line: ``passed`` when no check failed, else how many failed and ``failed``."""
    count = sum(1 for check in checks if check.status == FAIL)
    if not count:
        return passed
    return f"{count} check{'s' if count > 1 else ''} failed: {failed}"



class Checklist:
    """What verify's and doctor's reports share: they pass when no check failed, and exit 1 when one did."""

    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.status != FAIL for check in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1
