# One image for every subgraph; SUBGRAPH picks which one the container serves.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY shared ./shared
COPY subgraphs ./subgraphs
COPY tools ./tools

ARG SUBGRAPH=users
ENV SUBGRAPH=${SUBGRAPH}
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["sh", "-c", "exec uvicorn subgraphs.${SUBGRAPH}.app:app --host 0.0.0.0 --port 8000 --no-access-log"]
