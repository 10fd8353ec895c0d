import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import type { z } from "zod";
import type { EcsDocument } from "../ecs/document.js";
import type { GeoLookup } from "../ecs/geoip.js";
import type { RequestBudget, RequestGate } from "../http/gate.js";
import type { ClaimRequest } from "../state/claims.js";
import type { Logger } from "../util/log.js";

/**
 * What a feed tells the generic pipeline. The pipeline (lister, worker, cursors, ledger, claims,
 * sinks, telemetry, status, local host, CLI) knows feeds only through this: a feed is one folder
 * under shared/sources/ with a `Source`, and one line in the registry.
 */

/** One stream of one tenant: what a cursor row and a status row are kept for. */
export interface StreamRef {
  /** The tenant as the feed's API names it (an Entra tenant GUID, a Sophos tenant id). */
  tenantId: string;
  /** The stream within the tenant, unique across feeds (`Audit.Exchange`, `MessageTrace`). */
  stream: string;
}

/** A unit of work as the pipeline sees it: ledger row, output name, lag. */
export interface WorkRef extends StreamRef {
  /** Stable within the stream: the ledger's row key and the output file's name. */
  workId: string;
  /** ISO time the work's records belong to (content created, window start): the output's hour folder. */
  created: string;
  /** ISO time after which the work can no longer be fetched (content expiration); none for time windows. */
  expires?: string | undefined;
}

/** A work item: the pipeline's reference plus what only its feed reads (validated by the feed's schema). */
export interface Work<Item> extends WorkRef {
  item: Item;
}

/** A work item's next state, carried by its message back through the queue. */
export interface NextStep<Item> {
  kind: "next";
  item: Item;
  delayMs: number;
  /** What the item waits for, for the log and the ledger (`run abc123 running, poll 3`). */
  step: string;
}

/**
 * A work item's records as they arrive, a batch at a time: a page, or what one piece of a content
 * stream completed. Handed on one by one, each record cost an async iterator's promises: 200,000
 * message-trace rows from pages in memory took 2.72–2.89 s through the worker (output dropped), against
 * 2.58–2.68 s a page at a time; a 60 MB content blob about 1–2% (within this machine's noise).
 */
export type RecordBatches = AsyncIterable<readonly unknown[]>;

export function isNextStep<Item>(fetched: RecordBatches | NextStep<Item>): fetched is NextStep<Item> {
  return (fetched as NextStep<Item>).kind === "next";
}

export interface TimeWindow {
  start: number;
  end: number;
}

/** The windows a stream lists from its cursor; the cursor moves to each window's end once its work is queued. */
export interface ListingPlan {
  windows: TimeWindow[];
  /** Set when the cursor is older than the API lets a listing reach: records in the gap are lost at the source. */
  unreachableBeforeMs?: number | undefined;
}

/**
 * What an error means to the pipeline. `throttled` goes back on the queue after `retryAfterMs` (or a
 * backoff); `expired` and `notFound` are final; `badWindow` makes the lister plan again from now, once;
 * `configuration` is reported once per tenant with its fix and skips the tenant's other streams of
 * the feed; `invalidContent` keeps the raw bytes under failed/; anything else is retried by the queue.
 */
export type FailureClass = "throttled" | "badWindow" | "configuration" | "expired" | "notFound" | "invalidContent" | "transient" | "fatal";

export interface Failure {
  errorClass: FailureClass;
  /** What an operator should change, for configuration errors above all. */
  fix: string;
  /** The API's error code or status, so that one cause is reported once per tenant. */
  code?: string | undefined;
  retryAfterMs?: number | undefined;
  /** False when nothing reached the API (refused at the tenant's gate): the item's own backoff does not grow. */
  sent: boolean;
}

/** A request to a feed's API, for the request and throttling metrics. */
export interface RequestEvent {
  tenantId: string;
  stream?: string | undefined;
  operation: string;
  throttled: boolean;
}

/** What the runtime gives every feed when it opens it: shared, per process. */
export interface SourceDeps {
  dispatcher: Dispatcher;
  /** One per process: a tenant throttled for the lister is throttled for the worker, in every feed's client. */
  gate: RequestGate;
  requestTimeoutMs: number;
  /** CA of a local simulator; never set on Azure. */
  trustedCa?: string | undefined;
  onRequest: (event: RequestEvent) => void;
  sleep?: ((ms: number) => Promise<void>) | undefined;
  now: () => number;
  /** GeoIP and ASN lookups, when configured. */
  geoip?: GeoLookup | undefined;
  /** data_stream.namespace of every document. */
  namespace: string;
  userAgent: string;
}

