# The federation router (Hive Gateway) serving the committed supergraph, on Node 24
# (active LTS; Node 20 reached end of life). The first stage installs the locked
# production dependencies; the second runs them as an unprivileged user.
FROM node:24-slim AS build

WORKDIR /router
COPY router/package.json router/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim

RUN groupadd --system --gid 10001 meetinity \
    && useradd --system --uid 10001 --gid meetinity --no-create-home meetinity
WORKDIR /router
COPY --from=build /router/node_modules ./node_modules
COPY router/package.json router/*.ts ./
COPY schema/supergraph.graphql /schema/supergraph.graphql

# NODE_OPTIONS: the young generation the stack is measured with (tools/stack.py).
ENV NODE_ENV=production ROUTER_PORT=4000 METRICS_PORT=9000 LOG_JSON=1 \
    NODE_OPTIONS=--max-semi-space-size=64
USER 10001:10001
EXPOSE 4000 9000
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:4000/readiness').then(r => process.exit(r.ok ? 0 : 1)).catch(() => process.exit(1))"
# The binary itself rather than npx, which wants a writable home for its cache.
CMD ["node_modules/.bin/hive-gateway", "supergraph", "/schema/supergraph.graphql", "-c", "gateway.config.ts"]
