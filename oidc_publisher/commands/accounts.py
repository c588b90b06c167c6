"""Several AWS accounts: the issuer's IAM OIDC provider, roles and audits in every account listed with
``--account-role`` (or the fleet file's ``accounts``), each reached by assuming that role.

A role can only trust a provider of its own account, so an issuer whose workloads have roles in several
accounts needs a provider in each. The decisions are pure and come first: the shape of the role ARNs
(:func:`account_roles`), one outcome per account and the exit code over them (:class:`AccountsReport`,
:func:`exit_code_over`), and teardown's refusal while a listed account still has a provider
(:func:`refuse_while_registered`). :func:`in_accounts` assumes each role (``AwsClients.assume``, in the
caller's thread, in the order given) and runs one account's work side by side with the others'; one
account's failure is its outcome and does not stop the others.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oidc_publisher.core.errors import Error, InputError
from oidc_publisher.core.plan import EXIT_CHANGES_PENDING, Plan

# Teardown's refusal while a listed account still has a provider: decided by teardown's planner (pure).
from oidc_publisher.core.teardown_plan import refuse_while_registered as refuse_while_registered

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.commands.audit import AuditSettings
    from oidc_publisher.commands.register import RegisterSettings

# arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME (IAM's characters; a name of at most 64).
_ROLE_ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$", re.ASCII)
THUMBPRINT_READS = 8  # issuers' hosts read at once by publish --fleet with accounts
ROLE_ARN_HINT = "give the role to assume in that account, like arn:aws:iam::123456789012:role/oidc-publisher"


@dataclass(frozen=True)
class AccountRole:
    """A role to assume, and the account it is in (from its ARN)."""

    arn: str
    account_id: str


def account_roles(values: Sequence[Any], where: Callable[[int], str]) -> tuple[list[AccountRole], list[InputError]]:
    """The roles, and a one-line problem for each value that is not a role ARN or repeats an account
    (two roles of one account would converge the same provider twice). ``where(i)`` names the i-th value's
    place: ``--account-role`` on the command line, ``accounts[i]:`` in a fleet file. Pure."""
    roles: list[AccountRole] = []
    problems: list[InputError] = []
    by_account: dict[str, AccountRole] = {}
    for index, value in enumerate(values):
        match = _ROLE_ARN.match(value) if isinstance(value, str) else None
        if match is None:
            shown = repr(value) if isinstance(value, str) else f"{type(value).__name__} {value!r}"
            problems.append(InputError(f"{where(index)} {shown[:200]} is not an IAM role ARN", ROLE_ARN_HINT))
            continue
        role = AccountRole(value, match[2])
        first = by_account.get(role.account_id)
        if first is not None:
            problems.append(
                InputError(f"{where(index)} {value} is given twice", "list each account's role once")
                if first.arn == value
                else InputError(
                    f"{where(index)} {value} is in account {role.account_id}, as {first.arn} is",
                    "give one role per account: both would converge the same provider",
                )
            )
            continue
        by_account[role.account_id] = role
        roles.append(role)
    return roles, problems


def parse_account_roles(values: Sequence[str], option: str = "--account-role") -> tuple[AccountRole, ...]:
    """The command line's ``--account-role`` values; the first problem is the one line the user sees."""
    roles, problems = account_roles(values, lambda _: option)
    if problems:
        raise problems[0]
    return tuple(roles)


def exit_code_over(codes: Sequence[int], *, failed: bool) -> int:
    """The single command's convention, over the accounts: 1 when any account failed; else a report's own
    failure (audit's findings: 1); else 3 when a dry run found changes anywhere; else 0. Pure."""
    if failed:
        return 1
    others = [code for code in codes if code not in (0, EXIT_CHANGES_PENDING)]
    if others:
        return max(others)
    return EXIT_CHANGES_PENDING if EXIT_CHANGES_PENDING in codes else 0


