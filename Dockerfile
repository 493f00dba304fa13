# x-coin-flywheel: `flywheel run` (scheduler, /health and webhooks on 3000, /metrics on 9090).
#
#   docker-compose build && docker-compose up -d      (see docker-compose.yml)
#   docker build -t x-coin-flywheel . && docker run --env-file .env -e HTTP_HOST=0.0.0.0 \
#       --user "$(id -u):$(id -g)" \
#       -v "$PWD/secure:/secure:ro" -v "$PWD/data:/app/data" -v "$PWD/reports:/app/reports" \
#       -p 127.0.0.1:3000:3000 -p 127.0.0.1:9090:9090 x-coin-flywheel
#   (--user: the keypair is chmod 600, so only its owner can read it; see docker-compose.yml)
#
# Two stages: the build stage has pip and the build backend; the runtime stage only the virtualenv
# with the project and its runtime dependencies (no dev extras, no compiler: every dependency,
# solders included, ships manylinux wheels).

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv

WORKDIR /src
# The runtime dependencies come from the lock, pinned and hash-checked, so an image built next
# month holds the versions tested today (docs/dependencies.md); the project goes on top of them.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml ./
COPY src ./src
# A non-editable install: the runtime stage gets the package inside the venv, not a link to /src.
RUN /opt/venv/bin/pip install --no-deps . && /opt/venv/bin/pip check


FROM python:3.11-slim

LABEL org.opencontainers.image.title="x-coin-flywheel" \
      org.opencontainers.image.description="A Solana token's fee flywheel: buyback, burn, X ads"

# A fixed uid/gid so that host directories and the keypair can be chowned to it; docker-compose.yml
# can run the container as another uid (FLYWHEEL_UID) when the files belong to the operator.
ARG FLYWHEEL_UID=10001
ARG FLYWHEEL_GID=10001
RUN groupadd --system --gid "${FLYWHEEL_GID}" flywheel \
    && useradd --system --uid "${FLYWHEEL_UID}" --gid flywheel --home-dir /app \
        --no-create-home --shell /usr/sbin/nologin flywheel

COPY --from=build /opt/venv /opt/venv

# STATE_DB_PATH and REPORTS_DIR default to ./data/flywheel.sqlite and ./reports: relative to
# /app they land in the two volumes. HTTP_HOST=0.0.0.0 because inside a container the loopback
# is unreachable from the published ports and from Prometheus; the host side of the ports is
# still bound to 127.0.0.1 by docker-compose.yml.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/app \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=3000 \
    METRICS_PORT=9090

WORKDIR /app
# Created and owned here so that fresh named volumes inherit the owner; bind mounts keep the
# host's owner instead (see docker-compose.yml).
RUN mkdir -p /app/data /app/reports \
    && chown -R flywheel:flywheel /app
VOLUME ["/app/data", "/app/reports"]

USER flywheel

EXPOSE 3000 9090

# python:3.11-slim has no curl: ask /health with the standard library. It answers 503 while the
# circuit breaker is open or epochs are stale, which marks the container unhealthy; the process
# keeps running (the breaker closes by itself after its timeout), so an orchestrator that
# restarts unhealthy containers must not be pointed at this check blindly.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request\ntry:\n    r = urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('HTTP_PORT', '3000'), timeout=4)\n    sys.exit(0 if r.status == 200 else 1)\nexcept Exception as exc:\n    print('unhealthy:', exc)\n    sys.exit(1)"]

# SIGTERM (docker stop / docker-compose down) lets a running epoch reach its next recorded step.
STOPSIGNAL SIGTERM

ENTRYPOINT ["flywheel"]
CMD ["run"]
