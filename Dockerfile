# A small non-root image of oidc-publisher, for the rotation job (templates/rotation-job):
#   docker build -t REGISTRY/oidc-publisher:0.1.0 .
# The build stage installs the package into a virtual environment; the runtime stage copies only that
# environment onto the same slim base, so no wheel, compiler or build cache ends up in the image.
#
# Supply chain: the base image is pinned by digest (its tag in the comment above each FROM; to move it,
# `docker buildx imagetools inspect python:3.12-slim-bookworm` and replace both digests together), and
# every dependency, the build backend included, is installed from requirements.lock by hash. Regenerate
# the lock after changing pyproject.toml's dependencies (docs/security.md says how).

# python:3.12-slim-bookworm
FROM python:3.12-slim-bookworm@sha256:34386ef0cb081344d7ec1c103ba398e6e9f64e9ab3a1509accc92a4e24a07258 AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/oidc-publisher
WORKDIR /src
COPY requirements.lock ./
RUN /opt/oidc-publisher/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY oidc_publisher ./oidc_publisher
COPY templates ./templates
# The package itself, with nothing resolved or downloaded: its dependencies and setuptools are the locked ones.
RUN /opt/oidc-publisher/bin/pip install --no-cache-dir --no-deps --no-build-isolation .

# python:3.12-slim-bookworm
FROM python:3.12-slim-bookworm@sha256:34386ef0cb081344d7ec1c103ba398e6e9f64e9ab3a1509accc92a4e24a07258
COPY --from=build /opt/oidc-publisher /opt/oidc-publisher
# Bytecode was compiled at install time; the job's root filesystem is read-only.
ENV PATH=/opt/oidc-publisher/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
# No passwd entry is needed: the CronJob runs as this same UID (runAsUser 65532, runAsNonRoot).
USER 65532:65532
ENTRYPOINT ["oidc-publisher"]
CMD ["--help"]
