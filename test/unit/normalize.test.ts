import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseClientAddress, parseServerAddress, splitEmail } from "../../shared/ecs/address.js";
import { openGeoIp } from "../../shared/ecs/geoip.js";
import { normalize, normalizeToLine, type NormalizeContext } from "../../shared/sources/o365-audit/normalize/normalize.js";
import { isoTimestamp } from "../../shared/ecs/dates.js";
import { recordTypeName } from "../../shared/sources/o365-audit/normalize/recordTypes.js";

const TENANT = "b86ab9d4-fcf1-4b11-8a06-7a8f91b47fbd";
const context: NormalizeContext = { tenantNames: new Map([[TENANT, "contoso.onmicrosoft.com"]]), preserveOriginal: false, now: () => Date.parse("2026-01-01T00:00:00Z") };

// Records shaped as in Microsoft's Management Activity API schema documentation.
const signIn = {
  CreationTime: "2026-03-01T10:20:30",
  Id: "8d5f0e1c-3b2a-4c9d-8e7f-6a5b4c3d2e1f",
  Operation: "UserLoggedIn",
  OrganizationId: TENANT.toUpperCase(),
  RecordType: 15,
  ResultStatus: "Success",
  UserKey: "10037FFE8000AAAA",
  UserType: 0,
  Version: 1,
  Workload: "AzureActiveDirectory",
  ClientIP: "81.2.69.142",
  UserId: "alex@contoso.onmicrosoft.com",
  ExtendedProperties: [
    { Name: "UserAgent", Value: "Mozilla/5.0 (Windows NT 10.0; Win64; x64)" },
    { Name: "RequestType", Value: "OAuth2:Authorize" },
    { Name: "Empty", Value: null },
  ],
};

const fileAccessed = {
  CreationTime: "2026-03-01T11:00:00",
  Id: "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
  Operation: "FileAccessed",
  OrganizationId: TENANT,
  RecordType: 6,
  UserType: 0,
  Version: 1,
  Workload: "SharePoint",
  ClientIP: "[2001:db8::7]:50123",
  ObjectId: "https://contoso.sharepoint.com/sites/finance/Shared Documents/Budget.xlsx",
  UserId: "sam@contoso.onmicrosoft.com",
  SourceFileName: "Budget.xlsx",
  SourceRelativeUrl: "sites/finance/Shared Documents",
  SourceFileExtension: "xlsx",
  UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0",
};

