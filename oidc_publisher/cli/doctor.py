"""``oidc-publisher doctor``: the IRSA chain checked from a pod's side."""

from pathlib import Path
from typing import Annotated

import typer

from oidc_publisher.cli.common import OutputFormat, OutputOpt, fail, run, warn

_CLUSTER = "Cluster"


def doctor(
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="The namespace of the pod or service account.")],
    pod: Annotated[str | None, typer.Option("--pod", help="The pod that cannot get AWS credentials.")] = None,
    service_account: Annotated[
        str | None, typer.Option("--service-account", help="A service account to check instead of a pod (no mutation check).")
    ] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option("--kubeconfig", help="Kubeconfig file (default: $KUBECONFIG or ~/.kube/config).", rich_help_panel=_CLUSTER),
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.", rich_help_panel=_CLUSTER)] = None,
    insecure_skip_tls_verify: Annotated[
        bool,
        typer.Option(
            "--insecure-skip-tls-verify",
            help="Accept a kubeconfig that sets insecure-skip-tls-verify (refused otherwise: what doctor compares "
            "with the published keys would come over an unverified connection). Warns on every run.",
            rich_help_panel=_CLUSTER,
        ),
    ] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Why can't this pod get AWS credentials? Check the IRSA chain from its side: annotation, webhook,
    mutation, provider, audience, published keys, trust policy, role, and the real exchange. Reads only."""
    from oidc_publisher.core.errors import UsageError

    if (pod is None) == (service_account is None):
        fail(UsageError("give exactly one of --pod NAME or --service-account NAME", "e.g. doctor -n default --pod my-app-7d9f-x2x"), output)
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.commands.doctor import DoctorReport, DoctorSettings
    from oidc_publisher.commands.doctor import doctor as do_doctor

    def work() -> DoctorReport:
        settings = DoctorSettings(namespace=namespace, pod=pod, service_account=service_account, kubeconfig=kubeconfig, context=context,
                                  insecure_ok=warn if insecure_skip_tls_verify else None)
        return do_doctor(settings, AwsClients())

    run(work, output)
