"""The pure core: issuer rules, keys, documents, thumbprints, rotation policy, trust and bucket policies,
the typed plan and its planners. No boto3, no Kubernetes client, no sockets, no clock: time is an input.
An import contract (pyproject.toml, run by .ci/run) keeps it so."""
