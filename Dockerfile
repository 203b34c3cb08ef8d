# One image for every service (api, collector, admin, dashboards, migrate); the command picks the role.
FROM python:3.14-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.9.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# Dependencies first (cached while only our code changes), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY . .
RUN uv sync --locked --no-dev

FROM python:3.14-slim
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --home-dir /app app \
    && mkdir -p /data/uploads /data/imports && chown -R 10001:10001 /data
COPY --from=build --chown=10001:10001 /app /app
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    SPOTIFY_MCP_HOME=/data \
    UPLOAD_DIR=/data/uploads
WORKDIR /app
USER 10001
EXPOSE 8000 8001
# No image-wide HEALTHCHECK: the roles differ (api and admin are probed per service in docker-compose.yml).
ENTRYPOINT ["spotify-mcp"]
CMD ["api"]
