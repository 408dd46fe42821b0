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
import { renderLaboratory } from '@graphql-hive/render-laboratory';
import { unifiedGraphHandler } from '@graphql-hive/router-runtime';
import { getOperationAST } from 'graphql';
import { Counter, register } from 'prom-client';
import { authorizationOf, bearerToken, CLOCK_TOLERANCE_SECONDS, keyStore, signingKey, tokenGate } from './auth.ts';
import { bodyLimit, Code, coded, errorCodes } from './errors.ts';
import { limits } from './limits.ts';
import { addressRateLimits } from './ratelimit.ts';

const env = process.env;
// One switch for production (as in the subgraphs): no introspection, no GraphiQL.
const production = env.ENVIRONMENT === 'production';
// Browser apps allowed to call the API with credentials (comma-separated origins).
// Production allows none unless configured; development, the app's local dev servers.
const corsOrigins = (env.CORS_ORIGINS ?? (production ? '' : 'http://localhost:3000,http://localhost:8081'))
  .split(',')
  .map((origin) => origin.trim())
  .filter(Boolean);
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
const documentLimits = [
  maxTokensPlugin({ n: limits.maxTokens, onReject: [coded(Code.MAX_TOKENS_EXCEEDED)] }),
  maxDepthPlugin({ n: limits.maxDepth, onReject: [coded(Code.MAX_DEPTH_EXCEEDED)] }),
  maxAliasesPlugin({ n: limits.maxAliases, onReject: [coded(Code.MAX_ALIASES_EXCEEDED)] }),
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
  })
    .listen(Number(env.METRICS_PORT), env.METRICS_HOST ?? env.ROUTER_HOST ?? '0.0.0.0')
    // Serving metrics must not keep the process alive once the gateway has stopped on
    // SIGTERM: it would linger until killed (after Kubernetes' grace period, 30 s).
    .unref();
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
function nameFromDocument(args: { document: any; operationName?: string | null; contextValue: any }) {
  const request: Request | undefined = args.contextValue?.request;
  if (!request || operationOf.get(request) !== 'anonymous') return;
  operationOf.set(request, operationLabel(getOperationAST(args.document, args.operationName)?.name?.value));
}
const errorCodeMetrics: GatewayPlugin = {
  onParams({ params, request }) {
    operationOf.set(request, operationLabel(params.operationName));
  },
  // The name from the document, where the client sent none beside it.
  onExecute({ args }) {
    nameFromDocument(args);
  },
  onSubscribe({ args }) {
    nameFromDocument(args);
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

// GraphiQL's first screen: log in as the demo admin (`make dev` seeds her).
const WELCOME_QUERY = `# Welcome to Meetinity. Log in, then add the header
# {"Authorization": "Bearer <accessToken>"} below to call the rest.
mutation LogIn {
  login(email: "ada@meetinity.dev", password: "meetinity-demo") {
    accessToken
    user { id name role }
  }
}
`;
const welcomeOperation = {
  id: 'meetinity-welcome', name: 'LogIn', query: WELCOME_QUERY,
  variables: '', headers: '', extensions: '',
};
const welcomeTab = {
  id: 'meetinity-welcome-tab', type: 'operation',
  data: { id: welcomeOperation.id, name: welcomeOperation.name },
};
// Runs in the page before the Laboratory reads localStorage (keys `hive-laboratory:*`).
const seedWelcomeTab = `(function () {
  var key = 'hive-laboratory:';
  var tabs = JSON.parse(localStorage.getItem(key + 'tabs') || '[]');
  if (tabs.length) return;
  var operations = JSON.parse(localStorage.getItem(key + 'operations') || '[]')
    .filter(function (operation) { return operation.id !== ${JSON.stringify(welcomeOperation.id)}; });
  localStorage.setItem(key + 'operations', JSON.stringify(operations.concat([${JSON.stringify(welcomeOperation)}])));
  localStorage.setItem(key + 'tabs', JSON.stringify([${JSON.stringify(welcomeTab)}]));
  localStorage.setItem(key + 'activeTabId', JSON.stringify(${JSON.stringify(welcomeTab.id)}));
})();
`;

export const gatewayConfig = defineConfig({
  // Hive Router's query planner (Rust): a quarter less router CPU per request than the
  // JavaScript planner (docs/benchmarks.md). It sends subgraphs anonymous operations, so
  // the client's operation name goes along in a header (below) for their metrics and spans.
  unifiedGraphHandler,
  port: Number(env.ROUTER_PORT ?? 4000),
  host: env.ROUTER_HOST ?? '0.0.0.0',
  // On SIGTERM, requests in flight finish (for up to 20 s, inside Kubernetes' 30 s
  // grace period, after its preStop sleep) instead of having their connections cut; the
  // gateway's default is 0. tests/test_kubernetes.py checks both fit the grace period.
  gracefulShutdownTimeout: 20_000,
  graphqlEndpoint: '/graphql',
  healthCheckEndpoint: '/healthcheck',
  readinessCheckEndpoint: '/readiness',
  landingPage: false,
  // GET /graphql serves the bundled GraphiQL, which works offline (not in production).
  graphiql: production ? false : { title: 'Meetinity GraphiQL' },
  // Hive Laboratory ignores GraphiQL's defaultQuery (it would open on "No operation
  // selected"), and reads its tabs from localStorage: seed the welcome operation there
  // when the browser has no tabs yet, so a first visit opens on it and later visits keep
  // the user's own tabs. (@graphql-hive/render-laboratory comes with the gateway.)
  renderGraphiQL: (options) =>
    renderLaboratory(options).replace('<script>', `<script>${seedWelcomeTab}`),
  maskedErrors: true,
  blockFieldSuggestions: true,
  disableIntrospection: production ? {} : undefined,
  // Demand control: every list and connection field carries @listSize (its page
  // argument `first`, or an assumed size), and an operation whose estimated cost is
  // above the budget is refused before the subgraph is called (docs/architecture.md).
  demandControl: { maxCost: limits.maxCost, includeExtensionMetadata: false },
  // A form or a plain-text POST (what a page on another site can send without a CORS
  // preflight) must carry one of these headers, which only scripts allowed by CORS can add.
  csrfPrevention: { requestHeaders: ['x-graphql-csrf', 'apollo-require-preflight'] },
  cors: { origin: corsOrigins, credentials: true, maxAge: 600 },
  // Queries and mutations only: a subscription lives as long as the client wants it.
  upstreamTimeout: ({ executionRequest }) => {
    const operation =
      executionRequest?.operationType ??
      (executionRequest && getOperationAST(executionRequest.document, executionRequest.operationName)?.operation);
    return operation === 'subscription' ? undefined : limits.subgraphTimeoutMs;
  },
  // Subgraphs verify the token again themselves: forward it, never a bare user id.
  propagateHeaders: {
    fromClientToSubgraphs({ request, context }) {
      const headers: Record<string, string> = {};
      // The token the router verified, wherever the client sent it: a query or a
      // mutation over WebSocket carries it in connectionParams, not in a header.
      const authorization = authorizationOf(request, context);
      if (authorization) headers.authorization = authorization;
      // With tracing on, the OpenTelemetry plugin sends the router's own span as parent.
      if (!otlpEndpoint) {
        for (const name of ['traceparent', 'tracestate']) {
          const value = request.headers.get(name);
          if (value) headers[name] = value;
        }
      }
      // A label for metrics and spans, never trusted for anything else (operationLabel
      // keeps it well-formed and bounded).
      headers['x-graphql-operation-name'] = operationOf.get(request) ?? 'anonymous';
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
    // Only what an alert or the dashboard reads (infra/observability; a test checks
    // each series they name is exposed). The plugin turns every other metric on
    // unless told otherwise; a profile put the plugin at 4-6 % of the router's CPU
    // (per-request summaries, a walk of each document for deprecated fields, a
    // histogram per phase and per fetch): what nobody reads is off.
    metrics: {
      graphql_envelop_request_duration: true, // operations/s, p95 latency, error-rate denominator
      graphql_yoga_http_duration: true, // 5xx share of responses
      graphql_gateway_subgraph_execute_duration: true, // p95 per subgraph
      graphql_envelop_request: false,
      graphql_envelop_request_time_summary: false,
      graphql_envelop_deprecated_field: false,
      graphql_envelop_error_result: false, // meetinity_router_graphql_errors_total counts errors by code
      graphql_envelop_phase_parse: false,
      graphql_envelop_phase_validate: false,
      graphql_envelop_phase_context: false,
      graphql_envelop_phase_execute: false,
      graphql_envelop_phase_subscribe: false,
      graphql_envelop_schema_change: false,
      graphql_envelop_execute_resolver: false,
      graphql_gateway_fetch_duration: false,
      graphql_gateway_subgraph_execute_errors: false,
    },
  },
  openTelemetry: otlpEndpoint ? { traces: true } : undefined,
  plugins: () => [
    bodyLimit(limits.maxBodyBytes),
    tokenGate(keyStore),
    jwt,
    ...documentLimits,
    addressRateLimits(limits.perAddress, env.REDIS_PREFIX ?? 'meetinity'),
    errorCodes, // before the plugins that read codes
    errorCodeMetrics,
    traceIdInResponses,
  ],
});
