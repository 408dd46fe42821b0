// Hive Gateway configuration: the one endpoint clients talk to.
// Options are documented in node_modules/@graphql-hive/gateway/dist/index.d.ts.
import { createServer } from 'node:http';
import { defineConfig, type GatewayPlugin, useJWT } from '@graphql-hive/gateway';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { hive } from '@graphql-hive/plugin-opentelemetry/api';
import { openTelemetrySetup } from '@graphql-hive/plugin-opentelemetry/setup';
import { trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { Counter, register } from 'prom-client';
import { bearerToken, CLOCK_TOLERANCE_SECONDS, keyStore, signingKey, tokenGate } from './auth.ts';
import { Code, coded, errorCodes } from './errors.ts';

const env = process.env;
const subgraphNames = ['users', 'events', 'matching', 'messaging'];

// Lets tests and deployments point the router at subgraphs elsewhere than the
// routing URLs composed into the supergraph (SUBGRAPH_USERS_URL=http://…/graphql).
const subgraphLocations = Object.fromEntries(
  subgraphNames
    .filter((name) => env[`SUBGRAPH_${name.toUpperCase()}_URL`])
    .map((name) => [name, { location: env[`SUBGRAPH_${name.toUpperCase()}_URL`] }]),
);

// Access tokens: `tokenGate` (router/auth.ts) refuses tokens signed by unknown keys and
// finds the token wherever a client puts it; Hive Gateway's JWT plugin verifies it.
// Anonymous requests go through (sign-up, log-in, public profiles); a token that is
// present but expired, tampered with or foreign is refused here with UNAUTHENTICATED.
const jwt = useJWT({
  signingKeyProviders: [signingKey(keyStore)],
  tokenLookupLocations: [bearerToken as any],
  tokenVerification: {
    algorithms: ['RS256'],
    issuer: env.JWT_ISSUER ?? 'meetinity-users',
    audience: env.JWT_AUDIENCE ?? 'meetinity',
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
  },
  reject: { missingToken: false, invalidToken: true },
});

// Limits on the shape of a document, checked before anything runs (graphql-armor, as
// Hive Gateway's own `maxDepth` / `maxTokens` options use, here with an error code).
const limits = {
  depth: Number(env.ROUTER_MAX_DEPTH ?? 12),
  aliases: Number(env.ROUTER_MAX_ALIASES ?? 15),
  tokens: Number(env.ROUTER_MAX_TOKENS ?? 2000),
};
const documentLimits = [
  maxTokensPlugin({ n: limits.tokens, onReject: [coded(Code.MAX_TOKENS_EXCEEDED)] }),
  maxDepthPlugin({ n: limits.depth, onReject: [coded(Code.MAX_DEPTH_EXCEEDED)] }),
  maxAliasesPlugin({ n: limits.aliases, onReject: [coded(Code.MAX_ALIASES_EXCEEDED)] }),
];

// Tracing with Hive Gateway's own OpenTelemetry support, when OTEL_EXPORTER_OTLP_ENDPOINT
// names a collector (unset: no SDK, no spans, nothing spent). Spans for the HTTP request,
// the operation, parse / validate / execute and each subgraph call; a trace starts here
// when the client sends no `traceparent`, and continues in the subgraphs.
const otlpEndpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/$/, '');
if (otlpEndpoint) {
  openTelemetrySetup({
    contextManager: new AsyncLocalStorageContextManager(),
    resource: { serviceName: 'router' },
    samplingRate: Number(env.OTEL_TRACES_SAMPLER_ARG ?? 1),
    traces: {
      exporter: new OTLPTraceExporter({ url: `${otlpEndpoint}/v1/traces` }),
      batching: { scheduledDelayMillis: Number(env.OTEL_BSP_SCHEDULE_DELAY ?? 5000) },
    },
  });
}

// Every response says which trace it belongs to (header `x-trace-id`, and
// `extensions.traceId` for GraphiQL), and the router logs each request with it.
function traceIdOf(request: Request): string | undefined {
  const context = hive.getHttpContext(request);
  const spanContext = context && trace.getSpanContext(context);
  return spanContext && trace.isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}

const requestStarted = new WeakMap<Request, number>();
const traceIdInResponses: GatewayPlugin = {
  onRequest({ request }) {
    requestStarted.set(request, performance.now());
  },
  onResultProcess({ request, result, setResult }) {
    const traceId = traceIdOf(request);
    if (!traceId || !result || Array.isArray(result) || Symbol.asyncIterator in result) return;
    setResult({ ...result, extensions: { ...result.extensions, traceId } });
  },
  onResponse({ request, response }) {
    const traceId = traceIdOf(request);
    if (traceId) response.headers.set('x-trace-id', traceId);
    const url = new URL(request.url);
    if (url.pathname !== '/graphql') return;
    const started = requestStarted.get(request);
    console.log(JSON.stringify({
      time: new Date().toISOString(),
      level: 'info',
      service: 'router',
      message: 'request',
      method: request.method,
      path: url.pathname,
      status: response.status,
      duration_ms: started === undefined ? undefined : Math.round((performance.now() - started) * 100) / 100,
      request_id: request.headers.get('x-request-id') ?? undefined,
      trace_id: traceId,
    }));
  },
};