describe("ECS mapping", () => {
  it("maps a sign-in: event fields, user split from the UPN, tenant, network, flattened properties", () => {
    const doc = normalize(signIn, context);
    expect(doc).toMatchObject({
      "@timestamp": "2026-03-01T10:20:30.000Z",
      ecs: { version: "8.11.0" },
      event: { kind: "event", id: signIn.Id, action: "UserLoggedIn", code: "AzureActiveDirectoryStsLogon", provider: "AzureActiveDirectory", outcome: "success", category: ["web", "authentication"], type: ["info", "start", "access"] },
      // As Microsoft sent it (upper case here); the tenant's name is still found.
      organization: { id: TENANT.toUpperCase(), name: "contoso.onmicrosoft.com" },
      host: { id: TENANT.toUpperCase(), name: "contoso.onmicrosoft.com" },
      user: { id: "alex@contoso.onmicrosoft.com", email: "alex@contoso.onmicrosoft.com", name: "alex", domain: "contoso.onmicrosoft.com" },
      client: { address: "81.2.69.142", ip: "81.2.69.142" },
      source: { ip: "81.2.69.142" },
      network: { type: "ipv4" },
      related: { ip: ["81.2.69.142"], user: ["alex"] },
      user_agent: { original: "Mozilla/5.0 (Windows NT 10.0; Win64; x64)" },
    });
    const audit = (JSON.parse(JSON.stringify(doc)).o365 as { audit: Record<string, unknown> }).audit;
    expect(audit.ExtendedProperties).toEqual({ RequestType: "OAuth2:Authorize" });
    expect(audit).toMatchObject({ RecordType: "15", UserType: "0", Version: "1", UserId: "alex@contoso.onmicrosoft.com" });
    for (const moved of ["Id", "Operation", "Workload", "OrganizationId", "ClientIP"]) expect(audit).not.toHaveProperty(moved);
  });

  it("maps a SharePoint file access to file, url and the file categories", () => {
    const doc = normalize(fileAccessed, context);
    expect(doc).toMatchObject({
      event: { code: "SharePointFileOperation", category: ["web", "file"], type: ["info", "access"] },
      file: { name: "Budget.xlsx", directory: "sites/finance/Shared Documents", extension: "xlsx" },
      url: {
        original: fileAccessed.ObjectId,
        scheme: "https",
        domain: "contoso.sharepoint.com",
        path: "/sites/finance/Shared Documents/Budget.xlsx",
        extension: "xlsx",
        registered_domain: "sharepoint.com",
        subdomain: "contoso",
        top_level_domain: "com",
      },
      client: { address: "2001:db8::7", ip: "2001:db8::7", port: 50123 },
      source: { ip: "2001:db8::7", port: 50123 },
      network: { type: "ipv6" },
      user_agent: { original: fileAccessed.UserAgent },
    });
  });

  it("parses user agents as Elastic's user_agent processor does, a fourth version part included", () => {
    const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    expect(normalize({ ...fileAccessed, UserAgent: chrome }, { ...context, parseUserAgents: true }).user_agent).toEqual({
      original: chrome,
      name: "Chrome",
      version: "120.0.0.0",
      os: { name: "Windows", version: "10", full: "Windows 10" },
      device: { name: "Other" },
    });
    expect(normalize(fileAccessed, { ...context, parseUserAgents: true }).user_agent).toMatchObject({ name: "Firefox", version: "125.0.", os: { name: "Mac OS X", version: "10.15" }, device: { name: "Mac" } });
    expect(normalize({ ...fileAccessed, UserAgent: "curl/8.4.0" }, { ...context, parseUserAgents: true }).user_agent).toEqual({ original: "curl/8.4.0", name: "curl", version: "8.4.0", device: { name: "Other" } });
  });

  it("parses a relative url.original as uri_parts does, and leaves it alone when uri_parts cannot parse it or URL parsing is off", () => {
    expect(normalize({ ...fileAccessed, ObjectId: "/sites/x/y.docx" }, context).url).toEqual({ original: "/sites/x/y.docx", path: "/sites/x/y.docx", extension: "docx" });
    expect(normalize({ ...fileAccessed, ObjectId: "/sites/x/Shared Documents/y.docx" }, context).url).toEqual({ original: "/sites/x/Shared Documents/y.docx" });
    expect(normalize(fileAccessed, { ...context, parseUrls: false }).url).toEqual({ original: fileAccessed.ObjectId });
  });

  it("renames Azure AD user management actions and categorizes them as IAM", () => {
    const doc = normalize({ ...signIn, RecordType: 8, Operation: "Add user.", ObjectId: "new.hire@contoso.onmicrosoft.com", ExtendedProperties: [] }, context);
    expect(doc.event).toMatchObject({ action: "added-user-account", category: ["web", "iam"], type: ["info", "user", "creation"] });
    expect(doc.user).toMatchObject({ target: { id: "new.hire@contoso.onmicrosoft.com", name: "new.hire", domain: "contoso.onmicrosoft.com" } });
    expect((doc.related as { user: string[] }).user).toEqual(["alex", "new.hire"]);
  });

  it("maps an Exchange mailbox item to email.* with its attachments", () => {
    const doc = normalize(
      {
        ...signIn,
        RecordType: 2,
        Operation: "Send",
        Workload: "Exchange",
        MailboxOwnerUPN: "sam@contoso.onmicrosoft.com",
        OriginatingServer: "DB3PR0 (15.20.1.2)\r\n",
        Item: { Id: "AAMk", InternetMessageId: "<m1@contoso.onmicrosoft.com>", Subject: "Quarterly numbers", Attachments: "report.pdf (1024b); Q3 (final).xlsx (20480b)" },
      },
      context,
    );
    expect(doc).toMatchObject({
      event: { code: "ExchangeItem", category: ["web", "email"] },
      email: {
        subject: ["Quarterly numbers"],
        message_id: ["<m1@contoso.onmicrosoft.com>"],
        attachments: [{ file: { name: "report.pdf", extension: "pdf", size: 1024 } }, { file: { name: "Q3 (final).xlsx", extension: "xlsx", size: 20480 } }],
      },
      server: { domain: "DB3PR0", address: "15.20.1.2", ip: "15.20.1.2" },
      destination: { ip: "15.20.1.2" },
      // A UPN-shaped UserId wins over MailboxOwnerUPN for user.email, as in Elastic's output.
      user: { id: "alex@contoso.onmicrosoft.com", email: "alex@contoso.onmicrosoft.com" },
      related: { user: ["alex", "alex@contoso.onmicrosoft.com"], hosts: ["contoso.onmicrosoft.com", "DB3PR0"] },
    });
  });

  it("maps a Security & Compliance alert: rule, message, and the e-mail its Data describes", () => {
    const doc = normalize(
      {
        ...signIn,
        RecordType: 40,
        Operation: "AlertTriggered",
        UserId: "SecurityComplianceAlerts",
        Name: "Email reported by user as malware or phish",
        Comments: "New alert",
        Category: "ThreatManagement",
        PolicyId: "p-1",
        Severity: "low",
        AlertLinks: [{ AlertLinkHref: "https://security.microsoft.com/alerts/1" }, { AlertLinkHref: "" }],
        Data: JSON.stringify({ f3u: "sam@contoso.onmicrosoft.com", imsgid: "<m2@example.com>", ms: "Invoice", tsd: "billing@example.com", ts: "2026-03-01T10:00:00.1234567Z", sip: "" }),
      },
      context,
    );
    expect(doc).toMatchObject({
      event: { kind: "alert", severity: 2, category: ["web"], type: ["info"] },
      message: "Email reported by user as malware or phish",
      rule: { name: "Email reported by user as malware or phish", id: "p-1", category: "ThreatManagement", reference: ["https://security.microsoft.com/alerts/1"] },
      user: { id: "SecurityComplianceAlerts", email: "sam@contoso.onmicrosoft.com" },
      email: { message_id: ["<m2@example.com>"], subject: ["Invoice"], sender: { address: ["billing@example.com"] } },
      o365: { audit: { Comments: "New alert", Data: { f3u: "sam@contoso.onmicrosoft.com", ts: "2026-03-01T10:00:00.123Z" } } },
    });
    expect((doc.related as { user: string[] }).user).toEqual(["sam@contoso.onmicrosoft.com", "billing@example.com", "SecurityComplianceAlerts"]);
  });

  it("maps DLP matches to rules, the highest severity, and the outcome of a blocking action", () => {
    const doc = normalize(
      {
        ...signIn,
        RecordType: 13,
        Operation: "DlpRuleMatch",
        Workload: "Exchange",
        ExchangeMetaData: { From: "sam@contoso.onmicrosoft.com", To: ["a@example.com"], CC: "b@example.com", Subject: "Card numbers" },
        PolicyDetails: [{ PolicyId: "p1", PolicyName: "PCI", Rules: [{ RuleId: "r1", RuleName: "Low volume", Severity: "Low", Actions: ["NotifyUser"] }, { RuleId: "r2", RuleName: "High volume", Severity: "High", Actions: ["BlockAccess"] }] }],
      },
      context,
    );
    expect(doc).toMatchObject({
      event: { kind: "alert", severity: 4, outcome: "failure", category: ["web", "file"], type: ["info", "access"] },
      rule: { id: ["r1", "r2"], name: ["Low volume", "High volume"] },
      source: { user: { email: "sam@contoso.onmicrosoft.com" } },
      destination: { user: { email: ["a@example.com", "b@example.com"] } },
      // The sender acted, not the DLP agent or whoever UserId names.
      user: { id: "sam@contoso.onmicrosoft.com", email: "sam@contoso.onmicrosoft.com", name: "sam", domain: "contoso.onmicrosoft.com" },
      message: "Office365 Alert: DlpRuleMatch detected in email sent by sam@contoso.onmicrosoft.com with subject 'Card numbers'",
    });
  });

  it("copies file, process and domain fields any record type may carry, leaving the raw ones under o365.audit", () => {
    const doc = normalize({ ...signIn, RecordType: 63, FileExtension: "pdf", Sha256: "ab12", Sha1: "cd34", TargetFilePath: "C:\\x\\a.pdf", FileSize: 2048, Application: "chrome.exe", OriginatingDomain: "contoso.com" }, context);
    expect(doc).toMatchObject({
      file: { extension: "pdf", hash: { sha256: "ab12", sha1: "cd34" }, path: "C:\\x\\a.pdf", size: 2048 },
      process: { name: "chrome.exe" },
      url: { domain: "contoso.com" },
      o365: { audit: { FileExtension: "pdf", Application: "chrome.exe" } },
    });
    expect(normalize({ ...signIn, FilePath: "/a", TargetFilePath: "/b", FileSizeBytes: 1, FileSize: 2 }, context)).toMatchObject({ file: { path: "/a", size: 1 } });
  });

  it("takes mail addresses from Exchange cmdlet parameters, and the message a -Identity names", () => {
    const doc = normalize(
      { ...signIn, RecordType: 1, Workload: "Exchange", Operation: "Set-Mailbox", Parameters: [{ Name: "ForwardTo", Value: "a@x.com; b@x.com" }, { Name: "RedirectTo", Value: "b@x.com" }, { Name: "From", Value: "boss@x.com" }, { Name: "User", Value: "victim@x.com" }] },
      context,
    );
    expect(doc).toMatchObject({ email: { to: { address: ["a@x.com", "b@x.com"] }, from: { address: "boss@x.com" } } });
    expect((doc.related as { user: string[] }).user).toContain("victim@x.com");
    const identity = normalize({ ...signIn, RecordType: 1, Operation: "Release-QuarantineMessage", Parameters: '-Identity "c2f0e8d4-1111-2222-3333-444455556666\\77"' }, context);
    expect(identity).toMatchObject({ email: { local_id: ["c2f0e8d4-1111-2222-3333-444455556666\\77"] }, o365: { audit: { NetworkMessageId: "c2f0e8d4-1111-2222-3333-444455556666\\77" } } });
  });

  it("gathers email.* from mail fields of any record type, and parses attachments as Elastic does", () => {
    const doc = normalize(
      {
        ...signIn,
        RecordType: 2,
        Workload: "Exchange",
        Operation: "Send",
        InternetMessageId: "<m1@x.com>",
        NetworkMessageId: "n-1",
        P1Sender: "s@x.com",
        Recipients: ["r1@x.com", "r2@x.com"],
        SenderIp: "81.2.69.142",
        Item: { InternetMessageId: "<m1@x.com>", Subject: "Quarterly", Attachments: "a.pdf (10b); no-extension (5b); b.docx; c.xlsx (7b)" },
      },
      context,
    );
    expect(doc).toMatchObject({
      event: { category: ["web", "email"] },
      email: {
        message_id: ["<m1@x.com>"],
        local_id: ["n-1"],
        sender: { address: ["s@x.com"] },
        to: { address: ["r1@x.com", "r2@x.com"] },
        subject: ["Quarterly"],
        attachments: [{ file: { name: "a.pdf", extension: "pdf", size: 10 } }, { file: { name: "c.xlsx", extension: "xlsx", size: 7 } }],
      },
    });
    expect((doc.related as { ip: string[] }).ip).toEqual(["81.2.69.142"]);
    // An Exchange mailbox record is e-mail even when it names no item.
    expect((normalize({ ...signIn, RecordType: 2, Operation: "MailboxLogin" }, context).event as { category: string[] }).category).toEqual(["web", "email"]);
  });

  it("maps the entities an AIR investigation's Data lists, keeping the ISO QueryTime of a duplicated pair", () => {
    const doc = normalize(
      {
        ...signIn,
        RecordType: 64,
        Workload: "AirInvestigation",
        Operation: "InvestigationStarted",
        UserId: "AirInvestigation",
        Data: '{"suid":"not-an-address","Entities":[{"Recipient":"r@x.com","Upn":"u@x.com","SenderIP":"81.2.69.142","Subject":"Phish","P2Sender":"p2@evil.example","ThreatDetectionMethods":["URL detonation","Spoof"],"OriginalDeliveryLocation":"Inbox","QueryTime":"2024-09-30T06:16:41.7320497Z","QueryTime":"9/30/2024 6:16:41 AM"},{"ThreatDetectionMethods":"Reputation"}]}',
      },
      context,
    );
    expect(doc).toMatchObject({
      user: { email: ["r@x.com"] },
      email: { to: { address: ["r@x.com"] }, subject: ["Phish"], from: { address: ["p2@evil.example"] } },
      o365: { audit: { OriginalDeliveryLocation: ["Inbox"], ThreatDetectionMethods: ["URL detonation", "Spoof", "Reputation"], Data: { flattened: { Entities: [{ QueryTime: "2024-09-30T06:16:41.7320497Z" }, {}] } } } },
    });
    expect(doc.related).toMatchObject({ user: ["u@x.com"], ip: ["81.2.69.142"] });
  });

  it("drops an alert's source IP that is not one, without failing the record", () => {
    const doc = normalize({ ...signIn, RecordType: 40, Data: '{"sip":"not-an-ip","f3u":"a@x.com"}' }, context);
    expect(doc.event).toMatchObject({ kind: "alert" });
    expect(doc).toMatchObject({ o365: { audit: { Data: { f3u: "a@x.com", flattened: { sip: "not-an-ip" } } } } });
    expect((doc.o365 as { audit: { Data: Record<string, unknown> } }).audit.Data.sip).toBeUndefined();
  });

  it("maps the app access context, the device, and additional details of a sign-in", () => {
    const doc = normalize(
      {
        ...signIn,
        Workload: undefined,
        UserType: 5,
        DeviceName: "LAPTOP-7",
        OrganizationId: undefined,
        ApplicationDisplayName: "Outlook",
        AppAccessContext: { AADSessionId: "s-1", UniqueTokenId: "t-1" },
        ExtendedProperties: [{ Name: "additionalDetails", Value: '{"DeviceId":"d-1","User-Agent":"curl/8.4.0"}' }],
      },
      { ...context, parseUserAgents: false },
    );
    expect(doc).toMatchObject({ device: { id: "d-1" }, session: { id: "s-1" }, token: { id: "t-1" }, application: { name: "Outlook" }, host: { name: "LAPTOP-7" }, user_agent: { original: "curl/8.4.0" } });
    expect((doc.event as { provider: string }).provider).toBe("5");
  });

  it("renames aggregated mailbox fields and categorizes MailItemsAccessed bundles as e-mail access", () => {
    const doc = normalize({ ...signIn, RecordType: 50, Workload: "Exchange", Operation: "MailItemsAccessed", Folders: [{ Path: "\\Inbox" }], Messages: 3 }, context);
    expect(doc.event).toMatchObject({ code: "ExchangeItemAggregated", category: ["web", "email"], type: ["info", "access"] });
    expect(doc).toMatchObject({ o365: { audit: { ExchangeAggregatedFolders: [{ Path: "\\Inbox" }], ExchangeAggregatedMessages: 3 } } });
  });

  it("parses text Actions after the object ones, and normalizes the audit dates Elastic normalizes", () => {
    const doc = normalize(
      { ...signIn, Actions: [{ Id: 1 }, '{"Id":2,"QueryTime":"9/30/2024 6:16:41 AM","QueryTime":"2024-09-30T06:16:41Z"}'], StartTimeUtc: "2026-03-01T10:00:00", RescanResult: { Timestamp: "2026-03-01T10:00:00+01:00" } },
      context,
    );
    expect(doc).toMatchObject({ o365: { audit: { Actions: [{ Id: 1 }, { Id: 2, QueryTime: "2024-09-30T06:16:41Z" }], StartTimeUtc: "2026-03-01T10:00:00.000Z", RescanResult: { Timestamp: "2026-03-01T09:00:00.000Z" } } } });
  });

  it("flags a record mapped with problems as a pipeline_error that keeps what was mapped and the original", () => {
    const doc = normalize({ ...signIn, OperationProperties: "{broken", Actions: ["not json"] }, context);
    expect(doc.event).toMatchObject({ kind: "pipeline_error", action: "UserLoggedIn", original: JSON.stringify({ ...signIn, OperationProperties: "{broken", Actions: ["not json"] }) });
    expect(doc.tags).toEqual(["preserve_original_event"]);
    expect((doc.error as { message: string[] }).message).toEqual([expect.stringMatching(/^OperationProperties is not valid JSON/), expect.stringMatching(/^Actions\[0\] is not valid JSON/)]);
    expect(normalize({ ...signIn, EndTimeUtc: "yesterday" }, context).error).toEqual({ message: 'EndTimeUtc is not an ISO 8601 date: "yesterday"' });
  });

  /** Records whose mapping moves nested fields out and rewrites fields in place: what a working copy protects. */
  const NESTED_AND_REWRITTEN = [
    signIn,
    fileAccessed,
    { ...signIn, RecordType: 11, Operation: "DlpRuleMatch", SharePointMetaData: { From: "a@b.c", FileName: "x.docx", FileOwner: "o", UniqueId: "u" }, ExchangeMetaData: { From: "a@b.c", To: ["d@e.f"], Subject: "s" }, ExceptionInfo: "reason" },
    { ...signIn, ExtendedProperties: { UserAgent: "UA as a map" }, Message: { Id: "m" }, RecordType: 40, Data: { sip: "", f3u: "a@b.c" }, AlertLinks: [{ AlertLinkHref: "" }] },
    { ...signIn, RecordType: 50, RescanResult: { Timestamp: "2026-03-01T10:00:00" }, Actions: ['{"a":1}', { b: 2 }], Messages: [1], Parameters: [{ Name: "ForwardTo", Value: "a@b.c" }] },
  ];

  it("never changes the record it is given", () => {
    for (const record of NESTED_AND_REWRITTEN) {
      const before = structuredClone(record);
      normalize(record, context);
      expect(record).toEqual(before);
    }
  });

  it("maps a record handed over with its text in place, to the same document as a copy gets", () => {
    for (const record of NESTED_AND_REWRITTEN) {
      const text = JSON.stringify(record);
      const handedOver = JSON.parse(text) as Record<string, unknown>;
      expect(normalize(handedOver, context, text)).toEqual(normalize(record, context));
      // It was its own working copy: the fields mapped out of it are gone from it.
      expect(handedOver.Operation).toBeUndefined();
      // Its text is the original it keeps when asked to.
      expect((normalize(JSON.parse(text), { ...context, preserveOriginal: true }, text).event as { original: string }).original).toBe(text);
    }
  });

  it("writes a record handed over with its text that fails half-way as a pipeline_error with that text, its own time and its Id", () => {
    // The Id and Operation are moved out of the record before the bad date stops the mapping.
    const text = ` ${JSON.stringify({ ...signIn, EndTimeUtc: "2026-03-01T10:00:00", RescanResult: { Timestamp: "not a date" } })}`;
    const doc = normalize(JSON.parse(text), context, text);
    expect(doc).toEqual({
      "@timestamp": "2026-03-01T10:20:30.000Z",
      ecs: { version: expect.any(String) },
      event: { kind: "pipeline_error", id: signIn.Id, original: text },
      error: { message: 'RescanResult.Timestamp is not an ISO 8601 date: "not a date"' },
      tags: ["preserve_original_event"],
    });
    const copied = normalize(JSON.parse(text), context);
    expect(copied.event).toEqual({ ...(doc.event as object), original: text.trim() });
  });

  it("keeps event.original verbatim when asked to, tagged preserve_original_event as Elastic's documents are", () => {
    expect((normalize(signIn, { ...context, preserveOriginal: true, originalText: " {raw} " }).event as { original: string }).original).toBe(" {raw} ");
    const doc = normalize(signIn, { ...context, preserveOriginal: true });
    expect((doc.event as { original: string }).original).toBe(JSON.stringify(signIn));
    expect(doc.tags).toEqual(["preserve_original_event"]);
    expect(normalize(signIn, context).tags).toBeUndefined();
  });

  it.each([
    ["Succeeded", "success"],
    ["PartiallySucceeded", "success"],
    ["True", "success"],
    ["Failed", "failure"],
    ["False", "failure"],
    ["InProgress", "success"],
  ])("maps ResultStatus %s to %s", (status, outcome) => {
    expect((normalize({ ...signIn, ResultStatus: status }, context).event as { outcome: string }).outcome).toBe(outcome);
  });

  it("sets no user for an empty UserId, as Elastic's empty-value check does", () => {
    expect(normalize({ ...signIn, UserId: "" }, context).user).toBeUndefined();
  });

  it("stamps records without CreationTime with the ingest time", () => {
    const { CreationTime: _, ...rest } = signIn;
    expect(normalize(rest, context)["@timestamp"]).toBe("2026-01-01T00:00:00.000Z");
  });

  it.each([
    [null, /null, not an object/],
    ["text", /a string, not an object/],
    [[1, 2], /an array, not an object/],
    [42, /a number, not an object/],
    [{ ...signIn, Operation: 7 }, /Operation is a number, not a string/],
    [{ ...signIn, RecordType: 40, Data: "{not json" }, /JSON/],
  ])("writes %j as a pipeline_error that keeps the original", (record, reason) => {
    const doc = normalize(record, context);
    expect(doc.event).toMatchObject({ kind: "pipeline_error" });
    expect((doc.error as { message: string }).message).toMatch(reason);
    expect(typeof (doc.event as { original: string }).original).toBe("string");
    expect(doc.tags).toEqual(["preserve_original_event"]);
  });

  it("writes a record with a huge field as a pipeline_error naming the size, original kept", () => {
    const huge = { ...signIn, Comments: "x".repeat(1_200_000) };
    const { line, pipelineError } = normalizeToLine(huge, context);
    const doc = JSON.parse(line) as { event: { kind: string; original: string }; error: { message: string } };
    expect(pipelineError).toBe(true);
    expect(doc.event.kind).toBe("pipeline_error");
    expect(doc.error.message).toMatch(/more than the limit of 1000000/);
    expect(JSON.parse(doc.event.original)).toEqual(huge);
    expect(normalizeToLine(signIn, context).pipelineError).toBe(false);
  });

  it("names record types from the table and leaves unknown numbers without a code", () => {
    expect(recordTypeName(1)).toBe("ExchangeAdmin");
    expect(recordTypeName("25")).toBe("MicrosoftTeams");
    expect(recordTypeName(-1)).toBeUndefined();
    expect(recordTypeName(undefined)).toBeUndefined();
  });

  it("adds source.geo and source.as from MaxMind databases", async () => {
    const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/geoip/${name}`, import.meta.url));
    const geoip = await openGeoIp({ city: fixture("GeoLite2-City-Test.mmdb"), asn: fixture("GeoLite2-ASN-Test.mmdb") });
    const doc = normalize(signIn, { ...context, geoip: geoip! });
    expect((doc.source as { geo: unknown }).geo).toMatchObject({ city_name: "London", country_iso_code: "GB", country_name: "United Kingdom", continent_name: "Europe", region_iso_code: "GB-ENG" });
    const asn = normalize({ ...signIn, ClientIP: "67.43.156.13" }, { ...context, geoip: geoip! });
    expect((asn.source as { as: unknown }).as).toEqual({ number: 35908 });
    expect(normalize({ ...signIn, ClientIP: "10.0.0.1" }, { ...context, geoip: geoip! }).source).toEqual({ ip: "10.0.0.1" });
  });
});

describe("client and server address forms", () => {
  it.each([
    ["203.0.113.7", { address: "203.0.113.7", ip: "203.0.113.7" }],
    ["203.0.113.7:50912", { address: "203.0.113.7", ip: "203.0.113.7", port: 50912 }],
    ["[2001:db8::1]:443", { address: "2001:db8::1", ip: "2001:db8::1", port: 443 }],
    ["[2001:db8::1]", { address: "2001:db8::1", ip: "2001:db8::1" }],
    ["2001:db8::1", { address: "2001:db8::1", ip: "2001:db8::1" }],
    ["::ffff:198.51.100.2", { address: "198.51.100.2", ip: "198.51.100.2" }],
    ["mail.contoso.com", { domain: "mail.contoso.com" }],
    ["mail.contoso.com:25 extra", { domain: "mail.contoso.com", port: 25 }],
    ["SERVER1 (10.1.2.3)", { domain: "SERVER1", address: "10.1.2.3", ip: "10.1.2.3" }],
    ["[SERVER1 (10.1.2.3)]", { domain: "SERVER1", address: "10.1.2.3", ip: "10.1.2.3" }],
    ["not an address", { address: "not an address" }],
  ])("parses client %s", (raw, expected) => {
    expect(parseClientAddress(raw)).toEqual(expected);
  });

  it("parses server addresses, dropping line breaks", () => {
    expect(parseServerAddress("DB3PR0 (15.20.1.2)\r\n")).toEqual({ domain: "DB3PR0", address: "15.20.1.2", ip: "15.20.1.2" });
    expect(parseServerAddress("[EXCH01 (192.0.2.20)]")).toEqual({ domain: "EXCH01", address: "192.0.2.20", ip: "192.0.2.20" });
    expect(parseServerAddress("somewhere")).toEqual({ address: "somewhere" });
    expect(parseServerAddress("")).toBeUndefined();
  });

  it("splits a UPN only when it has exactly one @", () => {
    expect(splitEmail("a@b.com")).toEqual({ name: "a", domain: "b.com", email: "a@b.com" });
    expect(splitEmail("a@b@c")).toBeUndefined();
    expect(splitEmail("S-1-5-18")).toBeUndefined();
  });
});

describe("isoTimestamp", () => {
  it.each([
    ["2024-02-29T10:00:00", "2024-02-29T10:00:00.000Z"],
    ["2024-12-31T23:59:59", "2024-12-31T23:59:59.000Z"],
    ["2024-01-10T10:00:00.1234567", "2024-01-10T10:00:00.123Z"],
    ["2024-01-10T10:00:00+02:00", "2024-01-10T08:00:00.000Z"],
    ["2024-01-10T10:00:00Z", "2024-01-10T10:00:00.000Z"],
    ["2024-03-06 07:00:00Z", "2024-03-06T07:00:00.000Z"],
    ["2024-03-06", "2024-03-06T00:00:00.000Z"],
    ["2024-01-10T10:00:00.1234567Z", "2024-01-10T10:00:00.123Z"],
    ["2024-01-10T10:00:00-0130", "2024-01-10T11:30:00.000Z"],
    ["0099-01-01T00:00:00.5", "0099-01-01T00:00:00.500Z"],
    // Graph's form, read without a Date: the fraction's first three digits, none rounded up.
    ["2024-02-29T23:59:59.999999999Z", "2024-02-29T23:59:59.999Z"],
    ["2026-01-01T00:00:00.05Z", "2026-01-01T00:00:00.050Z"],
  ])("reads %s as %s", (text, iso) => {
    expect(isoTimestamp(text)).toBe(iso);
  });

  // Everything JavaScript's Date would read but ISO 8601 does not allow, or a part out of range in any form.
  it.each(["2023-02-29T10:00:00", "2024-04-31T00:00:00", "2024-13-01T00:00:00", "2024-01-00T00:00:00", "2024-01-10T24:00:00", "2024-01-10T23:60:00", "yesterday", "", "1", "0", "March 6, 2024", "2024-02-30T00:00:00Z", "2024-02-30T07:10:03.000", "2024-01-10T10:00:00+25:00", "2024-02-30T07:10:03.5Z", "2024-01-10T10:00:00.Z", "2024-01-10T10:00:00.1234567890Z", "2024-01-10T10:00:00ZZ", "2024-01-10T10:00:00.5 "])(
    "rejects %j",
    (text) => {
      expect(isoTimestamp(text)).toBeUndefined();
    },
  );
});
