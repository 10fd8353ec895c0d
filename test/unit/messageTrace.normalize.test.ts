import { beforeAll, describe, expect, it } from "vitest";
import { type GeoLookup, openGeoIp } from "../../shared/ecs/geoip.js";
import {
  type MessageTraceContext,
  messageTraceRows,
  normalizeMessageTrace,
  normalizeMessageTraceToLine,
} from "../../shared/sources/message-trace/normalize.js";

/**
 * Rows written for these tests from Microsoft's documented schemas: Graph v1.0 `exchangeMessageTrace`
 * (fromIP, id, messageId, receivedDateTime, recipientAddress, senderAddress, size, status, subject,
 * toIP; status in camelCase) and the Reporting Web Service MessageTrace report (PascalCase columns,
 * `/Date(ms)/` dates in verbose OData, `{"d":{"results":[…]}}` pages).
 */
/** A written document, read by path in assertions: any, so that each assertion need not restate its shape. */
type Doc = Record<string, any>;

const context: MessageTraceContext = { localDomains: ["contoso.com"], preserveOriginal: false, now: () => Date.UTC(2026, 0, 2) };

function normalize(row: unknown, options: Partial<MessageTraceContext> = {}): Doc {
  // Compared as written: the serialized NDJSON line.
  return JSON.parse(JSON.stringify(normalizeMessageTrace(row, { ...context, ...options }))) as Doc;
}

/** One message from fabrikam.com to a contoso.com mailbox, as Graph lists it. */
const graphRow = {
  id: "4c2b3e7a-51f0-4d8e-9a41-08de2f1c0a11",
  messageId: "<CAF1234@mail.fabrikam.com>",
  senderAddress: "alerts@mail.fabrikam.com",
  recipientAddress: "megan@contoso.com",
  subject: "Quarterly report",
  status: "delivered",
  receivedDateTime: "2026-03-04T05:06:07.1234567Z",
  size: 48213,
  fromIP: "89.160.20.112",
  toIP: "",
};

/** The same message as a legacy Reporting Web Service row. */
const legacyRow = {
  __metadata: { id: "https://reports.office365.com/ecp/ReportingWebService/Reporting.svc/MessageTrace(0)", type: "TenantReporting.MessageTrace" },
  Organization: "contoso.onmicrosoft.com",
  MessageId: "<CAF1234@mail.fabrikam.com>",
  Received: `/Date(${Date.parse("2026-03-04T05:06:07.123Z")})/`,
  SenderAddress: "alerts@mail.fabrikam.com",
  RecipientAddress: "megan@contoso.com",
  Subject: "Quarterly report",
  Status: "Delivered",
  ToIP: null,
  FromIP: "89.160.20.112",
  Size: 48213,
  MessageTraceId: "4c2b3e7a-51f0-4d8e-9a41-08de2f1c0a11",
  StartDate: `/Date(${Date.parse("2026-03-03T00:00:00Z")})/`,
  EndDate: `/Date(${Date.parse("2026-03-05T00:00:00Z")})/`,
  Index: 0,
};

