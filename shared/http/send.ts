import type { Readable } from "node:stream";
import type { TokenCredential } from "@azure/identity";
import type { Dispatcher } from "undici";
import { GateClosedError, type RequestGate } from "./gate.js";
import { classifyTokenFailure, TokenRequestError } from "./token.js";

/**
 * How every API client of the project sends a request to a tenant: the tenant's gate first, then the
 * attempt; a throttled answer holds the gate for every caller of the tenant (its Retry-After, or a
 * backoff), transient failures are retried with backoff, anything else is the caller's to handle.
 * The clients differ only in their error type and what one attempt is.
 */
/** What every API client of the project is built with; each adds its API's own. */
export interface ApiClientOptions {
  credentialFor: (tenantId: string) => TokenCredential;
  dispatcher: Dispatcher;
  timeoutMs: number;
  /**
   * The process's gate, shared with every other client: the quota is the tenant's, so a throttled
   * answer holds every request to that tenant, and each request waits while its tenant is held.
   */
  gate: RequestGate;
  /**
   * The longest a request waits at the gate (default: as long as it takes). Past it the request fails
   * as throttled with the time left as retryAfterMs; a queue worker re-enqueues instead of waiting.
   */
  maxGateWaitMs?: number;
  /** Throttled answers retried in place before giving up; a queue worker uses 0 and re-enqueues instead. */
  maxThrottleRetries: number;
  /** Transient failures (5xx, network, timeouts, token requests without an answer) retried in place. */
  maxTransientRetries: number;
  /** Waits between transient retries; throttling waits at the gate. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  userAgent?: string;
}

export interface Failure {
  errorClass: string;
  retryAfterMs?: number | undefined;
}

export interface SendPolicy {
  gate: RequestGate;
  /** The quota's key, e.g. `o365:{tenantId}` or `graph:{tenantId}`. */
  key: string;
  /** Longer waits at the gate are refused with the time left (a queue worker re-enqueues instead). */
  maxGateWaitMs?: number | undefined;
  maxThrottleRetries: number;
  maxTransientRetries: number;
  sleep: (ms: number) => Promise<void>;
  /** The wait before attempt n (from 1) when the server named none. */
  backoff: (attempt: number) => number;
}

export interface SendSteps<T, F extends Failure> {
  /** One attempt; it calls `pass` right before it sends (after the token, which is not in the tenant's quota). */
  attempt: (pass: () => Promise<void>) => Promise<T>;
  /** The client's error for anything an attempt threw (its own errors pass through). */
  toFailure: (error: unknown) => F;
  /** The client's throttled error for a caller the gate would have kept waiting too long; nothing was sent. */
  refused: (error: GateClosedError) => F;
  /** Every failed attempt, before it is retried or thrown (metrics). */
  onFailure?: (failure: F) => void;
}

/**
 * A client's send policy for one gate key, from its options: its gate, retries and waits, with jittered
 * backoff between attempts the server named no wait for.
 */
export function sendPolicy(options: Pick<ApiClientOptions, "gate" | "maxGateWaitMs" | "maxThrottleRetries" | "maxTransientRetries">, key: string, sleep: (ms: number) => Promise<void>, random: () => number): SendPolicy {
  return {
    gate: options.gate,
    key,
    maxGateWaitMs: options.maxGateWaitMs,
    maxThrottleRetries: options.maxThrottleRetries,
    maxTransientRetries: options.maxTransientRetries,
    sleep,
    backoff: (attempt) => jitteredBackoff(attempt, random),
  };
}

export async function sendThroughGate<T, F extends Failure>(policy: SendPolicy, steps: SendSteps<T, F>): Promise<T> {
  const pass = () => policy.gate.pass(policy.key, policy.maxGateWaitMs);
  let throttles = 0;
  let transients = 0;
  for (;;) {
    let failure: F;
    try {
      return await steps.attempt(pass);
    } catch (error) {
      // Refused at the gate: nothing was sent, so the caller neither waits nor retries here.
      if (error instanceof GateClosedError) throw steps.refused(error);
      failure = steps.toFailure(error);
    }
    steps.onFailure?.(failure);
    if (failure.errorClass === "throttled") {
      // The quota is the tenant's: hold every request to it, in every client of the process; a retry
      // then waits at the gate like the rest.
      throttles += 1;
      policy.gate.hold(policy.key, failure.retryAfterMs ?? policy.backoff(throttles));
      if (throttles <= policy.maxThrottleRetries) continue;
    }
    if (failure.errorClass === "transient" && transients < policy.maxTransientRetries) {
      transients += 1;
      await policy.sleep(policy.backoff(transients));
      continue;
    }
    throw failure;
  }
}

/** What a failed token request means, for any client: its class by what the identity service answered, and a message. */
export interface TokenFailure {
  errorClass: "configuration" | "transient";
  status: number | undefined;
  message: string;
}

/**
 * A token for scope from the tenant's credential (cached and refreshed by the SDK). Identity errors carry
 * AADSTS codes and messages, never the secret; a refusal is configuration, no answer or a 5xx is worth
 * a retry, and a credential that cannot say what happened is taken at its word, as configuration.
 */
export async function tokenFor(credential: TokenCredential, scope: string, tenantId: string, fail: (failure: TokenFailure, cause: unknown) => Error): Promise<string> {
  let token: { token: string } | null;
  try {
    token = await credential.getToken(scope);
  } catch (error) {
    const exchange = error instanceof TokenRequestError ? error.exchange : { sent: false, status: undefined };
    const text = error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error);
    const unanswered = "failure" in exchange && exchange.failure ? `no answer from the identity service (${exchange.failure}): ` : "";
    throw fail({ errorClass: classifyTokenFailure(exchange), status: exchange.status, message: `token for tenant ${tenantId}: ${unanswered}${text}` }, error);
  }
  if (!token) throw fail({ errorClass: "configuration", status: undefined, message: `token for tenant ${tenantId}: no access token was issued` }, undefined);
  return token.token;
}

const BASE_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 60_000;

/** Exponential backoff with full jitter: the wait before retry n (from 1), at most a minute. */
export function jitteredBackoff(attempt: number, random: () => number): number {
  return Math.round(random() * Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** attempt));
}

/** A response body as text, or (with a limit) its first bytes: error bodies are small and not worth more memory. */
export async function readBody(body: Readable, limit = Number.POSITIVE_INFINITY): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      break;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** `Retry-After` as seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, now: number): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
