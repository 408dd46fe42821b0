// Hive Gateway configuration: the one endpoint clients talk to.
// Options are documented in node_modules/@graphql-hive/gateway/dist/index.d.ts.
import {
  createRemoteJwksSigningKeyProvider,
  defineConfig,
  extractFromHeader,
  type GatewayPlugin,
} from '@graphql-hive/gateway';

const env = process.env;
const subgraphNames = ['users', 'events', 'matching', 'messaging'];

// Lets tests and deployments point the router at subgraphs elsewhere than the
// routing URLs composed into the supergraph (SUBGRAPH_USERS_URL=http://…/graphql).
const subgraphLocations = Object.fromEntries(
  subgraphNames
    .filter((name) => env[`SUBGRAPH_${name.toUpperCase()}_URL`])
    .map((name) => [name, { location: env[`SUBGRAPH_${name.toUpperCase()}_URL`] }]),
);

// Over WebSocket, clients send their token in connectionParams; the gateway merges
// those into the request headers, so one lookup serves HTTP and WebSocket alike.
const bearerToken = extractFromHeader({ name: 'authorization', prefix: 'Bearer' });

// The JWT plugin answers a bad token with a bare 401; give it the error code every
// other authentication failure in the graph carries.
const unauthenticatedCode: GatewayPlugin = {
  onResultProcess({ result, setResult }) {
    if (!result || Array.isArray(result) || !('errors' in result) || !result.errors) return;
    const errors = result.errors.map((error: any) => {
      const status = error.extensions?.http?.status;
      if ((status === 401 || status === 400) && !error.extensions?.code && !error.path) {
        return { ...error.toJSON?.() ?? error, extensions: { ...error.extensions, code: 'UNAUTHENTICATED' } };
      }
      return error;
    });
    setResult({ ...result, errors });
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
  maxDepth: Number(env.ROUTER_MAX_DEPTH ?? 12),
  maxTokens: 2000,
  blockFieldSuggestions: true,
  jwt: {
    signingKeyProviders: [
      createRemoteJwksSigningKeyProvider({
        jwksUri: env.JWKS_URL ?? 'http://127.0.0.1:4001/.well-known/jwks.json',
        cache: true,
        rateLimit: true,
      }),
    ],
    tokenLookupLocations: [bearerToken],
    tokenVerification: {
      algorithms: ['RS256'],
      issuer: env.JWT_ISSUER ?? 'meetinity-users',
      audience: env.JWT_AUDIENCE ?? 'meetinity',
    },
    // Anonymous requests go through (sign-up, log-in, public profiles); a token
    // that is present but expired, tampered with or foreign is refused here.
    reject: { missingToken: false, invalidToken: true },
  },
  // Subgraphs verify the token again themselves: forward it, never a bare user id.
  propagateHeaders: {
    fromClientToSubgraphs({ request }) {
      const headers: Record<string, string> = {};
      for (const name of ['authorization', 'traceparent', 'tracestate']) {
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
    endpoint: '/metrics',
    metrics: {
      graphql_gateway_fetch_duration: true,
      graphql_gateway_subgraph_execute_duration: true,
      graphql_gateway_subgraph_execute_errors: true,
      graphql_yoga_http_duration: true,
    },
  },
  plugins: () => [unauthenticatedCode],
});
