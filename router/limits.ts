// Every limit of the public edge in one place, each overridable by an environment
// variable of the same name; docs/architecture.md ("Limits") explains each.
import type { FieldLimit } from './ratelimit.ts';

const env = process.env;
const number = (name: string, fallback: number) => Number(env[name] ?? fallback);

/** `hits/windowSeconds`, e.g. RATE_LIMIT_LOGIN=30/60. */
function rate(name: string, fallback: string): FieldLimit {
  const [hits, windowSeconds] = (env[name] ?? fallback).split('/').map(Number);
  return { hits, windowSeconds };
}

export const limits = {
  // The shape of a document (graphql-armor), checked before anything runs.
  maxDepth: number('ROUTER_MAX_DEPTH', 12),
  maxAliases: number('ROUTER_MAX_ALIASES', 15),
  maxTokens: number('ROUTER_MAX_TOKENS', 2000),
  // Demand control: the estimated cost of what an operation asks the subgraphs for.
  maxCost: number('ROUTER_MAX_COST', 5000),
  // A request body larger than this is refused with HTTP 413 before it is read.
  maxBodyBytes: number('ROUTER_MAX_BODY_BYTES', 100_000),
  // A subgraph that has not answered within this is given up (the field is an error).
  subgraphTimeoutMs: number('ROUTER_SUBGRAPH_TIMEOUT_MS', 30_000),
  // Per client address, shared by all router replicas (Redis).
  perAddress: {
    login: rate('RATE_LIMIT_LOGIN', '30/60'),
    register: rate('RATE_LIMIT_REGISTER', '10/3600'),
    refreshToken: rate('RATE_LIMIT_REFRESH_TOKEN', '60/60'),
  } as Record<string, FieldLimit>,
};
