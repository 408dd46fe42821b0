// Access tokens at the router: where the token is found, and the users subgraph's signing
// keys. Verification itself is Hive Gateway's JWT plugin (`useJWT`); this module gives
// it a token lookup and a key provider that behave under abuse:
//
// - The scheme is case-insensitive (`Bearer`, `bearer`: RFC 7235). Over WebSocket the
//   token comes from connectionParams whatever the case of its `authorization` key, or
//   from the subscribe message's `extensions.headers` (what GraphiQL sends).
// - Keys are parsed once per key id and cached; the JWKS is fetched again after
//   JWKS_TTL_SECONDS, so a key removed from it stops being trusted within that time.
// - A token whose key id is unknown triggers at most one JWKS fetch per
//   UNKNOWN_KID_REFETCH_SECONDS (all such requests share it), then a 401 UNAUTHENTICATED.
//   A flood of random key ids costs nothing more, and a real new key is still fetched
//   within that interval. (jwks-rsa, the JWT plugin's default provider, spends its
//   whole refetch budget on such a flood and answers unknown ids with HTTP 500.)
// - A failed fetch keeps the keys already known, and is not retried before
//   JWKS_RETRY_SECONDS (negative cache).
import { createPublicKey, type KeyObject } from 'node:crypto';
import jsonwebtoken from 'jsonwebtoken';
import type { GatewayPlugin } from '@graphql-hive/gateway';
import { Code, routerError } from './errors.ts';

const env = process.env;

export interface KeyStoreOptions {
  jwksUrl: string;
  ttlSeconds?: number;
  unknownKidRefetchSeconds?: number;
  retrySeconds?: number;
  log?: (message: string, fields: Record<string, unknown>) => void;
}

export class KeyStore {
  private keys = new Map<string, KeyObject>();
  private fetchedAt = -Infinity; // last successful fetch
  private attemptedAt = -Infinity; // last attempt, successful or not
  private failedAt = -Infinity;
  private inflight: Promise<void> | undefined;
  private readonly ttl: number;
  private readonly unknownKidRefetch: number;
  private readonly retry: number;

  constructor(private readonly options: KeyStoreOptions) {
    this.ttl = (options.ttlSeconds ?? 300) * 1000;
    this.unknownKidRefetch = (options.unknownKidRefetchSeconds ?? 10) * 1000;
    this.retry = (options.retrySeconds ?? 5) * 1000;
  }

  /** The key for `kid`, or undefined when the JWKS does not hold it. */
  async key(kid: string | undefined): Promise<KeyObject | undefined> {
    const now = performance.now();
    const failedRecently = now - this.failedAt < this.retry;
    if (now - this.fetchedAt > this.ttl && !failedRecently) {
      await this.refresh();
    } else if (
      kid &&
      !this.keys.has(kid) &&
      now - this.attemptedAt > this.unknownKidRefetch &&
      !failedRecently
    ) {
      await this.refresh();
    }
    return kid ? this.keys.get(kid) : undefined;
  }

  /** Whether the keys could be fetched at least once (else no token can be checked). */
  get available(): boolean {
    return this.fetchedAt > -Infinity;
  }