describe("normalizeMessageTrace: a Graph exchangeMessageTrace item", () => {
  it("writes Elastic's fields: time, outcome, e-mail, both ends, data stream", () => {
    const doc = normalize(graphRow);
    expect(doc["@timestamp"]).toBe("2026-03-04T05:06:07.123Z");
    expect(doc.ecs).toEqual({ version: "8.11.0" });
    expect(doc.event).toEqual({ dataset: "microsoft_exchange_online_message_trace.log", outcome: "success" });
    expect(doc.data_stream).toEqual({ type: "logs", dataset: "microsoft_exchange_online_message_trace.log", namespace: "default" });
    expect(doc.email).toEqual({
      local_id: "4c2b3e7a-51f0-4d8e-9a41-08de2f1c0a11",
      message_id: "<CAF1234@mail.fabrikam.com>",
      subject: "Quarterly report",
      attachments: { file: { size: 48213 } },
      delivery_timestamp: "2026-03-04T05:06:07.1234567Z",
      from: { address: ["alerts@mail.fabrikam.com"] },
      to: { address: ["megan@contoso.com"] },
      direction: "inbound",
    });
    expect(doc.source).toMatchObject({
      ip: "89.160.20.112",
      domain: "mail.fabrikam.com",
      registered_domain: "fabrikam.com",
      subdomain: "mail",
      top_level_domain: "com",
      user: { id: "alerts@mail.fabrikam.com", email: "alerts@mail.fabrikam.com", name: "alerts", domain: "mail.fabrikam.com" },
    });
    expect(doc.destination).toEqual({
      domain: "contoso.com",
      registered_domain: "contoso.com",
      top_level_domain: "com",
      user: { id: "megan@contoso.com", email: "megan@contoso.com", name: "megan", domain: "contoso.com" },
    });
    expect(doc.related).toEqual({ user: ["megan@contoso.com", "alerts@mail.fabrikam.com", "megan", "alerts"] });
    expect(doc.user).toEqual({ email: "megan@contoso.com", id: "megan@contoso.com", name: "megan" });
  });

  it("keeps the item under Elastic's legacy column names, with the status in the legacy spelling and the blank toIP dropped", () => {
    expect(normalize(graphRow).microsoft.online_message_trace).toEqual({
      MessageTraceId: "4c2b3e7a-51f0-4d8e-9a41-08de2f1c0a11",
      MessageId: "<CAF1234@mail.fabrikam.com>",
      SenderAddress: "alerts@mail.fabrikam.com",
      RecipientAddress: "megan@contoso.com",
      Subject: "Quarterly report",
      Status: "Delivered",
      Received: "2026-03-04T05:06:07.1234567Z",
      Size: 48213,
      FromIP: "89.160.20.112",
    });
  });

  it("gives the same ECS fields as the legacy row of the same message", () => {
    const ecs = (doc: Doc) => {
      const { microsoft: _vendor, event, email, ...rest } = doc;
      // The legacy row carries a report window (event.start/end) Graph has not; its time has milliseconds only.
      const { start: _start, end: _end, ...eventRest } = event as Doc;
      const { delivery_timestamp: _delivery, ...emailRest } = email as Doc;
      return { ...rest, event: eventRest, email: emailRest };
    };
    const [legacy] = messageTraceRows({ d: { results: [legacyRow] } });
    expect(ecs(normalize(legacy))).toEqual(ecs(normalize(graphRow)));
  });
});

describe("normalizeMessageTrace: a legacy Reporting Web Service row", () => {
  it("reads /Date(ms)/ times as ISO 8601, in ECS and under microsoft.online_message_trace", () => {
    const doc = normalize(legacyRow);
    expect(doc["@timestamp"]).toBe("2026-03-04T05:06:07.123Z");
    expect(doc.event).toMatchObject({ start: "2026-03-03T00:00:00.000Z", end: "2026-03-05T00:00:00.000Z" });
    expect(doc.email.delivery_timestamp).toBe("2026-03-04T05:06:07.123Z");
    expect(doc.microsoft.online_message_trace).toMatchObject({ Received: "2026-03-04T05:06:07.123Z", StartDate: "2026-03-03T00:00:00.000Z", Organization: "contoso.onmicrosoft.com", Index: 0 });
    expect(doc.microsoft.online_message_trace).not.toHaveProperty("ToIP");
  });

  it("takes a /Date(ms+hhmm)/ offset as information: the milliseconds are UTC", () => {
    expect(normalize({ ...legacyRow, Received: "/Date(1700000000000+0120)/" })["@timestamp"]).toBe("2023-11-14T22:13:20.000Z");
  });

  it("keeps ISO text as written in email.delivery_timestamp, reading a time without a zone as UTC", () => {
    const doc = normalize({ ...legacyRow, Received: "2022-09-05T18:10:13.4907658" });
    expect(doc["@timestamp"]).toBe("2022-09-05T18:10:13.490Z");
    expect(doc.email.delivery_timestamp).toBe("2022-09-05T18:10:13.4907658");
  });
});