@dataclass
class AccountOutcome:
    """One account's result: the command's own report there, or the error that stopped it there."""

    role: AccountRole
    report: Any = None  # the command's report (to_text, to_json, exit_code); None when it failed
    error: Error | None = None

    @property
    def changed(self) -> bool:
        plan = getattr(self.report, "plan", None)
        return isinstance(plan, Plan) and plan.has_changes

    def status(self, dry_run: bool) -> str:
        if self.error is not None:
            return "failed"
        if self.changed:
            return "would change" if dry_run else "changed"
        return "unchanged" if isinstance(getattr(self.report, "plan", None), Plan) else "done"

    def headline(self, dry_run: bool) -> str:
        head = f"account {self.role.account_id} ({self.role.arn}): {self.status(dry_run)}"
        return f"{head}: {self.error}" if self.error is not None else head

    def to_text(self, dry_run: bool) -> str:
        head = self.headline(dry_run)
        if self.error is not None:
            return head
        body = str(self.report.to_text()).rstrip()
        return "\n".join([head, *(f"  {line}" if line else "" for line in body.splitlines())])

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.role.account_id,
            "role_arn": self.role.arn,
            "changed": self.changed,
            "result": self.report.to_json() if self.report is not None else None,
            "error": self.error.to_json() if self.error is not None else None,
        }


@dataclass
class AccountsReport:
    """Every listed account's outcome, in the order the accounts were given."""

    outcomes: list[AccountOutcome]
    dry_run: bool = False

    @property
    def failed(self) -> list[AccountOutcome]:
        return [o for o in self.outcomes if o.error is not None]

    @property
    def exit_code(self) -> int:
        codes = [int(o.report.exit_code) for o in self.outcomes if o.report is not None]
        return exit_code_over(codes, failed=bool(self.failed))

    def summary(self) -> str:
        changed = [o for o in self.outcomes if o.changed]
        failed = self.failed
        rest = len(self.outcomes) - len(changed) - len(failed)
        total = len(self.outcomes)
        planned = any(isinstance(getattr(o.report, "plan", None), Plan) for o in self.outcomes)
        parts = [f"{len(changed)} {'would change' if self.dry_run else 'changed'}", f"{rest} unchanged"] if planned else [f"{rest} done"]
        parts.append(f"{len(failed)} failed" + (f" ({', '.join(o.role.account_id for o in failed)})" if failed else ""))
        return f"{total} account{'s' if total != 1 else ''}: {', '.join(parts)}"

    def to_text(self) -> str:
        return "\n".join([*(o.to_text(self.dry_run) for o in self.outcomes), self.summary()])

    def to_json(self) -> dict[str, Any]:
        return {
            "accounts": [o.to_json() for o in self.outcomes],
            "dry_run": self.dry_run,
            "changed": [o.role.account_id for o in self.outcomes if o.changed],
            "failed": [o.role.account_id for o in self.failed],
            "summary": self.summary(),
        }


# --- running in every account ---------------------------------------------------------------------


def in_accounts(
    clients: AwsClients, roles: Sequence[AccountRole], work: Callable[[AwsClients], Any]
) -> list[AccountOutcome]:
    """``work`` in every account, reached by assuming its role; one outcome per account, in order.

    The roles are assumed one after another in this thread (the source session is not thread-safe); the
    accounts' work then runs side by side, each on its own session. An :class:`Error` (an AssumeRole that
    is refused, an AWS call that fails, a conflict) is that account's outcome; a bug is raised once every
    account has ended.
    """
    from oidc_publisher.concurrency import together

    assumed: list[AwsClients | Error] = []
    for role in roles:
        try:
            assumed.append(clients.assume(role.arn))
        except Error as exc:
            assumed.append(exc)

    def one(role: AccountRole, reached: AwsClients | Error) -> AccountOutcome:
        if isinstance(reached, Error):
            return AccountOutcome(role, error=reached)
        try:
            return AccountOutcome(role, report=work(reached))
        except Error as exc:
            return AccountOutcome(role, error=exc)
        except Exception as exc:
            from oidc_publisher.aws.clients import unhandled_aws_error

            if (translated := unhandled_aws_error(exc)) is None:
                raise
            return AccountOutcome(role, error=translated)

    tasks: list[Callable[[], AccountOutcome]] = [
        functools.partial(one, role, reached) for role, reached in zip(roles, assumed, strict=True)
    ]
    return list(together(tasks))


def register_in_accounts(
    settings: RegisterSettings, clients: AwsClients, roles: Sequence[AccountRole]
) -> AccountsReport:
    """``register --account-role``: the issuer's provider converged in every listed account. The inputs are
    checked and the thumbprints read once, before any AWS call; each account then plans from its own state."""
    from oidc_publisher.commands.register import (
        apply_registration,
        check_registration,
        live_thumbprints,
        prepare_registration,
    )

    issuer = check_registration(settings)[0]
    live = live_thumbprints(settings, issuer)
    outcomes = in_accounts(
        clients, roles, lambda reached: apply_registration(prepare_registration(settings, reached, live=live), reached)
    )
    return AccountsReport(outcomes, dry_run=settings.dry_run)