/** A feed opened for one process: its clients built, its settings read. */
export interface SourceSession<Item> {
  /** The (tenant, stream) pairs this feed collects; `log` hears of tenants it finds but will not collect. */
  streams(log?: Logger): StreamRef[] | Promise<StreamRef[]>;
  /**
   * Checks, before the stream is listed, that the API will serve its tenant at all, for a feed whose
   * listing sends it nothing: a refusal (no consent) is then reported once by the lister with its fix,
   * and no work is queued that could only fail.
   */
  verify?(ref: StreamRef, now: number): Promise<void>;
  /** The windows to list from the cursor (undefined: never listed). */
  plan(ref: StreamRef, cursorMs: number | undefined, now: number): ListingPlan;
  /** The work of one window, page by page. */
  list(ref: StreamRef, window: TimeWindow, log: Logger): AsyncIterable<Work<Item>[]>;
  /** A message's item checked against the settings before any request is made for it (a forged URL); a reason when refused. */
  refuse(work: Work<Item>): string | undefined;
  /**
   * The records of one work item, a batch at a time as they arrive; or, for work that takes an API
   * minutes (a query run to submit, then poll), the item's next step, which goes back on the queue
   * after `delayMs` so that no instance waits on it. `log` hears what an operator should know of the
   * API's answers.
   */
  fetch(work: Work<Item>, log?: Logger): Promise<RecordBatches | NextStep<Item>>;
  /** The raw bytes of a work item whose content could not be parsed, kept for replay; none when the feed cannot fetch them again. */
  raw?(work: Work<Item>): Promise<Readable>;
  /** The record's claim (its key and hour) for de-duplication; none: written unclaimed. */
  recordKey(record: unknown, now: number): ClaimRequest | undefined;
  /**
   * One ECS document as an NDJSON line; never throws (a record it cannot map is a pipeline_error document).
   * `text`, when the fetch kept it (a ParsedRecord), is the JSON the record was parsed from: the record is
   * then the feed's to change (the worker has read its key already), and the text is its original.
   */
  toLine(record: unknown, work: WorkRef, text?: string): { line: string; pipelineError: boolean };
  /** The feed's reading of an error its client threw; undefined for errors it does not know (retried by the queue). */
  failure(error: unknown): Failure | undefined;
}

/** A settings problem, as the settings schema reports it. */
export interface SettingsIssue {
  setting: string;
  message: string;
}

/** What every feed's offline mapping is given beside its own options: the `normalize` options common to all feeds. */
export interface OfflineContext {
  /** Keep each raw record as event.original (Elastic's preserve_original_event). */
  preserveOriginal: boolean;
  /** Ingest time, for records whose own time cannot be read. */
  now: () => number;
  /** GeoIP and ASN lookups, when databases were given. */
  geoip?: GeoLookup | undefined;
}

/** One option of a feed's own for `normalize`, offered as `--{name} {argument}`. */
export interface OfflineOption<Value> {
  /** Its argument as the help shows it (`<pairs>`). */
  argument: string;
  description: string;
  /** The option's text as its value; throws, saying what was expected, on text it cannot take. */
  parse(text: string): Value;
}

/** A feed's mapping for one `normalize` run. */
export interface OfflineMapper {
  /** The records of one JSON value of an export (a saved page unwrapped, none for an empty one); absent: each value is one record. */
  records?(value: unknown): unknown[];
  /** One record as one ECS NDJSON line; never throws (a record it cannot map is a pipeline_error document). */
  line(record: unknown): string;
  /** The pipeline_error document, in the feed's data stream, for text of the export that is not JSON. */
  pipelineError(text: string, message: string): EcsDocument;
}

/** What `audit-intake normalize` needs to map records exported from a feed (saved API pages, files) with no API at all. */
export interface Offline<Values extends Record<string, unknown> = Record<string, unknown>> {
  /** What such an export holds, for the help of `--source`. */
  input: string;
  /** Other names `--source` takes for the feed: those existing scripts know it by. */
  aliases?: readonly string[];
  /**
   * Its own options, by long flag without the dashes (`tenant-names`): no two feeds may declare one, and
   * `normalize` refuses an option of a feed other than the one it reads (it would be ignored without a word).
   */
  options: { readonly [Name in keyof Values]: OfflineOption<Values[Name]> };
  /** Its mapping for one run, from the values of its options given (one not given is absent). */
  mapper(values: Partial<Values>, context: OfflineContext): OfflineMapper;
}

export interface Source<Config = unknown, Item = unknown> {
  /** The feed's name: the queue envelope's `source`, the `source` dimension of metrics and status. */
  name: string;
  /** Elastic's data-stream dataset for its documents (`o365.audit`): the output's top folder. */
  dataset: string;
  /** The prefix of its own settings (`O365_`): an unknown name under it is a typo, refused with the nearest name. */
  settingsPrefix: string;
  /** Settings of its slice whose values no message, log or status may show. */
  secretSettings: readonly string[];
  /** Its slice of the one settings schema (the names it reads, with their checks and defaults). */
  settings: z.ZodRawShape;
  /** The setting holding its listing schedule (NCRONTAB), which its timer reads as `%NAME%`. */
  scheduleSetting: string;
  /**
   * Rules between settings, on the raw values (zod skips object refinements once a field fails);
   * `label` names a setting as the message should (the local host may have supplied it).
   */
  problems?(env: Readonly<Record<string, string | undefined>>, label: (name: string) => string): SettingsIssue[];
  /** Its settings from the parsed values of the whole schema. */
  configure(values: Readonly<Record<string, unknown>>): Config;
  enabled(config: Config): boolean;
  schedule(config: Config): string;
  /** The request budget of one of its gate keys, when its API has a quota to stay under (Graph: 100 per 5 min). */
  requestBudget?(key: string): RequestBudget | undefined;
  /**
   * The item a message re-driven from the poison queue starts again from, when its own state is spent (a
   * Sophos window whose runs all failed starts over at submit); absent: the item as it was.
   */
  redriven?(item: Item): Item;
  /** The schema of its queue message's item, versioned with the envelope. */
  item: z.ZodType<Item>;
  open(config: Config, deps: SourceDeps): Promise<SourceSession<Item>>;
  /** How `audit-intake normalize --source {name}` maps the feed's exported records; none: `normalize` does not read this feed. */
  offline?: Offline;
}