// Prometheus metrics on an internal port of their own (METRICS_PORT), never on the
// public one: the NetworkPolicy lets only Prometheus reach it. Hive Gateway's
// Prometheus plugin records into prom-client's default registry, served here.
if (env.METRICS_PORT) {
  createServer(async (request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': register.contentType });
    response.end(await register.metrics());
  }).listen(Number(env.METRICS_PORT), env.METRICS_HOST ?? env.ROUTER_HOST ?? '0.0.0.0');
}

// Clients' operation names become label values: only well-formed ones, and only so
// many, so that no client can create series without bound.
const operationNames = new Set<string>();
function operationLabel(name: string | null | undefined): string {
  if (!name) return 'anonymous';
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) return 'other';
  if (!operationNames.has(name) && operationNames.size >= 500) return 'other';
  operationNames.add(name);
  return name;
}

const graphqlErrors = new Counter({
  name: 'meetinity_router_graphql_errors_total',
  help: 'GraphQL errors in the responses the router sends, by operation name and extensions.code',
  labelNames: ['operation', 'code'],
});

// Errors by code, for the error-rate alerts: what the client saw, whichever subgraph
// (or the router itself) produced it, after `errorCodes` gave codes.
const operationOf = new WeakMap<Request, string>();
const errorCodeMetrics: GatewayPlugin = {
  onParams({ params, request }) {
    operationOf.set(request, operationLabel(params.operationName));
  },
  onResultProcess({ request, result }) {
    for (const single of Array.isArray(result) ? result : [result]) {
      if (!single || !('errors' in single) || !single.errors) continue;
      const operation = operationOf.get(request) ?? 'anonymous';
      for (const error of single.errors as any[]) {
        graphqlErrors.inc({ operation, code: String(error.extensions?.code ?? 'INTERNAL_SERVER_ERROR') });
      }
    }
  },
};

export const gatewayConfig = defineConfig({
  port: Number(env.ROUTER_PORT ?? 4000),
  host: env.ROUTER_HOST ?? '0.0.0.0',
  graphqlEndpoint: '/graphql',
  healthCheckEndpoint: '/healthcheck',
  readinessCheckEndpoint: '/readiness',
  landingPage: false,
  // GET /graphql serves the bundled GraphiQL, which works offline.
  graphiql: {
    title: 'Meetinity GraphiQL',
    defaultQuery: `# Welcome to Meetinity. Log in, then add the header
# {"Authorization": "Bearer <accessToken>"} below to call the rest.
mutation LogIn {
  login(email: "ada@meetinity.dev", password: "meetinity-demo") {
    accessToken
    user { id name role }
  }
}
`,
  },
  maskedErrors: true,
  blockFieldSuggestions: true,
  // Subgraphs verify the token again themselves: forward it, never a bare user id.
  propagateHeaders: {
    fromClientToSubgraphs({ request }) {
      const headers: Record<string, string> = {};
      // With tracing on, the OpenTelemetry plugin sends the router's own span as parent.
      const names = otlpEndpoint ? ['authorization'] : ['authorization', 'traceparent', 'tracestate'];
      for (const name of names) {
        const value = request.headers.get(name);
        if (value) headers[name] = value;
      }
      return headers;
    },
  },
  transportEntries: {
    '*.http': {
      options: {
        subscriptions: {
          kind: 'ws',
          location: '/graphql',
          options: {
            connectionParams: { authorization: '{context.headers.authorization}' },
          },
        },
      },
    },
    ...subgraphLocations,
  },
  prometheus: {
    // Served on METRICS_PORT (above), not on the public port.
    endpoint: false,
    metrics: {
      graphql_envelop_request: true,
      graphql_envelop_request_duration: true,
      graphql_envelop_error_result: true,
      graphql_envelop_phase_parse: true,
      graphql_envelop_phase_validate: true,
      graphql_envelop_phase_execute: true,
      graphql_gateway_fetch_duration: true,
      graphql_gateway_subgraph_execute_duration: true,
      graphql_gateway_subgraph_execute_errors: true,
      graphql_yoga_http_duration: true,
    },
  },
  openTelemetry: otlpEndpoint ? { traces: true } : undefined,
  plugins: () => [
    tokenGate(keyStore),
    jwt,
    ...documentLimits,
    errorCodes, // before the plugins that read codes
    errorCodeMetrics,
    traceIdInResponses,
  ],
});
