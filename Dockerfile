# Datalid on CPU: the gRPC server, or (with another command) its Envoy REST front door.
#
# Not built in CI (no Docker engine there): kept correct by reading, and tests/test_docker.py checks
# that every path it copies exists. `docker compose -f deploy/docker-compose.yml up --build` runs
# both. One worker per container; scale containers (or pods: deploy/k8s) for more cores.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/datalid \
    PATH=/opt/datalid/bin:$PATH

# OpenCV's runtime libraries; nothing else comes from apt.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/* \
 && python -m venv $VIRTUAL_ENV

WORKDIR /app
COPY clients/python/ clients/python/
COPY pyproject.toml README.md LICENSE ./
COPY pipeline/ pipeline/
COPY server/ server/
COPY models/ models/
# The sidecar builds its descriptor set from the protos and serves the OpenAPI document and the page.
COPY proto/ proto/
COPY third_party/ third_party/
COPY deploy/envoy/ deploy/envoy/
COPY docs/openapi.json docs/openapi.json

RUN pip install ./clients/python .

RUN useradd --system --uid 10001 datalid && mkdir -p /var/lib/datalid && chown datalid /var/lib/datalid
USER datalid

# Listening on every address needs API keys or JWT (DATALID_API_KEYS_FILE, ...) or, behind a
# trusted network only, DATALID_INSECURE=true. Jobs live in /var/lib/datalid (mount a volume).
ENV DATALID_HOST=0.0.0.0 \
    DATALID_PORT=50051 \
    DATALID_PROVIDERS=cpu \
    DATALID_JOB_DB_PATH=/var/lib/datalid/jobs.sqlite3
EXPOSE 50051 8080
STOPSIGNAL SIGTERM
CMD ["python", "-m", "server"]
