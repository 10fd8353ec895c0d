import { inspect } from "node:util";

/**
 * What every feed's document shares: the ECS version, the size check of a document's line, and the
 * pipeline_error document for input a mapping cannot take (the original kept, the reason said).
 */
export type EcsDocument = Record<string, unknown>;

export const ECS_VERSION = "8.11.0";

/** Elastic's tag on documents that keep their original as event.original. */
export const PRESERVE_ORIGINAL_TAG = "preserve_original_event";

/** What a pipeline_error document needs: ingest time, and the input's text as received when known. */
export interface PipelineErrorContext {
  now: () => number;
  originalText?: string | undefined;
}

/**
 * The largest document written as mapped. Audit records are a few kilobytes; one that maps to
 * more than this is carrying something pathological, and is written as a pipeline_error instead.
 */
export const MAX_DOCUMENT_CHARS = 1_000_000;

/**
 * A feed's document as one NDJSON line, size-checked: every feed writes its lines through here, with its
 * own mapping and its own pipeline_error document for a record whose document would be too large.
 * `text`, when given, is the JSON the record was parsed from, passed on to both (see Source.toLine).
 */
export function documentLine<C>(
  record: unknown,
  context: C,
  map: (record: unknown, context: C, text?: string) => EcsDocument,
  pipelineErrorOf: (record: unknown, message: string, context: C, text?: string) => EcsDocument,
  finish: (doc: EcsDocument) => EcsDocument = (doc) => doc,
  text?: string,
): { line: string; pipelineError: boolean } {
  const doc = finish(map(record, context, text));
  let line = JSON.stringify(doc);
  let pipelineError = (doc.event as { kind?: string }).kind === "pipeline_error";
  if (line.length > MAX_DOCUMENT_CHARS && !pipelineError) {
    line = JSON.stringify(finish(pipelineErrorOf(record, `document is ${line.length} characters, more than the limit of ${MAX_DOCUMENT_CHARS}: a field is too large to index`, context, text)));
    pipelineError = true;
  }
  return { line: `${line}\n`, pipelineError };
}

/**
 * Stamps a document with where it goes, as Elastic Agent does: `event.dataset` and
 * `data_stream.{type,dataset,namespace}`, which route it to `logs-{dataset}-{namespace}`.
 */
export function withDataStream(dataset: string, namespace: string): (doc: EcsDocument) => EcsDocument {
  const dataStream = Object.freeze({ type: "logs", dataset, namespace });
  return (doc) => {
    // Every mapping builds a fresh event object per document, so it is extended in place.
    const event = doc.event as Record<string, unknown> | undefined;
    if (event) event.dataset = dataset;
    else doc.event = { dataset };
    doc.data_stream = dataStream;
    return doc;
  };
}

/**
 * The document for input that cannot be mapped: the original kept, the reason in error.message. It
 * is dated by the input's own time when the feed could read one (`own.time`), else by the time of
 * ingestion, which event.ingested then repeats to say so.
 */
export function pipelineErrorDocument(record: unknown, message: string, context: PipelineErrorContext, own: { time?: string | undefined; id?: string | undefined } = {}): EcsDocument {
  const ingested = own.time === undefined ? new Date(context.now()).toISOString() : undefined;
  return {
    "@timestamp": own.time ?? ingested,
    ecs: { version: ECS_VERSION },
    event: {
      kind: "pipeline_error",
      ...(own.id !== undefined ? { id: own.id } : {}),
      original: context.originalText ?? describeOriginal(record),
      ...(ingested !== undefined ? { ingested } : {}),
    },
    error: { message },
    tags: [PRESERVE_ORIGINAL_TAG],
  };
}

/** The input as text, whatever it is: JSON where possible (BigInts as digits), else Node's own rendering. */
function describeOriginal(record: unknown): string {
  if (typeof record === "string") return record;
  try {
    const json = JSON.stringify(record, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value));
    if (json !== undefined) return json;
  } catch {
    // cyclic or otherwise unserializable: fall through
  }
  return inspect(record, { depth: 8, breakLength: Infinity });
}
