// Every error the router itself produces carries an `extensions.code` a client can branch
// on (the full list, with the subgraphs' codes, is in docs/architecture.md). Errors from
// subgraphs keep theirs. Hive Gateway and the plugins it runs leave some errors without
// a code (variable coercion, the JWT plugin's refusals, graphql-armor's limits), or with
// a wrong one; `errorCodes` fills them in, once, just before the response is sent.
import { GraphQLError } from 'graphql';
import type { GatewayPlugin } from '@graphql-hive/gateway';

export const Code = {
  // The client's fault: fix the request.
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  GRAPHQL_PARSE_FAILED: 'GRAPHQL_PARSE_FAILED',
  GRAPHQL_VALIDATION_FAILED: 'GRAPHQL_VALIDATION_FAILED',
  // Who is calling: sign in (again) or refresh the access token.
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  // Limits of the public edge (docs/architecture.md, "Limits").
  MAX_DEPTH_EXCEEDED: 'MAX_DEPTH_EXCEEDED',
  MAX_ALIASES_EXCEEDED: 'MAX_ALIASES_EXCEEDED',
  MAX_TOKENS_EXCEEDED: 'MAX_TOKENS_EXCEEDED',
  COST_ESTIMATED_TOO_EXPENSIVE: 'COST_ESTIMATED_TOO_EXPENSIVE',
  RATE_LIMITED: 'RATE_LIMITED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  // A POST without Content-Length (chunked): its size cannot be checked before reading it.
  LENGTH_REQUIRED: 'LENGTH_REQUIRED',
  // A request a browser could have been tricked into sending (no CSRF header).
  FORBIDDEN: 'FORBIDDEN',
  // Ours: retry later.
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type Code = (typeof Code)[keyof typeof Code];

/** An error the router answers with, its code and HTTP status set. */
export function routerError(
  message: string,
  code: Code,
  status?: number,
  extensions: Record<string, unknown> = {},
): GraphQLError {
  return new GraphQLError(message, {
    extensions: { code, ...extensions, ...(status ? { http: { status } } : {}) },
  });
}

/** Gives a code to an error of graphql-armor's limits (their `onReject` callback). */
export function coded(code: Code) {
  return (_context: unknown, error: GraphQLError) => {
    (error.extensions as Record<string, unknown>).code = code;
  };
}

// The JWT plugin's own refusals, which carry only an HTTP status.
const jwtMessages = new Set([
  'Unauthenticated',
  'Invalid authentication token provided',
  'Invalid JWT authentication token prefix.',
  'Authentication header was set, but token is missing.',
]);

/** The code of an error the router produced without one. */
export function codeOf(error: { message: string; path?: unknown; extensions?: any }): Code {
  const message = error.message;
  const status = error.extensions?.http?.status;
  if (jwtMessages.has(message) || status === 401) return Code.UNAUTHENTICATED;
  // Variables missing, of the wrong type, or with a value their type refuses.
  if (/^Variable "\$[^"]+" (got invalid value|of required type|of non-null type)/.test(message)) {
    return Code.BAD_USER_INPUT;
  }
  if (message.startsWith('Syntax Error')) return Code.GRAPHQL_PARSE_FAILED;
  if (status === 403) return Code.FORBIDDEN; // CSRF prevention
  if (status === 400) return Code.BAD_USER_INPUT;
  return Code.INTERNAL_SERVER_ERROR;
}

function withCode(error: any): any {
  const code = error.extensions?.code;
  // Before this plugin, the router called every coded-less 400 UNAUTHENTICATED; nothing
  // else produces a wrong code, so only missing ones are filled in.
  if (typeof code === 'string' && code) return error;
  const json = typeof error.toJSON === 'function' ? error.toJSON() : { ...error };
  const given = codeOf(error);
  // Hive Router's planner reports variable errors without an HTTP status (a 500 follows):
  // they are the client's, 400 as with the JavaScript planner.
  const http = json.extensions?.http ?? (given === Code.BAD_USER_INPUT ? { status: 400 } : undefined);
  return { ...json, extensions: { ...json.extensions, ...(http ? { http } : {}), code: given } };
}

/**
 * Refuses a request body larger than `maxBytes` before it is read (HTTP 413), and a POST
 * whose size is not announced (HTTP 411): Hive Gateway has no body size limit of its own.
 */
export function bodyLimit(maxBytes: number): GatewayPlugin {
  const refuse = (status: number, code: Code, message: string) =>
    new Response(JSON.stringify({ errors: [{ message, extensions: { code } }] }), {
      status,
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
  return {
    onRequest({ request, endResponse }) {
      if (request.method !== 'POST') return;
      const length = request.headers.get('content-length');
      if (length === null) {
        endResponse(refuse(411, Code.LENGTH_REQUIRED, 'A request body needs a Content-Length'));
      } else if (Number(length) > maxBytes) {
        endResponse(refuse(413, Code.PAYLOAD_TOO_LARGE, `Request bodies are limited to ${maxBytes} bytes`));
      }
    },
  };
}

export const errorCodes: GatewayPlugin = {
  onResultProcess({ result, setResult }) {
    if (!result || Array.isArray(result) || Symbol.asyncIterator in result) return;
    if (!('errors' in result) || !result.errors?.length) return;
    const errors = result.errors.map(withCode);
    // An error during execution leaves `data: null` (the spec; Hive Router's planner
    // drops the key), so clients tell it from a request refused before execution.
    const executed = 'data' in result || errors.some((error: any) => error.path);
    setResult({ ...result, ...(executed ? { data: result.data ?? null } : {}), errors });
  },
};
