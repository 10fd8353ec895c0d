/**
 * The mapping as data: which raw fields move where for each record type, how actions are renamed,
 * and which ECS categories and types an event gets. Order within each table is the order values
 * are appended, which is the order Elastic's documents have them in.
 */

/**
 * A table looked up with values from records (operations, severities, platform codes): it has no
 * prototype, so a value named like an Object property ("constructor", "toString") finds nothing.
 */
function lookup<T>(entries: Record<string, T>): Readonly<Record<string, T | undefined>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, T>, entries));
}

/** Field moves per record type name (event.code): raw field → ECS (or temporary) field. */
export const FIELD_MOVES: Readonly<Record<string, readonly [string, string][]>> = {
  ExchangeAdmin: [
    ["OrganizationName", "organization.name"],
    ["OriginatingServer", "server._temp"],
  ],
  ExchangeItem: [
    ["MailboxOwnerUPN", "user.email"],
    ["LogonUserDisplayName", "user.full_name"],
    ["OrganizationName", "organization.name"],
    ["OriginatingServer", "server._temp"],
    ["ClientProcessName", "process.name"],
  ],
  SharePointFileOperation: [
    ["ObjectId", "url.original"],
    ["SourceRelativeUrl", "file.directory"],
    ["SourceFileName", "file.name"],
    ["SourceFileExtension", "file.extension"],
  ],
  SecurityComplianceAlerts: [
    ["Name", "rule.name"],
    ["PolicyId", "rule.id"],
    ["Category", "rule.category"],
    ["EntityType", "rule.ruleset"],
    ["AlertEntityId", "rule.description"],
    ["AlertLinks", "rule.reference"],
  ],
  ComplianceDLP: [
    ["SharePointMetaData.FileName", "file.name"],
    ["SharePointMetaData.FilePathUrl", "url.original"],
    ["SharePointMetaData.UniqueId", "file.inode"],
    ["SharePointMetaData.UniqueID", "file.inode"],
    ["SharePointMetaData.FileOwner", "file.owner"],
    ["ExchangeMetaData.From", "source.user.email"],
    ["PolicyId", "rule.id"],
    ["PolicyName", "rule.name"],
  ],
  Yammer: [
    ["ActorUserId", "user.email"],
    ["FileId", "file.inode"],
    ["FileName", "file.name"],
    ["GroupName", "group.name"],
    ["TargetUserId", "destination.user.email"],
    ["TargetYammerUserId", "destination.user.id"],
  ],
  MicrosoftTeams: [["TeamName", "group.name"]],
};

/** Record types that share another's field moves. */
export const SCHEMA_ALIASES: Readonly<Record<string, string>> = {
  SharePointSharingOperation: "SharePointFileOperation",
  ComplianceDLPSharePoint: "ComplianceDLP",
  ComplianceDLPExchange: "ComplianceDLP",
};

/** Operations that get an ECS-style action name, per record type. */
export const ACTION_RENAMES: Readonly<Record<string, Readonly<Record<string, string | undefined>>>> = {
  AzureActiveDirectory: lookup({ "Add user.": "added-user-account", "Update user.": "modified-user-account", "Delete user.": "deleted-user-account" }),
  MicrosoftTeams: lookup({ TeamCreated: "added-group-account-to", MemberAdded: "added-users-to-group", "Delete user.": "deleted-user-account" }),
};

export interface CategoryRule {
  /** Record type names (event.code) the rule applies to; any when absent. */
  codes?: readonly string[];
  /** event.action values (after renaming) the rule applies to; any when absent. */
  actions?: readonly string[];
  categories?: readonly string[];
  types?: readonly string[];
}

const FILE_ACTIONS = ["FileAccessed", "FileDeleted", "FileDownloaded", "FileModified", "FileMoved", "FileRenamed", "FileRestored", "FileUploaded", "FolderCopied", "FolderCreated", "FolderDeleted", "FolderModified", "FolderMoved", "FolderRenamed", "FolderRestored"];
const DLP = ["ComplianceDLPSharePoint", "ComplianceDLPExchange"];
const YAMMER_CONFIG = ["NetworkConfigurationUpdated", "NetworkSecurityConfigurationUpdated", "SoftDeleteSettingsUpdated", "ProcessProfileFields", "SupervisorAdminToggled"];

