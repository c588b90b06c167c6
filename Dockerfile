# A small non-root image of oidc-publisher, for the rotation job (templates/rotation-job).
#   docker build -t oidc-publisher:0.1.0 .
FROM python:3.12-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY oidc_publisher ./oidc_publisher
COPY templates ./templates
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels oidc-publisher \
    && rm -rf /wheels
# The rotation job runs with a read-only root filesystem as this user (see cronjob.yaml).
USER 65532:65532
ENTRYPOINT ["oidc-publisher"]
CMD ["--help"]
