// Rate limits per client address on the fields that cost the most to abuse: `login`
// (password guessing), `register` (mass sign-ups), `refreshToken`. Counted in Redis, so
// every router replica shares them; answered with RATE_LIMITED, `extensions.retryAfter`
// (whole seconds until the window ends) and an HTTP `Retry-After` header.
//
// Why not Hive Gateway's `rateLimiting` option: it keeps a list of timestamps per client
// in the gateway cache and reads then writes it, so concurrent requests (or replicas)
// all read the same list and all pass; its error has no code and no retry-after. This is
// the same fixed-window count as shared/ratelimit.py (the users subgraph's per-account
// limits): one atomic Lua script. Each aliased occurrence of a field counts.
//
// The client address is the socket's peer, or, when that peer is a trusted proxy
// (TRUSTED_PROXIES), the right-most X-Forwarded-For address a trusted proxy did not add.
// Addresses in RATE_LIMIT_EXEMPT (an internal load-test client) are never limited.
// With Redis unreachable, limits are not enforced (logged): the limiter's outage must
// not lock everyone out.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kind, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { Redis } from 'ioredis';
import type { GatewayPlugin } from '@graphql-hive/gateway';
import { Code, routerError } from './errors.ts';

const env = process.env;

export interface FieldLimit {
  hits: number;
  windowSeconds: number;
}

const HIT = `
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if count == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
return {count, ttl}
`;

function redisUrl(): string {
  if (env.REDIS_URL) return env.REDIS_URL;
  // In Kubernetes the URL is a mounted Secret file, as for the subgraphs.
  if (env.SECRETS_DIR) return readFileSync(join(env.SECRETS_DIR, 'redis_url'), 'utf8').trim();
  return 'redis://127.0.0.1:6379/0';
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((item) => item.trim()).filter(Boolean);
}

function normalise(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

const trustedProxies = new Set(list(env.TRUSTED_PROXIES).map(normalise));
const exempt = new Set(list(env.RATE_LIMIT_EXEMPT).map(normalise));

/** The address a request comes from (see the top of this file). */
export function clientAddress(request: Request, serverContext: any): string {
  const peer = normalise(String(serverContext?.req?.socket?.remoteAddress ?? 'unknown'));
  if (!trustedProxies.has(peer)) return peer;
  const forwarded = list(request.headers.get('x-forwarded-for') ?? undefined).map(normalise);
  for (let i = forwarded.length - 1; i >= 0; i--) {
    if (!trustedProxies.has(forwarded[i])) return forwarded[i];
  }
  return peer;
}

/** How many times each root field of the operation is selected (aliases count). */
function rootFieldCounts(document: DocumentNode, operationName?: string | null): Map<string, number> {
  const counts = new Map<string, number>();
  const operations = document.definitions.filter(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  );
  const operation = operationName
    ? operations.find((candidate) => candidate.name?.value === operationName)
    : operations[0];
  if (!operation || operation.operation !== 'mutation') return counts;
  const fragments = new Map(
    document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d: any) => [d.name.value, d]),
  );
  const visit = (selections: readonly any[], seen: Set<string>) => {
    for (const selection of selections) {
      if (selection.kind === Kind.FIELD) {
        counts.set(selection.name.value, (counts.get(selection.name.value) ?? 0) + 1);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        visit(selection.selectionSet.selections, seen);
      } else if (selection.kind === Kind.FRAGMENT_SPREAD && !seen.has(selection.name.value)) {
        const fragment: any = fragments.get(selection.name.value);
        if (fragment) visit(fragment.selectionSet.selections, new Set([...seen, selection.name.value]));
      }
    }
  };
  visit(operation.selectionSet.selections, new Set());
  return counts;
}

export function addressRateLimits(limits: Record<string, FieldLimit>, prefix: string): GatewayPlugin {
  const url = redisUrl();
  const redis = url.startsWith('unix://')
    ? new Redis({ path: new URL(url).pathname, lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false })
    : new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on('error', () => {}); // reported where a limit goes unenforced
  redis.connect().catch(() => {});
  const retryAfterOf = new WeakMap<Request, number>();

  async function hit(key: string, hits: number, limit: FieldLimit): Promise<number | undefined> {
    try {
      const [count, ttl] = (await redis.eval(HIT, 1, key, hits, limit.windowSeconds * 1000)) as [number, number];
      return count > limit.hits ? Math.max(1, Math.ceil(ttl / 1000)) : undefined;
    } catch (error) {
      console.log(JSON.stringify({
        time: new Date().toISOString(), level: 'warn', service: 'router',
        message: 'rate limit not enforced: Redis unavailable', error: String(error),
      }));
      return undefined;
    }
  }

  return {
    // The open connection would keep the process alive after the gateway stopped.
    onDispose() {
      redis.disconnect();
    },
    async onExecute({ args, setResultAndStopExecution }) {
      const context = args.contextValue as any;
      const request: Request | undefined = context?.request;
      if (!request) return;
      const counts = rootFieldCounts(args.document, args.operationName);
      if (!counts.size) return;
      const address = clientAddress(request, context);
      if (exempt.has(address)) return;
      let retryAfter: number | undefined;
      for (const [field, hits] of counts) {
        const limit = limits[field];
        if (!limit) continue;
        const wait = await hit(`${prefix}:ratelimit:address:${field}:${address}`, hits, limit);
        if (wait !== undefined) retryAfter = Math.max(retryAfter ?? 0, wait);
      }
      if (retryAfter === undefined) return;
      retryAfterOf.set(request, retryAfter);
      setResultAndStopExecution({
        errors: [
          routerError(`Too many attempts from this address; retry in ${retryAfter} s`, Code.RATE_LIMITED, undefined, {
            retryAfter,
          }),
        ],
      });
    },
    onResponse({ request, response }) {
      const retryAfter = retryAfterOf.get(request);
      if (retryAfter !== undefined) response.headers.set('retry-after', String(retryAfter));
    },
  };
}
