# The federation router (Hive Gateway) serving the committed supergraph.
FROM node:20-slim

WORKDIR /router
COPY router/package.json router/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY router/gateway.config.ts ./
COPY schema/supergraph.graphql /schema/supergraph.graphql

ENV ROUTER_PORT=4000 LOG_JSON=1
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:4000/readiness').then(r => process.exit(r.ok ? 0 : 1)).catch(() => process.exit(1))"
CMD ["npx", "hive-gateway", "supergraph", "/schema/supergraph.graphql", "-c", "gateway.config.ts"]
