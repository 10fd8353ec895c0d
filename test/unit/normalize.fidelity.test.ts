import { describe, expect, it } from "vitest";
import { normalize, type NormalizeContext } from "../../shared/sources/o365-audit/normalize/normalize.js";
import { EMAIL_SOURCES, FIELD_COPIES } from "../../shared/sources/o365-audit/normalize/tables.js";

/**
 * Issue 12: the record's own time, values as given, guests and the DLP acting user, and Defender for
 * Office 365 records. Records are written from the Management Activity API schema (field names and
 * types as Microsoft documents them; values invented).
 */
const TENANT = "4a7c8238-5799-4b16-9fc6-9ad8fce5a7d9";
const NOW = "2024-03-07T00:00:00.000Z";
const context: NormalizeContext = { tenantNames: new Map([[TENANT, "contoso.onmicrosoft.com"]]), preserveOriginal: false, now: () => Date.parse(NOW) };
type Mapped = Record<string, any>;
const map = (record: Record<string, unknown>): Mapped => normalize(record, context) as Mapped;

const common = { OrganizationId: TENANT, UserType: 4, Version: 1 };

/** Email message events (RecordType 28, TIMailData). */
const tiMail = {
  ...common,
  CreationTime: "2024-03-06T07:10:03",
  Id: "a1b2c3d4-0001-4e5f-8a9b-0c1d2e3f4a5b",
  Operation: "TIMailData",
  RecordType: 28,
  UserKey: "ThreatIntel",
  Workload: "ThreatIntelligence",
  UserId: "ThreatIntel",
  AttachmentData: [{ FileName: "Invoice_0412.HTM", FileType: "html", FileVerdict: 1, MalwareFamily: "HTML/Phish.A", SHA256: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8" }],
  DetectionType: "Inline",
  DetectionMethod: "File detonation",
  InternetMessageId: "<20240306071001.ABC123@mail.fabrikam.example>",
  NetworkMessageId: "b2c3d4e5-0002-4f60-9b0c-1d2e3f4a5b6c",
  P1Sender: "bounce@mail.fabrikam.example",
  P2Sender: "billing@fabrikam.example",
  Policy: "Malware",
  PolicyAction: "Quarantine",
  Recipients: ["megan.bowen@contoso.com", "lena.fischer@contoso.com"],
  SenderIp: "198.51.100.5",
  Subject: "Overdue invoice 0412",
  Verdict: "Malware",
  MessageTime: "2024-03-06T07:09:58",
  DeliveryAction: "Blocked",
  OriginalDeliveryLocation: "Quarantine",
  LatestDeliveryLocation: "Quarantine",
  Directionality: "Inbound",
};

/** URL time-of-click events (RecordType 41, TIUrlClickData); this one arrives without CreationTime. */
const urlClick = {
  ...common,
  Id: "a1b2c3d4-0003-4e5f-8a9b-0c1d2e3f4a5b",
  Operation: "TIUrlClickData",
  RecordType: 41,
  UserKey: "ThreatIntel",
  Workload: "ThreatIntelligence",
  UserId: "megan.bowen@contoso.com",
  AppName: "Mail",
  URLClickAction: 2,
  SourceId: "b2c3d4e5-0002-4f60-9b0c-1d2e3f4a5b6c",
  TimeOfClick: "2024-03-06T07:31:12",
  URL: "https://login.contoso-verify.com/Reset%20Password/verify.PHP?u=megan#step2",
  UserIp: "203.0.113.24",
};

/** File events (RecordType 47, FileMalwareDetected). */
const fileMalware = {
  ...common,
  CreationTime: "2024-03-06T09:00:41",
  Id: "a1b2c3d4-0004-4e5f-8a9b-0c1d2e3f4a5b",
  Operation: "FileMalwareDetected",
  RecordType: 47,
  UserKey: "ThreatIntel",
  Workload: "ThreatIntelligence",
  UserId: "ThreatIntel",
  FileData: {
    DocumentId: "c3d4e5f6-0005-4a71-8c2d-3e4f5a6b7c8d",
    FileName: "Q1 tooling.zip",
    FilePath: "https://contoso.sharepoint.com/sites/Engineering/Shared Documents/Tools/Q1 tooling.zip",
    FileVerdict: 1,
    MalwareFamily: "Trojan:Win32/Example",
    SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    FileSize: "482113",
  },
  SourceWorkload: 0,
  DetectionMethod: "Anti-malware engine",
  LastModifiedDate: "2024-03-06T08:58:30",
  LastModifiedBy: "adele.vance@contoso.com",
};

/** AIR investigation (RecordType 64) with the entity kinds Microsoft documents for Data. */
const airEntities = [
  { Type: "mailbox", MailboxPrimaryAddress: "megan.bowen@contoso.com", DisplayName: "Megan Bowen", Upn: "megan.bowen@contoso.com" },
  { Type: "url", Url: "https://login.contoso-verify.com/reset.php" },
  { Type: "ip", Address: "198.51.100.77" },
  { Type: "file", Name: "Invoice_0412.HTM", FileHashes: [{ Type: "filehash", Algorithm: "SHA256", Value: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8" }] },
  {
    Type: "mail-message",
    Recipient: "megan.bowen@contoso.com",
    Sender: "billing@fabrikam.example",
    SenderIP: "198.51.100.5",
    ReceivedDate: "2024-03-06T07:09:58",
    NetworkMessageId: "b2c3d4e5-0002-4f60-9b0c-1d2e3f4a5b6c",
    InternetMessageId: "<20240306071001.ABC123@mail.fabrikam.example>",
    Subject: "Overdue invoice 0412",
    Urls: [{ Type: "url", Url: "https://login.contoso-verify.com/reset.php" }],
    Files: [],
  },
];
const air = {
  ...common,
  Id: "a1b2c3d4-0006-4e5f-8a9b-0c1d2e3f4a5b",
  Operation: "AirInvestigationData",
  RecordType: 64,
  UserKey: "AirInvestigation",
  Workload: "AirInvestigation",
  UserId: "AirInvestigation",
  InvestigationId: "urn:ZappedUrlInvestigation:d4e5f6a7",
  InvestigationName: "Mail with malicious urls was zapped",
  InvestigationType: "Zapped Phish",
  LastUpdateTimeUtc: "2024-03-06T10:14:55",
  StartTimeUtc: "2024-03-06T09:40:00",
  Status: "Pending Action",
  Actions: [],
  Data: JSON.stringify({ Entities: airEntities }),
};

describe("the record's own time", () => {
  it("takes CreationTime when the record has it", () => {
    expect(map(tiMail)["@timestamp"]).toBe("2024-03-06T07:10:03.000Z");
  });

  it("takes the family's own time when CreationTime is missing: TimeOfClick, LastUpdateTimeUtc, an alert's window end", () => {
    const click = map(urlClick);
    expect(click["@timestamp"]).toBe("2024-03-06T07:31:12.000Z");
    expect(click.event.ingested).toBeUndefined();
    expect(map(air)["@timestamp"]).toBe("2024-03-06T10:14:55.000Z");
    const { LastUpdateTimeUtc: _, ...started } = air;
    expect(map(started)["@timestamp"]).toBe("2024-03-06T09:40:00.000Z");
    const alert = map({ ...common, Id: "e1", RecordType: 40, Operation: "AlertTriggered", UserId: "SecurityComplianceAlerts", Name: "Suspicious email sending patterns", Data: JSON.stringify({ ts: "2024-03-06T06:45:00.0000000Z", te: "2024-03-06T07:00:00.0000000Z" }) });
    expect(alert["@timestamp"]).toBe("2024-03-06T07:00:00.000Z");
    const { CreationTime: __, ...mail } = tiMail;
    expect(map(mail)["@timestamp"]).toBe("2024-03-06T07:09:58.000Z");
  });

  it("stamps the time of ingestion only when the record has no time at all, and says so in event.ingested", () => {
    const doc = map({ ...common, Id: "b0c1", RecordType: 1, Operation: "Set-Mailbox", UserId: "admin@contoso.com", Workload: "Exchange" });
    expect(doc["@timestamp"]).toBe(NOW);
    expect(doc.event.ingested).toBe(NOW);
    expect(map(tiMail).event.ingested).toBeUndefined();
  });

  it("keeps the record's own time and Id on a record it cannot map", () => {
    const doc = map({ ...tiMail, RecordType: 40, Data: "{not json" });
    expect(doc.event).toMatchObject({ kind: "pipeline_error", id: tiMail.Id });
    expect(doc["@timestamp"]).toBe("2024-03-06T07:10:03.000Z");
    expect(doc.event.ingested).toBeUndefined();
  });

  it("writes a record whose CreationTime is not a date as a pipeline_error that names it, original kept", () => {
    const doc = map({ ...tiMail, CreationTime: "2024-13-40T00:00:00" });
    expect(doc.event.kind).toBe("pipeline_error");
    expect(doc.error.message).toContain("CreationTime");
    expect(JSON.parse(doc.event.original).Id).toBe(tiMail.Id);
    expect(doc["@timestamp"]).toBe(NOW);
    expect(doc.event.ingested).toBe(NOW);
  });
});

describe("values as given", () => {
  it("keeps organization.id and host.id as Microsoft sent them, and still finds the tenant's name", () => {
    const doc = map({ ...tiMail, OrganizationId: TENANT.toUpperCase() });
    expect(doc.organization).toEqual({ id: TENANT.toUpperCase(), name: "contoso.onmicrosoft.com" });
    expect(doc.host.id).toBe(TENANT.toUpperCase());
  });

  it("puts only IP addresses in related.ip", () => {
    expect(map({ ...tiMail, SenderIp: "unknown" }).related.ip).toBeUndefined();
  });

  it("writes IPs in their canonical form (RFC 5952; an IPv4-mapped address as IPv4) and keeps the address as given", () => {
    const v6 = map({ ...tiMail, ClientIP: "2001:0DB8:0000:0000:0000:0000:0000:00A1", SenderIp: "2001:DB8::5" });
    expect(v6).toMatchObject({ client: { address: "2001:0DB8:0000:0000:0000:0000:0000:00A1", ip: "2001:db8::a1" }, source: { ip: "2001:db8::a1" }, network: { type: "ipv6" } });
    expect(v6.related.ip).toEqual(["2001:db8::a1", "2001:db8::5"]);
    const mapped = map({ ...tiMail, ClientIP: "[::ffff:198.51.100.7]:443" });
    expect(mapped).toMatchObject({ client: { ip: "198.51.100.7", port: 443 }, source: { ip: "198.51.100.7", port: 443 }, network: { type: "ipv4" } });
    const air = map({ ...tiMail, RecordType: 64, Operation: "AirInvestigationData", Data: JSON.stringify({ Entities: [{ Type: "ip", Address: "2001:DB8:0:0:0:0:0:77" }] }) });
    expect(air.related.ip).toContain("2001:db8::77");
  });
});

describe("guests and the acting user", () => {
  it("splits a SharePoint guest's login name into the person's email, name and domain; the id stays as sent", () => {
    const guest = "urn:spo:guest#kai.lee@fabrikam.example";
    const doc = map({ ...common, CreationTime: "2024-03-05T08:01:44", Id: "8b3c", Operation: "FileAccessed", RecordType: 6, UserKey: guest, Workload: "SharePoint", UserId: guest, ObjectId: "https://contoso.sharepoint.com/sites/Partners/Shared Documents/Roadmap.pptx" });
    expect(doc.user).toEqual({ id: guest, email: "kai.lee@fabrikam.example", name: "kai.lee", domain: "fabrikam.example" });
    expect(doc.related.user).toEqual(["kai.lee"]);
    expect(doc.o365.audit.UserId).toBe(guest);
    const claims = map({ ...common, Id: "8b3d", CreationTime: "2024-03-05T08:01:44", Operation: "FileAccessed", RecordType: 6, UserId: `i:0#.f|membership|${guest}` });
    expect(claims.user.email).toBe("kai.lee@fabrikam.example");
  });

  it("takes a SharePoint DLP match's acting user from SharePointMetaData.From, not the policy agent", () => {
    const doc = map({
      ...common,
      CreationTime: "2024-03-04T15:30:00",
      Id: "7a2b",
      Operation: "DLPRuleMatch",
      RecordType: 11,
      UserKey: "DlpAgent",
      Workload: "OneDrive",
      UserId: "DlpAgent",
      SharePointMetaData: { From: "Priya.Shah@Contoso.com", FileName: "Payroll & Bonus.docx", FileOwner: "Priya Shah", FilePathUrl: "https://contoso-my.sharepoint.com/personal/priya_shah_contoso_com/Documents/Payroll%20%26%20Bonus.docx?web=1", UniqueId: "9d8c", LastModifiedTime: "2024-03-04T15:28:02" },
      PolicyDetails: [{ PolicyId: "1e2d", PolicyName: "Payroll data", Rules: [{ RuleId: "2f3e", RuleName: "Salary tables", Actions: ["NotifyUser"], Severity: "Medium" }] }],
    });
    expect(doc.user).toEqual({ id: "Priya.Shah@Contoso.com", email: "Priya.Shah@Contoso.com", name: "Priya.Shah", domain: "Contoso.com" });
    expect(doc.related.user).toEqual(["Priya.Shah", "Priya Shah"]);
    expect(doc.o365.audit.UserId).toBe("DlpAgent");
    expect(doc.o365.audit.SharePointMetaData.From).toBeUndefined();
    expect(doc).toMatchObject({ event: { kind: "alert", severity: 3 }, rule: { name: ["Salary tables"] }, file: { name: "Payroll & Bonus.docx", owner: "Priya Shah" } });
  });

  it("takes an Exchange DLP match's acting user from ExchangeMetaData.From, who the alert's message names", () => {
    const doc = map({
      ...common,
      CreationTime: "2024-03-05T11:45:19",
      Id: "9c4d",
      Operation: "DlpRuleMatch",
      RecordType: 13,
      UserKey: "DlpAgent",
      Workload: "Exchange",
      UserId: "DlpAgent",
      ExchangeMetaData: { MessageID: "<BN8PR11MB0001@contoso.com>", From: "omar.haddad@contoso.com", To: ["buyer@fabrikam.example"], CC: ["lena.fischer@contoso.com"], BCC: [], Subject: "Card numbers for the renewal" },
      PolicyDetails: [{ PolicyId: "3a4b", PolicyName: "PCI", Rules: [{ RuleId: "4b5c", RuleName: "Credit card numbers", Actions: ["BlockAccess"], Severity: "High" }] }],
    });
    expect(doc.user).toEqual({ id: "omar.haddad@contoso.com", email: "omar.haddad@contoso.com", name: "omar.haddad", domain: "contoso.com" });
    expect(doc.related.user).toContain("omar.haddad");
    expect(doc).toMatchObject({
      event: { outcome: "failure", severity: 4 },
      source: { user: { email: "omar.haddad@contoso.com" } },
      email: { sender: { address: ["omar.haddad@contoso.com"] }, to: { address: ["buyer@fabrikam.example", "lena.fischer@contoso.com"] } },
      message: "Office365 Alert: DlpRuleMatch detected in email sent by omar.haddad@contoso.com with subject 'Card numbers for the renewal'",
    });
  });
});

describe("Defender for Office 365 records", () => {
  it("maps TIMailData to the message: sender, recipients, direction, delivery time, attachments and the sending IP", () => {
    const doc = map(tiMail);
    expect(doc.event).toMatchObject({ action: "TIMailData", code: "ThreatIntelligence", type: ["info", "denied"] });
    expect(map({ ...tiMail, DeliveryAction: "Delivered" }).event.type).toEqual(["info"]);
    expect(doc.email).toEqual({
      message_id: ["<20240306071001.ABC123@mail.fabrikam.example>"],
      local_id: ["b2c3d4e5-0002-4f60-9b0c-1d2e3f4a5b6c"],
      sender: { address: ["bounce@mail.fabrikam.example"] },
      from: { address: ["billing@fabrikam.example"] },
      to: { address: ["megan.bowen@contoso.com", "lena.fischer@contoso.com"] },
      subject: ["Overdue invoice 0412"],
      direction: "Inbound",
      delivery_timestamp: "2024-03-06T07:09:58.000Z",
      attachments: [{ file: { name: "Invoice_0412.HTM", extension: "HTM", hash: { sha256: tiMail.AttachmentData[0]!.SHA256 } } }],
    });
    expect(doc.source.ip).toBe("198.51.100.5");
    expect(doc.related).toMatchObject({ ip: ["198.51.100.5"], hash: [tiMail.AttachmentData[0]!.SHA256] });
    expect(doc.related.user).toEqual(expect.arrayContaining(["megan.bowen@contoso.com", "lena.fischer@contoso.com", "bounce@mail.fabrikam.example", "billing@fabrikam.example"]));
    // The raw fields stay where Elastic's dashboards read them; a verdict has no ECS field.
    expect(doc.o365.audit).toMatchObject({ SenderIp: "198.51.100.5", Verdict: "Malware", DeliveryAction: "Blocked", Directionality: "Inbound" });
  });

  it("maps TIUrlClickData to the URL, the clicking user's address and the message it was in", () => {
    const doc = map(urlClick);
    // Every part Elastic's uri_parts gives, escapes decoded, case kept.
    expect(doc.url).toEqual({
      original: urlClick.URL,
      scheme: "https",
      domain: "login.contoso-verify.com",
      path: "/Reset Password/verify.PHP",
      extension: "PHP",
      query: "u=megan",
      fragment: "step2",
      registered_domain: "contoso-verify.com",
      subdomain: "login",
      top_level_domain: "com",
    });
    expect(doc).toMatchObject({ client: { ip: "203.0.113.24" }, source: { ip: "203.0.113.24" }, network: { type: "ipv4" }, related: { ip: ["203.0.113.24"] } });
    expect(doc.email.local_id).toEqual([urlClick.SourceId]);
    expect(doc.user.email).toBe("megan.bowen@contoso.com");
    expect(map({ ...urlClick, AppName: "Teams" }).email).toBeUndefined();
  });

  it("maps FileMalwareDetected to the file: name, extension, path, size, hash, id, modification time, and its URL", () => {
    const doc = map(fileMalware);
    expect(doc.file).toEqual({
      name: "Q1 tooling.zip",
      extension: "zip",
      path: fileMalware.FileData.FilePath,
      size: 482113,
      inode: fileMalware.FileData.DocumentId,
      mtime: "2024-03-06T08:58:30.000Z",
      hash: { sha256: fileMalware.FileData.SHA256 },
    });
    expect(doc.url.original).toBe(fileMalware.FileData.FilePath);
    expect(doc.related).toMatchObject({ hash: [fileMalware.FileData.SHA256], user: expect.arrayContaining(["adele.vance@contoso.com"]) });
    expect(doc["@timestamp"]).toBe("2024-03-06T09:00:41.000Z");
  });

  it("maps the entities of an AIR investigation: sender, URL and its host, IPs, mailboxes, the file and its hashes", () => {
    const doc = map(air);
    expect(doc.event).toMatchObject({ action: "AirInvestigationData", code: "AirInvestigation" });
    expect(doc.email).toMatchObject({
      from: { address: ["billing@fabrikam.example"] },
      to: { address: ["megan.bowen@contoso.com"] },
      subject: ["Overdue invoice 0412"],
      local_id: ["b2c3d4e5-0002-4f60-9b0c-1d2e3f4a5b6c"],
      message_id: ["<20240306071001.ABC123@mail.fabrikam.example>"],
    });
    expect(doc.url.original).toBe("https://login.contoso-verify.com/reset.php");
    expect(doc.related.hosts).toEqual(["login.contoso-verify.com"]);
    expect(doc.related.ip).toEqual(expect.arrayContaining(["198.51.100.5", "198.51.100.77"]));
    expect(doc.related.user).toEqual(expect.arrayContaining(["megan.bowen@contoso.com"]));
    expect(doc.file).toEqual({ name: "Invoice_0412.HTM", extension: "HTM", hash: { sha256: airEntities[3]!.FileHashes![0]!.Value } });
    expect(doc.related.hash).toEqual([airEntities[3]!.FileHashes![0]!.Value]);
  });

  it("leaves url.* and file.* to related.* lists when an investigation names several URLs or files", () => {
    const several = [...airEntities, { Type: "url", Url: "https://other.example.net/x" }, { Type: "file", Name: "b.exe", FileHashes: [] }];
    const doc = map({ ...air, Data: JSON.stringify({ Entities: several }) });
    expect(doc.url).toBeUndefined();
    expect(doc.file).toBeUndefined();
    expect(doc.related.hosts).toEqual(["login.contoso-verify.com", "other.example.net"]);
  });
});

describe("values named like Object properties", () => {
  it("keeps an operation, a severity or a platform called constructor or toString as given", () => {
    const doc = map({ ...common, CreationTime: "2024-03-05T08:00:00", Id: "p1", RecordType: 8, Operation: "constructor", UserId: "admin@contoso.com", Severity: "toString", Platform: "constructor" });
    expect(doc.event.action).toBe("constructor");
    expect(doc.event.severity).toBeUndefined();
    expect(doc.o365.audit).toMatchObject({ Severity: "toString", Platform: "constructor" });
  });
});

describe("what a record gives is never changed, and odd values are kept", () => {
  it("appends later senders to the document's own list, not to a list in the record", () => {
    const record = { ...tiMail, Parameters: [{ Name: "From", Value: ["a@contoso.com"] }] };
    const frozen = structuredClone(record);
    const doc = map(record);
    expect(doc.email.from.address).toEqual(["a@contoso.com", "billing@fabrikam.example"]);
    expect(record).toEqual(frozen);
  });

  it("keeps a SharePoint DLP From that names no one under o365.audit", () => {
    const doc = map({ ...common, CreationTime: "2024-03-04T15:30:00", Id: "d1", Operation: "DLPRuleMatch", RecordType: 11, UserId: "DlpAgent", SharePointMetaData: { From: "", FileName: "a.docx" } });
    expect(doc.user.id).toBe("DlpAgent");
    expect(doc.o365.audit.SharePointMetaData.From).toBe("");
  });

  it("puts AIR file hashes given as bare strings in related.hash, and IPv6 URL hosts without brackets in related.hosts", () => {
    const entities = [{ Type: "file", Name: "a.exe", FileHashes: ["d41d8cd98f00b204e9800998ecf8427e"] }, { Type: "url", Url: "https://[2001:db8::9]/x" }];
    const doc = map({ ...air, Data: JSON.stringify({ Entities: entities }) });
    expect(doc.related.hash).toEqual(["d41d8cd98f00b204e9800998ecf8427e"]);
    expect(doc.related.hosts).toEqual(["2001:db8::9"]);
  });
});

describe("the presence mask skips no field a record carries", () => {
  // Every raw field the copy and e-mail tables read, added to records of several types: its ECS field is set.
  const nested = (path: string, value: unknown): Record<string, unknown> =>
    path.split(".").reduceRight<unknown>((inner, key) => ({ [key]: inner }), value) as Record<string, unknown>;
  const sources = [
    ...FIELD_COPIES.flatMap((copy) => copy.from.map((from) => ({ from: from.replace(/^o365\.audit\./, ""), to: copy.to }))),
    ...EMAIL_SOURCES.filter(([from]) => from.startsWith("o365.audit.")).map(([from, to]) => ({ from: from.slice("o365.audit.".length), to })),
  ];
  // (Not FileMalwareDetected: its own FileData decides file.*.)
  const bases = [tiMail, urlClick, { ...common, CreationTime: "2024-03-05T08:00:00", Id: "y1", RecordType: 22, Operation: "FileVisited", UserId: "u@contoso.com" }];
  it.each(sources)("$from → $to", ({ from, to }) => {
    const value = to.endsWith(".ip") ? "198.51.100.9" : "value-1";
    for (const base of bases) {
      const record: Record<string, unknown> = { ...base };
      for (const key of Object.keys(nested(from, value))) delete record[key];
      const doc = map({ ...record, ...nested(from, value) });
      const found = to.split(".").reduce<any>((node, key) => node?.[key], doc);
      expect([found].flat()).toContain(value);
    }
  });
});