describe("messageTraceRows", () => {
  it("unwraps the verbose-OData page, the JSON-light or Graph page, a bare array, or takes one row as it is", () => {
    expect(messageTraceRows({ d: { results: [legacyRow], __next: "https://reports.office365.com/next" } })).toEqual([legacyRow]);
    expect(messageTraceRows({ "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#admin/exchange/tracing/messageTraces", value: [graphRow, graphRow] })).toEqual([graphRow, graphRow]);
    expect(messageTraceRows([legacyRow, graphRow])).toEqual([legacyRow, graphRow]);
    expect(messageTraceRows(graphRow)).toEqual([graphRow]);
    expect(messageTraceRows({ "odata.metadata": "https://reports.office365.com/ecp/ReportingWebService/Reporting.svc/$metadata#MessageTrace", value: [] })).toEqual([]);
  });
});

describe("email.direction and user.* from the local domains", () => {
  const between = (sender: string, recipient: string, localDomains: readonly string[] = ["contoso.com"]) =>
    normalize({ ...graphRow, senderAddress: sender, recipientAddress: recipient }, { localDomains });

  it("inbound: the recipient is the user", () => {
    const doc = between("x@fabrikam.com", "megan@contoso.com");
    expect(doc.email.direction).toBe("inbound");
    expect(doc.user).toEqual({ email: "megan@contoso.com", id: "megan@contoso.com", name: "megan" });
  });

  it("outbound: the sender is the user", () => {
    const doc = between("megan@contoso.com", "x@fabrikam.com");
    expect(doc.email.direction).toBe("outbound");
    expect(doc.user).toEqual({ email: "megan@contoso.com", id: "megan@contoso.com", name: "megan" });
  });

  it("internal: both, recipient first, as lists", () => {
    const doc = between("adele@contoso.com", "megan@contoso.com");
    expect(doc.email.direction).toBe("internal");
    expect(doc.user).toEqual({ email: ["megan@contoso.com", "adele@contoso.com"], id: ["megan@contoso.com", "adele@contoso.com"], name: ["megan", "adele"] });
  });

  it("internal mail to oneself: one user, as a value", () => {
    expect(between("megan@contoso.com", "megan@contoso.com").user).toEqual({ email: "megan@contoso.com", id: "megan@contoso.com", name: "megan" });
  });

  it("external: no user", () => {
    const doc = between("x@fabrikam.com", "y@example.org");
    expect(doc.email.direction).toBe("external");
    expect(doc).not.toHaveProperty("user");
  });

  it("any of several local domains, without regard to case, and only the domain itself (not its subdomains)", () => {
    expect(between("x@Fabrikam.COM", "megan@contoso.com", ["contoso.com", "fabrikam.com"]).email.direction).toBe("internal");
    expect(between("x@eu.contoso.com", "megan@contoso.com").email.direction).toBe("inbound");
  });

  it("writes neither without local domains", () => {
    const doc = between("adele@contoso.com", "megan@contoso.com", []);
    expect(doc.email).not.toHaveProperty("direction");
    expect(doc).not.toHaveProperty("user");
  });
});

