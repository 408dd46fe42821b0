# One image for every subgraph; SUBGRAPH picks which one the container serves.
# Two stages: uv resolves the locked dependencies into /opt/venv in the first; the
# second holds only that venv and our code, and runs as an unprivileged user.
FROM python:3.11-slim AS build

ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
# /var/lib/meetinity/keys is where docker-compose keeps the development signing key:
# a named volume mounted there inherits this ownership, so the user can write it.
RUN groupadd --system --gid 10001 meetinity \
    && useradd --system --uid 10001 --gid meetinity --no-create-home meetinity \
    && install -d -o 10001 -g 10001 /var/lib/meetinity/keys
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY shared ./shared
COPY subgraphs ./subgraphs
COPY tools ./tools

ARG SUBGRAPH=users
ENV SUBGRAPH=${SUBGRAPH} METRICS_PORT=9000 METRICS_HOST=0.0.0.0
USER 10001:10001
EXPOSE 8000 9000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["sh", "-c", "exec uvicorn subgraphs.${SUBGRAPH}.app:app --host 0.0.0.0 --port 8000 --no-access-log --ws-ping-interval 20"]
