import { splitEmail } from "../../../ecs/address.js";
import { isoTimestamp } from "../../../ecs/dates.js";
import { appendPath, appendRelated, type Doc, getPath, isMap, setPath } from "../../../ecs/doc.js";
import { urlParts } from "../../../ecs/url.js";
import { DEFENDER_COPIES, DEFENDER_DATES, HASH_ALGORITHMS } from "./tables.js";

/**
 * Defender for Office 365 records carry the message, the URL and the file a detection is about;
 * Elastic's pipeline maps only their mail identifiers. These put them in ECS (`email.*`, `url.*`,
 * `file.*`, `related.*`), from the fields Microsoft documents in the Management Activity API schema
 * ("Microsoft Defender for Office 365 and Threat Investigation and Response schema", "Automated
 * investigation and response (AIR) events"). The raw fields stay under o365.audit; a verdict or a
 * delivery action has no ECS field and stays there only.
 */
export function mapDefender(code: string | undefined, audit: Doc, doc: Doc): void {
  if (code === undefined) return;
  for (const [from, to] of DEFENDER_COPIES[code] ?? []) {
    const value = getPath(audit, from);
    if (value === undefined || value === null || value === "") continue;
    const written = DEFENDER_DATES.has(to) ? isoTimestamp(value) : value;
    if (written !== undefined) setPath(doc, to, written);
  }
  FAMILIES[code]?.(audit, doc);
}

