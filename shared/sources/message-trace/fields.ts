/**
 * The message-trace mapping as data. Two shapes of one record come in: legacy Reporting Web Service
 * rows (PascalCase, `/Date(ms)/` or ISO dates) and Microsoft Graph `exchangeMessageTrace` items
 * (camelCase, camelCase enum values). Graph items are renamed to the legacy names first, because the
 * legacy names are the ones Elastic's integration indexes under `microsoft.online_message_trace.*`
 * (its fields.yml), so its dashboards and queries read both shapes alike.
 *
 * Sources: Elastic's pipeline, elastic/integrations
 * `packages/microsoft_exchange_online_message_trace/data_stream/log/elasticsearch/ingest_pipeline/default.yml`
 * (the version whose pipeline test is in the corpus, ECS 8.11.0) and its `fields/fields.yml`; Microsoft
 * Graph v1.0 `exchangeMessageTrace` resource type (properties and `exchangeMessageTraceStatus`).
 */

/** Graph property → the Reporting Web Service column of the same meaning. */
export const GRAPH_FIELDS: Readonly<Record<string, string>> = {
  // Graph's `id` is "the unique identifier for the message trace", shared by every recipient row of one
  // message, as the legacy MessageTraceId is.
  id: "MessageTraceId",
  messageId: "MessageId",
  senderAddress: "SenderAddress",
  recipientAddress: "RecipientAddress",
  subject: "Subject",
  status: "Status",
  receivedDateTime: "Received",
  size: "Size",
  fromIP: "FromIP",
  toIP: "ToIP",
};

/**
 * Graph's `exchangeMessageTraceStatus` members → the legacy Status spelling, so one keyword field holds
 * one vocabulary. `recalled` comes only with `Prefer: include-unknown-enum-members`; an unlisted value is
 * kept as received.
 */
export const GRAPH_STATUSES: Readonly<Record<string, string>> = {
  gettingStatus: "GettingStatus",
  pending: "Pending",
  failed: "Failed",
  delivered: "Delivered",
  expanded: "Expanded",
  quarantined: "Quarantined",
  filteredAsSpam: "FilteredAsSpam",
  recalled: "Recalled",
  unknownFutureValue: "UnknownFutureValue",
};

/**
 * Status (lower-cased) → event.outcome. Elastic sets success for Delivered and failure for Failed
 * (equalsIgnoreCase) and `unknown` for everything else, including statuses still moving
 * (GettingStatus, Pending) and final ones that are neither (Expanded, Quarantined, FilteredAsSpam).
 */
export const OUTCOMES: Readonly<Record<string, "success" | "failure">> = {
  delivered: "success",
  failed: "failure",
};
export const DEFAULT_OUTCOME = "unknown";

/** The columns' JSON types. A value of another type is a problem of the row, and is not indexed. */
export const FIELD_TYPES: Readonly<Record<string, "string" | "number">> = {
  MessageTraceId: "string",
  MessageId: "string",
  Organization: "string",
  SenderAddress: "string",
  RecipientAddress: "string",
  Subject: "string",
  Status: "string",
  Received: "string",
  StartDate: "string",
  EndDate: "string",
  FromIP: "string",
  ToIP: "string",
  Size: "number",
  Index: "number",
};

/** Columns Elastic's template types `date_nanos`: `/Date(ms)/` is rewritten as ISO 8601 there, or the index would refuse it. */
export const DATE_FIELDS = ["Received", "StartDate", "EndDate"] as const;

/** Plain copies (Elastic's `set copy_from` with ignore_empty_value). Received is copied as written: Elastic keeps the raw text. */
export const COPIES: readonly [from: string, to: string][] = [
  ["MessageTraceId", "email.local_id"],
  ["Size", "email.attachments.file.size"],
  ["Received", "email.delivery_timestamp"],
  ["Subject", "email.subject"],
  ["MessageId", "email.message_id"],
];

/** Dates parsed into ECS dates (Elastic's `date` processors). */
export const DATES: readonly [from: string, to: string][] = [
  ["Received", "@timestamp"],
  ["StartDate", "event.start"],
  ["EndDate", "event.end"],
];

/** The two ends of a message: the address that names the user, the list it joins, the IP column. */
export const ENDS = [
  { side: "source", address: "SenderAddress", list: "email.from.address", ip: "FromIP" },
  { side: "destination", address: "RecipientAddress", list: "email.to.address", ip: "ToIP" },
] as const;

export type Side = (typeof ENDS)[number]["side"];

/** email.direction from whether the sender's and the recipient's domains are local (Elastic's painless script). */
export const DIRECTIONS: Readonly<Record<`${boolean}>${boolean}`, string>> = {
  "true>true": "internal",
  "true>false": "outbound",
  "false>true": "inbound",
  "false>false": "external",
};

/**
 * Whose identity becomes user.*, by direction, in Elastic's order: the recipient of inbound mail, the
 * sender of outbound mail, both (recipient first) of internal mail, nobody of external mail.
 */
export const USER_SIDES: Readonly<Record<string, readonly Side[]>> = {
  inbound: ["destination"],
  outbound: ["source"],
  internal: ["destination", "source"],
  external: [],
};