  private refresh(): Promise<void> {
    // One fetch at a time, whoever asks.
    this.inflight ??= this.fetch().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetch(): Promise<void> {
    this.attemptedAt = performance.now();
    try {
      const response = await fetch(this.options.jwksUrl, { signal: AbortSignal.timeout(5000) });
      if (!response.ok) throw new Error(`JWKS answered HTTP ${response.status}`);
      const body = (await response.json()) as { keys?: Array<Record<string, any>> };
      const keys = new Map<string, KeyObject>();
      for (const jwk of body.keys ?? []) {
        if (typeof jwk.kid !== 'string' || jwk.use === 'enc') continue;
        const known = this.keys.get(jwk.kid);
        keys.set(jwk.kid, known ?? createPublicKey({ key: jwk as any, format: 'jwk' }));
      }
      this.keys = keys; // a key gone from the JWKS is gone from here
      this.fetchedAt = performance.now();
    } catch (error) {
      this.failedAt = performance.now();
      this.options.log?.('JWKS fetch failed', { error: String(error), jwks_url: this.options.jwksUrl });
    }
  }
}

function headerValue(source: unknown, name: string): string | undefined {
  if (!source || typeof source !== 'object') return undefined;
  for (const [key, value] of Object.entries(source)) {
    if (key.toLowerCase() === name && typeof value === 'string') return value;
  }
  return undefined;
}

/** The raw `authorization` value of an HTTP request or a WebSocket subscription. */
export function authorizationOf(request: Request | undefined, context: any): string | undefined {
  return (
    headerValue(context?.connectionParams, 'authorization') ??
    headerValue(context?.params?.extensions?.headers, 'authorization') ??
    request?.headers.get('authorization') ??
    undefined
  );
}

const BEARER = /^bearer[ \t]+([^ \t]+)[ \t]*$/i;

/** A token lookup location for `useJWT`: the bearer token, or a 401 for a malformed header. */
export function bearerToken({ request, serverContext }: { request?: Request; serverContext?: any }) {
  const authorization = authorizationOf(request, serverContext);
  if (authorization === undefined || authorization.trim() === '') return undefined;
  const match = BEARER.exec(authorization.trim());
  if (!match) {
    throw routerError("Authorization must be 'Bearer <access token>'", Code.UNAUTHENTICATED, 401);
  }
  return { prefix: 'Bearer', token: match[1] };
}

/**
 * Runs before `useJWT`: refuses a token whose key id is unknown with a 401 (the JWT
 * plugin would answer HTTP 500), and puts the token where the WebSocket transport to the
 * subgraphs reads it (`context.headers.authorization`), wherever the client sent it.
 */
export function tokenGate(keys: KeyStore): GatewayPlugin {
  async function check(request: Request | undefined, context: any): Promise<void> {
    const found = bearerToken({ request, serverContext: context });
    if (!found) return;
    let kid: string | undefined;
    try {
      kid = (jsonwebtoken.decode(found.token, { complete: true }) as any)?.header?.kid;
    } catch {
      kid = undefined;
    }
    if (kid === undefined) throw routerError('Invalid access token', Code.UNAUTHENTICATED, 401);
    if (!(await keys.key(kid))) {
      if (!keys.available) {
        throw routerError('Sign-in is unavailable for a moment; retry', Code.SERVICE_UNAVAILABLE, 503);
      }
      throw routerError('Access token was signed by an unknown key', Code.UNAUTHENTICATED, 401);
    }
  }
  return {
    onRequestParse({ request, serverContext }) {
      return check(request, serverContext) as any;
    },
    async onContextBuilding({ context, extendContext }) {
      const ctx = context as any;
      if (!ctx.connectionParams && !ctx.params?.extensions?.headers) return;
      await check(undefined, ctx); // over WebSocket: no onRequestParse
      const authorization = authorizationOf(undefined, ctx);
      if (authorization) extendContext({ headers: { ...ctx.headers, authorization } } as any);
    },
  };
}

export const keyStore = new KeyStore({
  jwksUrl: env.JWKS_URL ?? 'http://127.0.0.1:4001/.well-known/jwks.json',
  ttlSeconds: Number(env.JWKS_TTL_SECONDS ?? 300),
  unknownKidRefetchSeconds: Number(env.JWKS_UNKNOWN_KID_REFETCH_SECONDS ?? 10),
  retrySeconds: Number(env.JWKS_RETRY_SECONDS ?? 5),
  log: (message, fields) =>
    console.log(JSON.stringify({ time: new Date().toISOString(), level: 'warn', service: 'router', message, ...fields })),
});

/** A signing key provider for `useJWT`: only ever asked for key ids `tokenGate` let through. */
export function signingKey(keys: KeyStore) {
  return async (kid?: string) => (await keys.key(kid)) as any;
}

// Verification allows this much clock skew between the users subgraph and the router.
export const CLOCK_TOLERANCE_SECONDS = Number(env.JWT_CLOCK_SKEW_SECONDS ?? 30);
