# genai-gateway replica image. Not built in CI here (no Docker engine on these machines);
# `make test` exercises the same package and entry point.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY gateway ./gateway
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt .

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
