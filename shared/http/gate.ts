/**
 * One gate per quota key: when a server answers "too many requests", every caller of that key waits,
 * not only the one that was told. API quotas are counted per tenant (and publisher), so requests
 * that keep going to a tenant inside its Retry-After only earn more throttling. Keys name the API
 * and the quota's owner, e.g. `o365:{tenantId}`; one gate per process is shared by all clients.
 *
 * A closed key stays closed until its time has passed; a later, longer hold extends it, a shorter
 * one never cuts it. A key may also have a request budget (N requests per sliding window, as APIs
 * with small published quotas have: Graph's message trace allows 100 per 5 minutes per tenant), so
 * that normal operation never meets the quota at all: a request past the budget waits for the oldest
 * request of the window to leave it, exactly as it waits for a hold.
 */
export interface GateClock {
  /** Monotonic milliseconds: waiting must not jump with the wall clock. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

const MONOTONIC: GateClock = {
  // Looked up on each call, not bound once, so fake timers installed by a test are seen.
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** A caller that may not wait that long is told how long it would have had to. */
export class GateClosedError extends Error {
  constructor(
    readonly key: string,
    readonly waitMs: number,
  ) {
    super(`${key} is held for another ${Math.ceil(waitMs)} ms`);
    this.name = "GateClosedError";
  }
}

/** At most `requests` passes in any `windowMs`. */
export interface RequestBudget {
  requests: number;
  windowMs: number;
}

export class RequestGate {
  private readonly closedUntil = new Map<string, number>();
  /** Per budgeted key, the times of the passes still inside its window, oldest first. */
  private readonly passes = new Map<string, number[]>();

  constructor(
    private readonly clock: GateClock = MONOTONIC,
    /** The budget of a key, if it has one (by API: every `graph:` key has Graph's). */
    private readonly budgetOf: (key: string) => RequestBudget | undefined = () => undefined,
  ) {}

  /**
   * Resolves once key is open. When it would open more than maxWaitMs from now, rejects with
   * GateClosedError instead, so a caller that must not hold its slot (a queue worker) can come back later.
   */
  async pass(key: string, maxWaitMs = Number.POSITIVE_INFINITY): Promise<void> {
    // Re-checked after every sleep: the hold may have been extended meanwhile, and timers may fire a little early.
    for (let waitMs = this.remaining(key); waitMs > 0; waitMs = this.remaining(key)) {
      if (waitMs > maxWaitMs) throw new GateClosedError(key, waitMs);
      await this.clock.sleep(waitMs);
    }
    // Counted in the same turn as the check, so two callers can never both take the budget's last place.
    if (this.budgetOf(key)) {
      const passes = this.passes.get(key);
      if (passes) passes.push(this.clock.now());
      else this.passes.set(key, [this.clock.now()]);
    }
  }

  /** Closes key for ms from now, unless it is already closed for longer. */
  hold(key: string, ms: number): void {
    if (!(ms > 0)) return;
    const until = this.clock.now() + ms;
    if (until > (this.closedUntil.get(key) ?? Number.NEGATIVE_INFINITY)) this.closedUntil.set(key, until);
  }

  /** How long key stays closed, by a hold or by its budget; 0 when it is open. */
  remaining(key: string): number {
    return Math.max(this.heldFor(key), this.overBudgetFor(key));
  }

  private heldFor(key: string): number {
    const until = this.closedUntil.get(key);
    if (until === undefined) return 0;
    const left = until - this.clock.now();
    if (left > 0) return left;
    this.closedUntil.delete(key); // keys of tenants that were throttled once do not pile up
    return 0;
  }

  private overBudgetFor(key: string): number {
    const budget = this.budgetOf(key);
    const passes = this.passes.get(key);
    if (!budget || !passes) return 0;
    const now = this.clock.now();
    let expired = 0;
    while (expired < passes.length && (passes[expired] as number) <= now - budget.windowMs) expired += 1;
    passes.splice(0, expired);
    if (passes.length === 0) {
      this.passes.delete(key);
      return 0;
    }
    return passes.length < budget.requests ? 0 : (passes[passes.length - budget.requests] as number) + budget.windowMs - now;
  }
}
