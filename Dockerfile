# syntax=docker/dockerfile:1.7
# One image for every process of the platform; the command picks the process:
#   docker run IMAGE api customer | relay ticketing | worker analytics projector | migrate all | topics
# Why one image and not one per service: docs/adr/0004-one-image-for-every-process.md.
#
#   docker build -t customer360:dev .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: compilers live here only ------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app

# Dependencies first, from the two files that pin them: this layer is rebuilt only when they change,
# not on every source edit. The list is read from pyproject.toml so it is never written twice.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt -c constraints.txt

# The project itself, installed in place (no dependencies: they are above) so that migrations (*.sql)
# and the console's static files are read from the source tree exactly as in the local run.
COPY README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-deps -e . \
 && python -m compileall -q /app/shared /app/services

# ---- runtime: the interpreter, the virtual environment and our code; no compilers -----------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="customer360" \
      org.opencontainers.image.description="Customer 360 platform: every API, relay and worker (c360 <command>)" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 c360 \
 && useradd --system --uid 10001 --gid c360 --home-dir /app --shell /usr/sbin/nologin c360
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
# Which process a container runs decides what "healthy" means: an API answers /health/live on its port;
# a relay or worker answers /health/live on METRICS_PORT when that is set (shared/cli.py; 503 once its
# work loop stops beating, shared/ops/heartbeat.py), and otherwise is healthy while it runs (it exits on a fatal error and the orchestrator restarts it). Read from PID 1's
# command line and environment, so one HEALTHCHECK fits every process.
COPY --chmod=0755 <<'PY' /usr/local/bin/c360-healthcheck
#!/opt/venv/bin/python
"""Docker HEALTHCHECK for any c360 process (see the Dockerfile)."""
import os
import sys
import urllib.request

PORTS = {"customer": 8001, "ticketing": 8002, "campaigns": 8003, "analytics": 8004}
with open("/proc/1/cmdline", "rb") as f:
    argv = [a.decode() for a in f.read().split(b"\0") if a]
if "api" in argv:
    service = argv[argv.index("api") + 1]
    port = (argv[argv.index("--port") + 1] if "--port" in argv else None) \
        or os.environ.get(f"{service.upper()}_HTTP_PORT") or os.environ.get("HTTP_PORT") or PORTS.get(service, 8000)
    url = f"http://127.0.0.1:{port}/health/live"
elif ("relay" in argv or "worker" in argv) and os.environ.get("METRICS_PORT", "0") not in ("", "0"):
    url = f"http://127.0.0.1:{os.environ['METRICS_PORT']}/health/live"
else:
    sys.exit(0)
try:
    with urllib.request.urlopen(url, timeout=3) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except OSError as exc:
    print(f"unhealthy: {exc}", file=sys.stderr)
    sys.exit(1)
PY
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HTTP_HOST=0.0.0.0 \
    LOG_FORMAT=json \
    FAUST_DATADIR=/tmp/faust
# The root filesystem is read-only in compose and Kubernetes; /tmp (tmpfs / emptyDir) is the only writable
# path, so it is the working directory and where Faust workers keep their state (FAUST_DATADIR).
WORKDIR /tmp
USER 10001:10001
EXPOSE 8001 8002 8003 8004 9100
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 CMD ["c360-healthcheck"]
ENTRYPOINT ["c360"]
CMD ["processes"]