/** Category and type rules, in the order their values are appended. */
export const CATEGORY_RULES: readonly CategoryRule[] = [
  { codes: ["ExchangeItem"], categories: ["email"] },
  { codes: ["AzureActiveDirectory"], actions: ["added-user-account"], categories: ["iam"], types: ["user", "creation"] },
  { codes: ["AzureActiveDirectory"], actions: ["modified-user-account"], categories: ["iam"], types: ["user", "change"] },
  { codes: ["AzureActiveDirectory"], actions: ["deleted-user-account"], categories: ["iam"], types: ["user", "deletion"] },
  { codes: ["AzureActiveDirectoryStsLogon"], categories: ["authentication"], types: ["start", "access"] },
  { actions: FILE_ACTIONS, categories: ["file"] },
  { actions: ["ComplianceSettingChanged"], categories: ["configuration"] },
  { actions: ["FileAccessed", "FileDownloaded"], types: ["access"] },
  { actions: ["ComplianceSettingChanged", "FileModified", "FileMoved", "FileRenamed", "FileRestored", "FolderModified", "FolderMoved", "FolderRenamed", "FolderRestored"], types: ["change"] },
  { actions: ["FileDeleted", "FolderDeleted"], types: ["deletion"] },
  { actions: ["FileUploaded", "FolderCopied", "FolderCreated"], types: ["creation"] },
  { codes: DLP, categories: ["file"], types: ["access"] },
  { codes: ["Yammer"], actions: YAMMER_CONFIG, categories: ["configuration"], types: ["change"] },
  { codes: ["Yammer"], actions: ["NetworkSecurityConfigurationUpdated", "GroupCreation", "GroupDeletion", "NetworkUserSuspended", "UserSuspension"], categories: ["iam"] },
  { codes: ["Yammer"], actions: ["FileCreated", "FileDownloaded", "FileShared", "FileUpdateDescription", "FileUpdateName", "FileVisited"], categories: ["file"] },
  { codes: ["Yammer"], actions: ["NetworkSecurityConfigurationUpdated"], types: ["admin"] },
  { codes: ["Yammer"], actions: ["FileCreated", "GroupCreation", "FileUpdateName"], types: ["creation"] },
  { codes: ["Yammer"], actions: ["GroupDeletion"], types: ["deletion"] },
  { codes: ["Yammer"], actions: ["FileDownloaded", "FileShared", "FileUpdateDescription", "FileVisited"], types: ["access"] },
  { codes: ["Yammer"], actions: ["GroupCreation", "GroupDeletion"], types: ["group"] },
  { codes: ["MicrosoftTeams"], actions: ["added-group-account-to"], categories: ["iam"], types: ["group", "creation"] },
  { codes: ["MicrosoftTeams"], actions: ["added-users-to-group"], categories: ["iam"], types: ["group", "change"] },
  { codes: ["MicrosoftTeams"], actions: ["deleted-user-account"], categories: ["iam"], types: ["user", "deletion"] },
  { codes: ["ExchangeItemAggregated"], categories: ["email"], types: ["access"] },
];

/** Severity words → event.severity (Elastic matches them in lower case only). */
export const SEVERITIES = lookup({ informational: 1, low: 2, medium: 3, high: 4 });

/** AIP `Platform` codes, from Microsoft's Aip* schema pages. */
export const PLATFORMS = lookup({ "0": "Unknown", "1": "Windows", "2": "MacOS", "3": "iOS", "4": "Android", "5": "Web Browser" });

/** Raw fields that Elastic keeps as strings whatever their JSON type. */
export const STRING_FIELDS = ["AzureActiveDirectoryEventType", "RecordType", "UserType", "Version", "InternalLogonType", "LogonType", "ActorYammerUserId", "YammerNetworkId", "ListBaseType"];

/** Keys of a Security & Compliance alert's `Data` that are mapped explicitly beside `Data.flattened`. */
export const ALERT_DATA_KEYS = [
  "ad", "af", "aii", "ail", "alk", "als", "an", "at", "cid", "cpid", "dm", "dpn", "eid", "etps", "etype", "f3u", "fvs",
  "imsgid", "lon", "mat", "md", "ms", "od", "op", "ot", "plk", "pud", "reid", "rid", "sev", "sict", "sid", "sip", "sitmi",
  "srt", "ssic", "suid", "tdc", "te", "thn", "tht", "tid", "tpid", "tpt", "trc", "ts", "tsd", "ttdt", "ttr", "upfc", "upfv",
  "ut", "von", "wl", "zfh", "zfn", "zmfh", "zmfn", "zu",
];
export const ALERT_DATA_DATES = ["at", "md", "te", "ts", "ttdt"];

