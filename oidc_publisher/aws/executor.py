"""The executor: runs a plan's steps, each as the one boto3 call its operation names.

The only place a planned write reaches AWS. Phases run in order; the steps of one phase run side by
side (they are independent by the planner's word). Every AWS and botocore failure becomes the one-line
:class:`~oidc_publisher.core.errors.AWSError` of the call, named by the IAM action to grant
(``clients.aws_error``), with the resource the step names (its ``subject``, when it has one). Failures a caller expects and handles
(``expected``: error codes, e.g. ``PreconditionFailed`` of a conditional write) reach it untranslated.
A param that is a :class:`~oidc_publisher.core.operations.Ref` gets its value from the response of the
earlier step it names (by the step's ``key``), just before the call.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oidc_publisher.concurrency import together
from oidc_publisher.core.plan import Plan, Step

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.core.operations import Operation


@dataclass(frozen=True)
class Done:
    """A step that ran and what AWS answered (the response without its metadata)."""

    step: Step
    response: dict[str, Any]


def call(clients: AwsClients, operation: Operation, resource: str | None = None,
         *, expected: Collection[str] = (), expected_status: Collection[int] = ()) -> dict[str, Any]:
    """Make the one AWS call ``operation`` names; errors translated unless their code is ``expected`` or their
    HTTP status ``expected_status`` (S3 answers some conditional-write conflicts by status alone)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from oidc_publisher.aws.clients import aws_error, error_code, error_status

    client = clients.client(operation.service, operation.region)
    method = getattr(client, operation.method)
    try:
        response = method(**operation.params)
    except ClientError as exc:
        if error_code(exc) in expected or error_status(exc) in expected_status:
            raise
        raise aws_error(exc, operation.call.label, resource) from None
    except BotoCoreError as exc:
        raise aws_error(exc, operation.call.label, resource) from None
    return {k: v for k, v in dict(response or {}).items() if k != "ResponseMetadata"}


def execute(plan: Plan | Sequence[Step], clients: AwsClients, *, alongside: Sequence[Callable[[], object]] = (),
            alongside_phase: int = 1, alongside_to_end: bool = False, expected: Collection[str] = ()) -> list[Done]:
    """Run every step that carries an operation, phase by phase; return what each call answered, in
    plan order. ``alongside`` are the command's own tasks (not AWS calls the plan knows of, e.g. uploads
    that need only the bucket phase 0 creates): they run side by side with the steps of phase
    ``alongside_phase``, or at that point on their own when it has none; with ``alongside_to_end`` they
    also run beside every later phase (which then does not wait for them), and execute returns when all ended."""
    steps = plan.changes if isinstance(plan, Plan) else list(plan)
    runnable = [s for s in steps if s.operation is not None]
    done: dict[int, Done] = {}
    answers: dict[str, dict[str, Any]] = {}  # by step key: what a later phase's Refs read

    def run(index: int, step: Step) -> Callable[[], None]:
        def go() -> None:
            assert step.operation is not None
            operation = step.operation.resolved(answers)
            done[index] = Done(step, call(clients, operation, step.subject or step.resource, expected=expected))

        return go

    numbers = sorted({s.phase for s in runnable} | ({alongside_phase} if alongside else set()))
    spanning = bool(alongside) and alongside_to_end
    later = [number for number in numbers if spanning and number >= alongside_phase]

    def phases(selected: list[int], extra: Sequence[Callable[[], object]] = ()) -> None:
        for number in selected:
            tasks: list[Callable[[], object]] = [run(i, s) for i, s in enumerate(runnable) if s.phase == number]
            if number == alongside_phase:
                tasks.extend(extra)
            together(tasks)
            answers.update({d.step.key: d.response for d in list(done.values()) if d.step.key is not None})

    phases([number for number in numbers if number not in later], alongside)
    if later:
        together([lambda: phases(later), *alongside])
    return [done[i] for i in sorted(done)]