def register_issuers_in_accounts(
    issuers: Sequence[RegisterSettings], clients: AwsClients, roles: Sequence[AccountRole]
) -> list[AccountsReport]:
    """Every issuer in every account (``publish --fleet`` with ``accounts``): one report per issuer, its
    accounts in order. Each role is assumed once; in an account the issuers are converged one after another,
    the accounts side by side. An issuer whose host cannot be read (thumbprints) fails in every account."""
    from oidc_publisher.commands.register import (
        apply_registration,
        check_registration,
        live_thumbprints,
        prepare_registration,
    )

    def thumbprints(settings: RegisterSettings) -> tuple[tuple[str, ...], dict[str, str]]:
        return live_thumbprints(settings, check_registration(settings)[0])

    # A bounded pool: a fleet may have hundreds of issuers, each read over TLS.
    with ThreadPoolExecutor(max_workers=min(THUMBPRINT_READS, max(1, len(issuers)))) as pool:
        futures = [pool.submit(thumbprints, settings) for settings in issuers]
    lives: list[Any] = [future.exception() or future.result() for future in futures]
    for live in lives:
        if isinstance(live, BaseException) and not isinstance(live, Error) and _translated(live) is None:
            raise live

    def converge(settings: RegisterSettings, live: Any, reached: AwsClients) -> Any:
        if isinstance(live, BaseException):
            return live if isinstance(live, Error) else _translated(live)
        try:
            return apply_registration(prepare_registration(settings, reached, live=live), reached)
        except Error as exc:
            return exc
        except Exception as exc:
            if (translated := _translated(exc)) is None:
                raise
            return translated

    def work(reached: AwsClients) -> _Batch:
        return _Batch([converge(settings, live, reached) for settings, live in zip(issuers, lives, strict=True)])

    outcomes = in_accounts(clients, roles, work)
    reports = []
    for index, settings in enumerate(issuers):
        per: list[AccountOutcome] = []
        for outcome in outcomes:
            result = outcome.error if outcome.error is not None else outcome.report.results[index]
            per.append(AccountOutcome(outcome.role, error=result) if isinstance(result, Error) else AccountOutcome(outcome.role, report=result))
        reports.append(AccountsReport(per, dry_run=settings.dry_run))
    return reports


def _translated(exc: BaseException) -> Error | None:
    from oidc_publisher.aws.clients import unhandled_aws_error

    return unhandled_aws_error(exc)


@dataclass
class _Batch:
    results: list[Any]
    exit_code: int = 0

    def to_text(self) -> str:
        return ""

    def to_json(self) -> dict[str, Any]:
        return {}


def audit_in_accounts(settings: AuditSettings, clients: AwsClients, roles: Sequence[AccountRole]) -> AccountsReport:
    """``audit --account-role``: the roles that trust the issuer in every listed account, each account's
    findings on their own (a role trusts only a provider of its own account)."""
    from oidc_publisher.commands.audit import audit
    from oidc_publisher.core.issuer import parse_issuer

    parse_issuer(settings.issuer_url)
    return AccountsReport(in_accounts(clients, roles, lambda reached: audit(settings, reached)))


def providers_in_accounts(
    clients: AwsClients, roles: Sequence[AccountRole], issuer_url: str
) -> list[tuple[AccountRole, str | None]]:
    """Each listed account's provider ARN for the issuer, or None (teardown's reads). An account that cannot
    be read is an error: teardown cannot tell that nobody there trusts the issuer."""
    from oidc_publisher.aws import iam
    from oidc_publisher.core.issuer import parse_issuer

    issuer = parse_issuer(issuer_url)

    def find(reached: AwsClients) -> _Found:
        provider = iam.find_provider(reached, issuer)
        return _Found(provider.arn if provider is not None else None)

    found: list[tuple[AccountRole, str | None]] = []
    for outcome in in_accounts(clients, roles, find):
        if outcome.error is not None:
            raise type(outcome.error)(
                f"cannot tell whether account {outcome.role.account_id} still has an IAM OIDC provider for "
                f"{issuer.url}: {outcome.error.message}: nothing was removed",
                outcome.error.hint,
            )
        found.append((outcome.role, outcome.report.arn))
    return found


@dataclass
class _Found:
    arn: str | None
    exit_code: int = 0

    def to_text(self) -> str:
        return self.arn or "-"

    def to_json(self) -> dict[str, Any]:
        return {"provider_arn": self.arn}
