import type { IncomingMessage, ServerResponse } from "node:http";

/** What every simulated API answers with: JSON bodies, request bodies read whole, per-tenant quotas. */

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

export async function readRequestBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * An API's quota per key (a tenant): requests accepted in a running window. What is past it waits for the
 * oldest accepted request to leave the window; the route answers that wait as its 429's Retry-After.
 */
export class SlidingQuota {
  private readonly accepted = new Map<string, number[]>();

  constructor(
    private readonly quota: { requests: number; windowMs: number },
    /** Monotonic, as the client's gate is, so both agree on the window. */
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** How long until key may be served; 0 when it may be now. */
  waitMs(key: string): number {
    const t = this.clock();
    const times = (this.accepted.get(key) ?? []).filter((at) => at > t - this.quota.windowMs);
    this.accepted.set(key, times);
    return times.length < this.quota.requests ? 0 : (times[times.length - this.quota.requests] as number) + this.quota.windowMs - t;
  }

  /** Counts a request of key as served. */
  accept(key: string): void {
    const times = this.accepted.get(key);
    if (times) times.push(this.clock());
    else this.accepted.set(key, [this.clock()]);
  }
}