/** Per record family, what a plain copy cannot say. */
const FAMILIES: Readonly<Record<string, (audit: Doc, doc: Doc) => void>> = {
  /** TIMailData: the From: sender, the attachments and their hashes, and everyone the message involves. */
  ThreatIntelligence(audit, doc) {
    if (isText(audit.P2Sender)) appendPath(doc, "email.from.address", audit.P2Sender, false);
    for (const attachment of list(audit.AttachmentData)) {
      if (!isMap(attachment) || !isText(attachment.FileName)) continue;
      appendPath(doc, "email.attachments", { file: fileFields(attachment.FileName, isText(attachment.SHA256) ? { sha256: attachment.SHA256 } : {}) });
      if (isText(attachment.SHA256)) appendRelated(doc, "hash", attachment.SHA256);
    }
    for (const user of [...list(audit.Recipients), audit.P1Sender, audit.P2Sender]) addRelatedUser(doc, user);
    // ECS has no delivery action field; a message the service blocked is an event of type denied.
    if (audit.DeliveryAction === "Blocked") appendPath(doc, "event.type", "denied", false);
  },
  /** TIUrlClickData: for mail, SourceId is the message's network message id. */
  ThreatIntelligenceUrl(audit, doc) {
    if (isText(audit.SourceId) && typeof audit.AppName === "string" && audit.AppName.toLowerCase() === "mail") appendPath(doc, "email.local_id", audit.SourceId, false);
  },
  /** FileMalwareDetected: the file's extension and size, its location as a URL when it is one, who changed it last. */
  ThreatIntelligenceAtpContent(audit, doc) {
    const data = isMap(audit.FileData) ? audit.FileData : {};
    const extension = isText(data.FileName) ? extensionOf(data.FileName) : undefined;
    if (extension !== undefined) setPath(doc, "file.extension", extension);
    // Documented as a string of bytes; only digits are a size.
    if (typeof data.FileSize === "number" || (typeof data.FileSize === "string" && /^\d+$/.test(data.FileSize))) setPath(doc, "file.size", Number(data.FileSize));
    if (isText(data.FilePath) && /^https?:\/\//i.test(data.FilePath)) setPath(doc, "url.original", data.FilePath);
    if (isText(data.SHA256)) appendRelated(doc, "hash", data.SHA256);
    addRelatedUser(doc, audit.LastModifiedBy);
  },
};

/**
 * The entities of an alert's or an AIR investigation's `Data` beyond the mail identifiers Elastic maps
 * (mapAlertData): senders, attachments, URLs and their hosts, IPs, mailboxes, files and hashes. A single
 * URL or file becomes `url.*` / `file.*`; several stay lists in related.* only, as ECS has one of each.
 */
export function mapEntities(entities: readonly Doc[], doc: Doc, ipOf: (value: unknown) => string | undefined): void {
  const urls = new Set<string>();
  const files: Doc[] = [];
  for (const entity of entities) {
    if (isText(entity.Sender)) appendPath(doc, "email.from.address", entity.Sender, false);
    for (const file of list(entity.Files)) if (isMap(file) && isText(file.Name)) appendPath(doc, "email.attachments", { file: fileFields(file.Name, hashesOf(file, doc)) });
    // A mail message's Urls are URL entities ({Type: "url", Url}); a URL entity carries its own.
    for (const url of [...list(entity.Urls).map((item) => (isMap(item) ? item.Url : item)), entity.Url]) if (isText(url)) urls.add(url);
    const ip = entity.Type === "ip" ? ipOf(entity.Address) : undefined;
    if (ip !== undefined) appendRelated(doc, "ip", ip);
    addRelatedUser(doc, entity.MailboxPrimaryAddress);
    if (entity.Type === "file" && isText(entity.Name)) files.push(entity);
  }
  for (const url of urls) {
    const host = hostOf(url);
    if (host !== undefined) appendRelated(doc, "hosts", host);
  }
  if (urls.size === 1 && getPath(doc, "url.original") === undefined) setPath(doc, "url.original", [...urls][0]);
  const hashes = files.map((file) => hashesOf(file, doc));
  if (files.length === 1 && getPath(doc, "file.name") === undefined) {
    const { hash, ...file } = fileFields(files[0]!.Name as string, hashes[0]!);
    doc.file = { ...(isMap(doc.file) ? doc.file : {}), ...file, ...(hash ? { hash } : {}) };
  }
}

/** A file entity's hashes as ECS file.hash.* (known algorithms), every value also in related.hash. */
function hashesOf(file: Doc, doc: Doc): Record<string, unknown> {
  const hash: Record<string, unknown> = {};
  for (const entry of list(file.FileHashes)) {
    // Documented as strings; records carry FileHash entities ({Algorithm, Value}). A bare string has no algorithm.
    if (isText(entry)) appendRelated(doc, "hash", entry);
    if (!isMap(entry) || !isText(entry.Value)) continue;
    appendRelated(doc, "hash", entry.Value);
    const algorithm = typeof entry.Algorithm === "string" ? HASH_ALGORITHMS[entry.Algorithm.toUpperCase()] : undefined;
    if (algorithm !== undefined) hash[algorithm] = entry.Value;
  }
  return hash;
}

/** ECS file fields of a named file: its name, the extension after the last dot (as written), its hashes. */
function fileFields(name: string, hash: Record<string, unknown>): Doc {
  const extension = extensionOf(name);
  return { name, ...(extension !== undefined ? { extension } : {}), ...(Object.keys(hash).length > 0 ? { hash } : {}) };
}

function extensionOf(name: string): string | undefined {
  const dot = name.lastIndexOf(".");
  return dot >= 0 && dot < name.length - 1 ? name.slice(dot + 1) : undefined;
}

/** The host of a URL as url.domain would hold it, an IPv6 one without its brackets (a host name, not a URL part). */
function hostOf(url: string): string | undefined {
  const domain = urlParts(url)?.domain;
  return typeof domain === "string" && domain !== "" ? domain.replace(/^\[(.*)\]$/, "$1") : undefined;
}

/** An address-shaped user (exactly one `@`, Elastic's test for users in alert Data) goes to related.user. */
function addRelatedUser(doc: Doc, value: unknown): void {
  if (typeof value === "string" && splitEmail(value) !== undefined) appendRelated(doc, "user", value);
}

function isText(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
}