/**
 * Some alert `Data` (AIR investigations, and `Actions` entries) carry `QueryTime` twice, once as
 * ISO 8601 and once as US text ("9/30/2024 6:16:41 AM"); Elastic drops the text one before parsing,
 * and so the ISO one is what remains whatever the order.
 */
export const US_QUERY_TIME = /,"QueryTime":"[0-9/]+\s[0-9]+:[0-9]+:[0-9]+\s[AP]M"|"QueryTime":"[0-9/]+\s[0-9]+:[0-9]+:[0-9]+\s[AP]M",/g;

/**
 * Extra related.user / related.hosts sources by record type (Elastic adds them for these types
 * only), in the order they are appended after the common ones (user.name, user.target.name, file.owner).
 */
export const RELATED_BY_TYPE: Readonly<Record<string, { users: readonly string[]; hosts: readonly string[] }>> = {
  ExchangeItem: { users: ["user.id", "user.email"], hosts: ["host.name", "user.domain", "server.domain"] },
  CopilotInteraction: { users: ["user.id", "user.email"], hosts: ["host.name", "user.domain", "server.domain"] },
  SecurityComplianceAlerts: { users: ["user.id"], hosts: ["host.name", "user.domain"] },
};

/**
 * Fields copied to ECS while the raw field stays under o365.audit (Elastic's `set copy_from`):
 * the first source with a value wins. `early` ones are set before the per-record-type mapping
 * (which may override them), the rest after it, from the document (`o365.audit.*` paths).
 */
export const FIELD_COPIES: readonly { to: string; from: readonly string[]; early?: true }[] = [
  { to: "file.extension", from: ["FileExtension"], early: true },
  { to: "file.hash.sha1", from: ["Sha1"], early: true },
  { to: "file.hash.sha256", from: ["Sha256"], early: true },
  { to: "file.path", from: ["FilePath", "TargetFilePath"], early: true },
  { to: "file.size", from: ["FileSizeBytes", "FileSize"], early: true },
  { to: "process.name", from: ["Application"], early: true },
  { to: "url.domain", from: ["OriginatingDomain"], early: true },
  { to: "device.id", from: ["o365.audit.AppAccessContext.DeviceId", "o365.audit.ExtendedProperties.additionalDetails.DeviceId"] },
  { to: "session.id", from: ["o365.audit.AppAccessContext.AADSessionId"] },
  { to: "token.id", from: ["o365.audit.AppAccessContext.UniqueTokenId"] },
  { to: "application.name", from: ["o365.audit.ApplicationDisplayName"] },
];

/**
 * E-mail fields gathered from any record type, in Elastic's order: each non-empty value (or each
 * element of a list) is appended once.
 */
export const EMAIL_SOURCES: readonly [from: string, to: string][] = [
  ["o365.audit.InternetMessageId", "email.message_id"],
  ["o365.audit.Item.InternetMessageId", "email.message_id"],
  ["o365.audit.NetworkMessageId", "email.local_id"],
  ["o365.audit.P1Sender", "email.sender.address"],
  ["source.user.email", "email.sender.address"],
  ["o365.audit.Recipients", "email.to.address"],
  ["destination.user.email", "email.to.address"],
  ["o365.audit.SenderIp", "related.ip"],
  ["o365.audit.SenderIP", "related.ip"],
  ["o365.audit.Subject", "email.subject"],
  ["o365.audit.Item.Subject", "email.subject"],
];

/** Exchange admin cmdlet parameters that forward or redirect mail: `;`-separated addresses, added to email.to.address. */
export const FORWARDING_PARAMETERS = ["ForwardAsAttachmentTo", "ForwardTo", "RedirectTo"];

/** Raw date fields kept under o365.audit, normalized to ISO 8601 UTC like every other date. */
export const AUDIT_DATES = ["EndTimeUtc", "LastUpdateTimeUtc", "StartTimeUtc", "StartTime", "FilteringDate", "RescanResult.Timestamp"];

/** o365.audit fields renamed for one record type, where the raw name means something else elsewhere. */
export const AUDIT_RENAMES: Readonly<Record<string, readonly [string, string][]>> = {
  ExchangeItemAggregated: [
    ["Messages", "ExchangeAggregatedMessages"],
    ["Folders", "ExchangeAggregatedFolders"],
  ],
};

/** Alert `Data` keys naming a user, added to related.user when they look like an address (one `@`). */
export const ALERT_DATA_USERS = ["f3u", "suid", "tsd", "trc"];