describe("statuses", () => {
  it.each([
    ["delivered", "Delivered", "success"],
    ["failed", "Failed", "failure"],
    ["gettingStatus", "GettingStatus", "unknown"],
    ["pending", "Pending", "unknown"],
    ["expanded", "Expanded", "unknown"],
    ["quarantined", "Quarantined", "unknown"],
    ["filteredAsSpam", "FilteredAsSpam", "unknown"],
    ["recalled", "Recalled", "unknown"],
  ])("Graph %s is Status %s, event.outcome %s; the legacy spelling gives the same", (graph, legacy, outcome) => {
    const fromGraph = normalize({ ...graphRow, status: graph });
    expect(fromGraph.event.outcome).toBe(outcome);
    expect(fromGraph.microsoft.online_message_trace.Status).toBe(legacy);
    expect(normalize({ ...legacyRow, Status: legacy }).event.outcome).toBe(outcome);
  });

  it("keeps a status it does not know as received, with an unknown outcome", () => {
    const doc = normalize({ ...graphRow, status: "constructor" });
    expect(doc.event.outcome).toBe("unknown");
    expect(doc.microsoft.online_message_trace.Status).toBe("constructor");
  });
});

describe("source and destination addresses", () => {
  let geoip: GeoLookup;
  beforeAll(async () => {
    // MaxMind's test databases (made-up data), as Elastic's expected documents use them.
    geoip = (await openGeoIp({
      city: new URL("../fixtures/geoip/GeoLite2-City-Test.mmdb", import.meta.url).pathname,
      asn: new URL("../fixtures/geoip/GeoLite2-ASN-Test.mmdb", import.meta.url).pathname,
    })) as GeoLookup;
  });

  it("IPv4 on both ends, with geo and AS for each", () => {
    const doc = normalize({ ...graphRow, fromIP: "89.160.20.112", toIP: "216.160.83.56" }, { geoip });
    expect(doc.source.ip).toBe("89.160.20.112");
    expect(doc.source.geo).toMatchObject({ city_name: "Linköping", country_iso_code: "SE" });
    expect(doc.source.as).toEqual({ number: 29518, organization: { name: "Bredband2 AB" } });
    expect(doc.destination.ip).toBe("216.160.83.56");
    expect(doc.destination.geo).toMatchObject({ city_name: "Milton", region_iso_code: "US-WA" });
    expect(doc.destination.as).toEqual({ number: 209 });
  });

  it("IPv6 on both ends", () => {
    const doc = normalize({ ...legacyRow, FromIP: "2001:480::1", ToIP: "2600:7000::1" }, { geoip });
    expect(doc.source.ip).toBe("2001:480::1");
    expect(doc.source.geo).toMatchObject({ city_name: "San Diego", country_iso_code: "US" });
    expect(doc.destination.ip).toBe("2600:7000::1");
    expect(doc.destination.as).toEqual({ number: 6939, organization: { name: "Hurricane Electric, Inc." } });
    expect(doc.event).not.toHaveProperty("kind");
  });

  it("no geo without the databases, none for an address they do not know", () => {
    expect(normalize({ ...graphRow, fromIP: "89.160.20.112" }).source).not.toHaveProperty("geo");
    const doc = normalize({ ...graphRow, fromIP: "2001:db8::1" }, { geoip });
    expect(doc.source.ip).toBe("2001:db8::1");
    expect(doc.source).not.toHaveProperty("geo");
    expect(doc.source).not.toHaveProperty("as");
  });
});

