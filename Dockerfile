# A small non-root image of oidc-publisher, for the rotation job (templates/rotation-job):
#   docker build -t REGISTRY/oidc-publisher:0.1.0 .
# The build stage installs the package into a virtual environment; the runtime stage copies only that
# environment onto the same slim base, so no wheel, compiler or build cache ends up in the image.
FROM python:3.12-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/oidc-publisher
WORKDIR /src
COPY pyproject.toml README.md ./
COPY oidc_publisher ./oidc_publisher
COPY templates ./templates
RUN /opt/oidc-publisher/bin/pip install --no-cache-dir .

FROM python:3.12-slim-bookworm
COPY --from=build /opt/oidc-publisher /opt/oidc-publisher
# Bytecode was compiled at install time; the job's root filesystem is read-only.
ENV PATH=/opt/oidc-publisher/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
# No passwd entry is needed: the CronJob runs as this same UID (runAsUser 65532, runAsNonRoot).
USER 65532:65532
ENTRYPOINT ["oidc-publisher"]
CMD ["--help"]