/** Alert `Data` keys that describe the e-mail the alert is about, appended in this order. */
export const ALERT_EMAIL_FIELDS: readonly [string, string][] = [
  ["tsd", "email.sender.address"],
  ["trc", "email.to.address"],
  ["aii", "email.local_id"],
  ["imsgid", "email.message_id"],
  ["ms", "email.subject"],
];

/**
 * Keys of the entities an alert's `Data.Entities` lists, and where their values go
 * (`o365.audit.*` targets hold the list of values as it is).
 */
export const ALERT_ENTITY_FIELDS: readonly [key: string, to: string][] = [
  ["InternetMessageId", "email.message_id"],
  ["NetworkMessageId", "email.local_id"],
  ["P1Sender", "email.sender.address"],
  ["P2Sender", "email.from.address"],
  ["Recipient", "email.to.address"],
  ["SenderIP", "related.ip"],
  ["Subject", "email.subject"],
  ["Upn", "related.user"],
  ["OriginalDeliveryLocation", "o365.audit.OriginalDeliveryLocation"],
  ["PhishConfidenceLevel", "o365.audit.PhishConfidenceLevel"],
];

/** Raw fields that arrive as JSON text and are kept parsed. */
export const STRINGLY_JSON_FIELDS = ["OperationProperties", "AdditionalInfo"];

/** The AIR record types (automated, manual and admin-action investigations), which share one shape. */
export const AIR_INVESTIGATIONS: ReadonlySet<string> = new Set(["AirInvestigation", "AirManualInvestigation", "AirAdminActionInvestigation"]);

/**
 * A record's own time where it has no `CreationTime` (Microsoft marks it mandatory, but records arrive
 * without it): the family's own time fields, first that holds a date. Alerts and AIR records in alert
 * shape carry theirs in `Data` (`te`, the end of the alert's window, then `ts`). From the Management
 * Activity API schema: TIMailData `MessageTime`, TIUrlClickData `TimeOfClick`, AIR `LastUpdateTimeUtc`
 * / `StartTimeUtc`, cmdlet records `StartTime`.
 */
export const RECORD_TIMES: Readonly<Record<string, readonly string[]>> = {
  ThreatIntelligence: ["MessageTime"],
  ThreatIntelligenceUrl: ["TimeOfClick"],
  AirInvestigation: ["LastUpdateTimeUtc", "StartTimeUtc"],
  AirManualInvestigation: ["LastUpdateTimeUtc", "StartTimeUtc"],
  AirAdminActionInvestigation: ["LastUpdateTimeUtc", "StartTimeUtc"],
  SecurityComplianceCenterEOPCmdlet: ["StartTime"],
  DataCenterSecurityCmdlet: ["StartTime"],
};
export const DATA_TIMES = ["te", "ts"];

/**
 * Where a record type without a client address field says which address acted (read, not moved:
 * Elastic keeps them under o365.audit). TIMailData: the IP that submitted the mail; TIUrlClickData:
 * the IP of the user who clicked.
 */
export const ACTOR_ADDRESS_FIELDS: Readonly<Record<string, string>> = {
  ThreatIntelligence: "SenderIp",
  ThreatIntelligenceUrl: "UserIp",
};

/**
 * Defender for Office 365 fields copied to ECS (the raw fields stay under o365.audit, where Elastic's
 * dashboards read them): per record type, raw path → ECS path. Dates are normalized like every date.
 */
export const DEFENDER_COPIES: Readonly<Record<string, readonly [from: string, to: string][]>> = {
  ThreatIntelligence: [
    ["Directionality", "email.direction"],
    ["MessageTime", "email.delivery_timestamp"],
  ],
  ThreatIntelligenceUrl: [["URL", "url.original"]],
  ThreatIntelligenceAtpContent: [
    ["FileData.FileName", "file.name"],
    ["FileData.FilePath", "file.path"],
    ["FileData.SHA256", "file.hash.sha256"],
    ["FileData.DocumentId", "file.inode"],
    ["LastModifiedDate", "file.mtime"],
  ],
};

/** ECS fields of DEFENDER_COPIES that hold dates. */
export const DEFENDER_DATES = new Set(["email.delivery_timestamp", "file.mtime"]);

/** File hash algorithms as AIR file entities name them → ECS file.hash.* keys (others go to related.hash only). */
export const HASH_ALGORITHMS = lookup({ MD5: "md5", SHA1: "sha1", SHA256: "sha256" });
