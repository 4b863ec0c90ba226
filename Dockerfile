# genai-gateway replica image. Not built in CI here (no Docker engine on these machines);
# `make test` exercises the same package and entry point, and tests/supply_chain/
# fails if an install below stops being hash-checked.
#
# Every third-party file comes from requirements/*.txt with --require-hashes (locks written
# by `make lock`, see docs/dependencies.md); the gateway's own wheel is built here from
# the copied source and installed with --no-deps.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements/build.txt requirements/replica.txt requirements/
# Build tools (setuptools, wheel) in a venv of their own, from their hash lock.
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements/build.txt
# The runtime venv holds only the replica lock and the gateway: no pip, no setuptools, and
# so no .pth file at all (the startup guard refuses unknown ones). Wheels only.
RUN python -m venv --without-pip /opt/venv \
 && /opt/build/bin/pip --python /opt/venv/bin/python install --no-cache-dir \
      --require-hashes --no-deps --only-binary=:all: -r requirements/replica.txt
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /tmp/dist . \
 && /opt/build/bin/pip --python /opt/venv/bin/python install --no-cache-dir --no-deps --no-index /tmp/dist/*.whl

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    LITELLM_PORT=8000 \
    LITELLM_YAML_STORAGE_PATH=/var/run/litellm/config.yaml
COPY --from=build /opt/venv /opt/venv
RUN useradd --uid 10001 --create-home gateway \
 && mkdir -p /var/run/litellm && chown gateway /var/run/litellm
USER 10001
EXPOSE 8000
# Readiness stays 503 until the first valid config is applied; liveness answers at once.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"LITELLM_PORT\",\"8000\")}/health/liveliness')"
ENTRYPOINT ["genai-gateway"]
CMD ["serve"]