describe("rows that cannot be mapped", () => {
  it.each([
    ["a string", "MessageTraceId t1", "row is a string, not an object"],
    ["an array", [graphRow], "row is an array, not an object"],
    ["null", null, "row is null, not an object"],
    ["a page", { value: [graphRow] }, "a page of rows, not a row: unwrap it with messageTraceRows"],
  ])("%s is a pipeline_error keeping the original, in the message-trace data stream", (_name, row, message) => {
    const doc = normalize(row, { namespace: "prod" });
    expect(doc).toEqual({
      "@timestamp": "2026-01-02T00:00:00.000Z",
      ecs: { version: "8.11.0" },
      // Nothing in it says when: the time of ingestion, which event.ingested repeats to say so.
      event: { kind: "pipeline_error", original: typeof row === "string" ? row : JSON.stringify(row), ingested: "2026-01-02T00:00:00.000Z", dataset: "microsoft_exchange_online_message_trace.log" },
      error: { message },
      tags: ["preserve_original_event"],
      data_stream: { type: "logs", dataset: "microsoft_exchange_online_message_trace.log", namespace: "prod" },
    });
  });

  it.each([
    ["no time", { ...legacyRow, Received: null }, ["the row has no Received (Graph: receivedDateTime) time"]],
    ["a time that is none", { ...graphRow, receivedDateTime: "yesterday" }, ['receivedDateTime "yesterday" is not a date']],
    ["a size that is text", { ...legacyRow, Size: "48213" }, ["Size is a string, not a number"]],
    ["a time that is a number", { ...legacyRow, Received: 1700000000000 }, ["Received is a number, not a string"]],
    ["an address that is no IP", { ...graphRow, fromIP: "mail.fabrikam.com" }, ['FromIP "mail.fabrikam.com" is not an IP address']],
  ])("a row with %s keeps the rest of its mapping, flagged pipeline_error with the original", (_name, row, messages) => {
    const doc = normalize(row, { originalText: "the row as received" });
    expect(doc.event).toMatchObject({ kind: "pipeline_error", original: "the row as received", dataset: "microsoft_exchange_online_message_trace.log" });
    expect(doc.error).toEqual({ message: messages });
    expect(doc.tags).toEqual(["preserve_original_event"]);
    expect(doc.email.message_id).toBe("<CAF1234@mail.fabrikam.com>");
    // What the index would refuse is left out of the document.
    expect(doc.source?.ip).not.toBe("mail.fabrikam.com");
    expect(doc.microsoft.online_message_trace.Size).not.toBe("48213");
    expect(doc.microsoft.online_message_trace.Received).not.toBe("yesterday");
  });

  it("a row with no time is stamped with the ingest time", () => {
    expect(normalize({ ...legacyRow, Received: "" })["@timestamp"]).toBe("2026-01-02T00:00:00.000Z");
  });

  it("a document too large to index is a pipeline_error line", () => {
    const { line, pipelineError } = normalizeMessageTraceToLine({ ...graphRow, subject: "x".repeat(1_000_001) }, context);
    expect(pipelineError).toBe(true);
    expect(JSON.parse(line)).toMatchObject({ event: { kind: "pipeline_error" }, error: { message: expect.stringMatching(/more than the limit/) } });
    expect(normalizeMessageTraceToLine(graphRow, context)).toMatchObject({ pipelineError: false });
  });
});

describe("the original and the data stream", () => {
  it("keeps the row as event.original, tagged preserve_original_event, only when asked to", () => {
    const kept = normalize(graphRow, { preserveOriginal: true });
    expect(kept.event.original).toBe(JSON.stringify(graphRow));
    expect(kept.tags).toEqual(["preserve_original_event"]);
    const text = `  ${JSON.stringify(legacyRow)}  `;
    expect(normalize(legacyRow, { preserveOriginal: true, originalText: text }).event.original).toBe(text);
    const dropped = normalize(graphRow);
    expect(dropped.event).not.toHaveProperty("original");
    expect(dropped).not.toHaveProperty("tags");
  });

  it("takes the namespace from the context", () => {
    expect(normalize(graphRow, { namespace: "contoso" }).data_stream.namespace).toBe("contoso");
  });

  it("drops empty values, as Elastic does, and never reads a key off Object.prototype", () => {
    const doc = normalize({ ...legacyRow, Subject: "", __metadata: { uri: null }, constructor: "x" });
    expect(doc.email).not.toHaveProperty("subject");
    expect(doc.microsoft.online_message_trace).not.toHaveProperty("Subject");
    expect(doc.microsoft.online_message_trace).not.toHaveProperty("__metadata");
    expect(doc.microsoft.online_message_trace.constructor).toBe("x");
    expect(doc.event).not.toHaveProperty("kind");
  });
});
