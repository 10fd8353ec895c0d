import type { ContentType } from "../../../entra/clouds.js";

/**
 * Realistic audit records for the simulator, deterministic from a seed. Shapes follow Microsoft's
 * Management Activity API schema documentation (common schema plus each workload's extras).
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** mulberry32: small, fast, good enough for test data. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  uuid(): string {
    const hex = Array.from({ length: 32 }, () => Math.floor(this.next() * 16).toString(16)).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${"89ab"[this.int(0, 3)]}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }
}

export interface TenantProfile {
  id: string;
  domain: string;
}

const FIRST = ["alex", "sam", "jordan", "maria", "li", "fatima", "noah", "olga", "raj", "chen", "ana", "tom"];
const LAST = ["smith", "garcia", "kim", "nguyen", "muller", "rossi", "dubois", "tanaka", "silva", "novak"];
export const USER_AGENTS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
  "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
  "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17425; Pro)",
  "Microsoft SkyDriveSync 24.066.0327.0003 ship; Windows NT 10.0 (19045)",
  "OneDriveMpc-Transform_Thumbnail/1.0",
];
const FILES = ["Budget 2025.xlsx", "roadmap.pptx", "contract-final.docx", "notes.txt", "logo.png", "export.csv", "Q3 results.pdf"];

function ip(prng: Prng): string {
  if (prng.chance(0.25)) {
    return `2001:db8:${prng.int(0, 0xffff).toString(16)}:${prng.int(0, 0xffff).toString(16)}::${prng.int(1, 0xffff).toString(16)}`;
  }
  return `${prng.pick([81, 89, 145, 176, 203, 216])}.${prng.int(0, 255)}.${prng.int(0, 255)}.${prng.int(1, 254)}`;
}

function user(prng: Prng, tenant: TenantProfile): string {
  return `${prng.pick(FIRST)}.${prng.pick(LAST)}@${tenant.domain}`;
}

/** CreationTime as the API writes it: UTC, to the second, no zone designator. */
function creationTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

function common(prng: Prng, tenant: TenantProfile, at: number, recordType: number, operation: string, workload: string, userId: string) {
  return {
    CreationTime: creationTime(at),
    Id: prng.uuid(),
    Operation: operation,
    OrganizationId: tenant.id,
    RecordType: recordType,
    ResultStatus: "Succeeded",
    UserKey: prng.chance(0.5) ? `10037FFE${prng.int(10_000_000, 99_999_999)}` : prng.uuid(),
    UserType: 0,
    Version: 1,
    Workload: workload,
    UserId: userId,
  };
}

type Generator = (prng: Prng, tenant: TenantProfile, at: number) => Record<string, unknown>;

const azureActiveDirectory: Generator = (prng, tenant, at) => {
  const userId = user(prng, tenant);
  const clientIp = ip(prng);
  if (prng.chance(0.7)) {
    const failed = prng.chance(0.15);
    return {
      ...common(prng, tenant, at, 15, failed ? "UserLoginFailed" : "UserLoggedIn", "AzureActiveDirectory", userId),
      ResultStatus: failed ? "Failed" : "Success",
      AzureActiveDirectoryEventType: 1,
      ClientIP: clientIp,
      ActorIpAddress: clientIp,
      ActorContextId: tenant.id,
      InterSystemsId: prng.uuid(),
      IntraSystemId: prng.uuid(),
      ObjectId: "00000003-0000-0ff1-ce00-000000000000",
      ApplicationId: "00000002-0000-0ff1-ce00-000000000000",
      Actor: [{ ID: prng.uuid(), Type: 0 }, { ID: userId, Type: 5 }],
      Target: [{ ID: "00000003-0000-0ff1-ce00-000000000000", Type: 0 }],
      TargetContextId: tenant.id,
      ExtendedProperties: [
        { Name: "ResultStatusDetail", Value: failed ? "Redirect" : "Success" },
        { Name: "UserAgent", Value: prng.pick(USER_AGENTS) },
        { Name: "RequestType", Value: prng.pick(["OAuth2:Authorize", "OAuth2:Token", "Login:login", "SAS:ProcessAuth"]) },
        { Name: "KeepMeSignedIn", Value: prng.chance(0.5) ? "True" : "False" },
      ],
      ModifiedProperties: [],
      DeviceProperties: [
        { Name: "OS", Value: prng.pick(["Windows 10", "MacOs", "Ios", "Android"]) },
        { Name: "BrowserType", Value: prng.pick(["Edge", "Chrome", "Safari", "Firefox"]) },
      ],
      ...(failed ? { LogonError: prng.pick(["InvalidPasswordExpiredPassword", "InvalidUserNameOrPassword", "UserAccountNotFound"]), ErrorNumber: "50126" } : {}),
    };
  }
  const target = user(prng, tenant);
  const operation = prng.pick(["Add user.", "Update user.", "Delete user.", "Add member to role.", "Reset user password."]);
  return {
    ...common(prng, tenant, at, 8, operation, "AzureActiveDirectory", user(prng, tenant)),
    ResultStatus: "Success",
    AzureActiveDirectoryEventType: 1,
    ObjectId: target,
    Actor: [{ ID: `admin@${tenant.domain}`, Type: 5 }, { ID: prng.uuid(), Type: 3 }],
    Target: [{ ID: `User_${prng.uuid()}`, Type: 2 }, { ID: target, Type: 5 }],
    ExtendedProperties: [{ Name: "additionalDetails", Value: "{}" }, { Name: "extendedAuditEventCategory", Value: "User" }],
    ModifiedProperties: operation === "Update user." ? [{ Name: "AccountEnabled", NewValue: '[\r\n  false\r\n]', OldValue: '[\r\n  true\r\n]' }] : [],
  };
};

const exchange: Generator = (prng, tenant, at) => {
  const userId = user(prng, tenant);
  const roll = prng.next();
  if (roll < 0.3) {
    const cmdlet = prng.pick(["Set-Mailbox", "New-InboxRule", "Add-MailboxPermission", "Set-TransportRule"]);
    return {
      ...common(prng, tenant, at, 1, cmdlet, "Exchange", `admin@${tenant.domain}`),
      ResultStatus: "True",
      ObjectId: userId,
      OrganizationName: tenant.domain,
      OriginatingServer: `AM${prng.int(1, 9)}PR0${prng.int(1, 9)}MB${prng.int(1000, 9999)} (15.20.7452.000)`,
      ExternalAccess: false,
      Parameters: [
        { Name: "Identity", Value: userId },
        cmdlet === "New-InboxRule"
          ? { Name: "ForwardTo", Value: `exfil@${prng.pick(["example.net", "example.org"])}` }
          : { Name: "DeliverToMailboxAndForward", Value: "True" },
      ],
    };
  }
  const clientIp = ip(prng);
  const operation = prng.pick(["MailItemsAccessed", "Send", "Update", "SoftDelete", "MoveToDeletedItems"]);
  if (operation === "MailItemsAccessed") {
    // Mailbox reads come aggregated (ExchangeItemAggregated): folders and the messages read in each.
    return {
      ...common(prng, tenant, at, 50, operation, "Exchange", userId),
      ClientIPAddress: clientIp,
      ClientInfoString: "Client=REST;Client=RESTSystem;;",
      ExternalAccess: false,
      InternalLogonType: 0,
      LogonType: 0,
      MailboxGuid: prng.uuid(),
      MailboxOwnerUPN: userId,
      OperationCount: 2,
      OperationProperties: [{ Name: "MailAccessType", Value: prng.pick(["Bind", "Sync"]) }, { Name: "IsThrottled", Value: "False" }],
      OrganizationName: tenant.domain,
      OriginatingServer: `DB${prng.int(1, 9)}PR0${prng.int(1, 9)}MB${prng.int(1000, 9999)} (15.20.7452.000)\r\n`,
      Folders: [
        {
          FolderItems: [
            { InternetMessageId: `<${prng.uuid()}@${tenant.domain}>`, SizeInBytes: prng.int(2_000, 400_000) },
            { InternetMessageId: `<${prng.uuid()}@${tenant.domain}>`, SizeInBytes: prng.int(2_000, 400_000) },
          ],
          Id: prng.uuid(),
          Path: "\\Inbox",
        },
      ],
    };
  }
  const grouped = operation === "SoftDelete" || operation === "MoveToDeletedItems";
  return {
    ...common(prng, tenant, at, grouped ? 3 : 2, operation, "Exchange", userId),
    ClientIP: clientIp.includes(":") ? `[${clientIp}]:${prng.int(1024, 65535)}` : clientIp,
    ClientIPAddress: clientIp,
    ClientInfoString: prng.pick(["Client=OWA;Action=ViaProxy", "Client=REST;Client=RESTSystem;;", "Client=MSExchangeRPC"]),
    ExternalAccess: false,
    InternalLogonType: 0,
    LogonType: 0,
    LogonUserSid: `S-1-5-21-${prng.int(1e9, 4e9)}-${prng.int(1e8, 9e8)}-${prng.int(1e8, 9e8)}-${prng.int(1000, 99999)}`,
    MailboxGuid: prng.uuid(),
    MailboxOwnerUPN: userId,
    OrganizationName: tenant.domain,
    OriginatingServer: `DB${prng.int(1, 9)}PR0${prng.int(1, 9)}MB${prng.int(1000, 9999)} (15.20.7452.000)\r\n`,
    ...(grouped
      ? { AffectedItems: [{ Id: prng.uuid(), InternetMessageId: `<${prng.uuid()}@${tenant.domain}>`, Subject: "Re: invoice", ParentFolder: { Path: "\\Inbox" } }] }
      : {
          Item: {
            Id: prng.uuid(),
            InternetMessageId: `<${prng.uuid()}@${tenant.domain}>`,
            Subject: prng.pick(["Quarterly numbers", "Re: invoice", "Lunch?", "Password reset"]),
            SizeInBytes: prng.int(2_000, 4_000_000),
            ParentFolder: { Path: "\\Inbox" },
          },
        }),
  };
};

const sharePoint: Generator = (prng, tenant, at) => {
  const userId = user(prng, tenant);
  const oneDrive = prng.chance(0.4);
  const host = oneDrive ? `${tenant.domain.split(".")[0]}-my.sharepoint.com` : `${tenant.domain.split(".")[0]}.sharepoint.com`;
  const site = oneDrive ? `https://${host}/personal/${userId.replace(/[@.]/g, "_")}/` : `https://${host}/sites/${prng.pick(["finance", "hr", "engineering"])}/`;
  const folder = prng.pick(["Shared Documents", "Documents/Reports", "Shared Documents/2025"]);
  const file = prng.pick(FILES);
  const sharing = prng.chance(0.15);
  return {
    ...common(prng, tenant, at, sharing ? 14 : 6, sharing ? prng.pick(["SharingSet", "AnonymousLinkCreated", "SharingInvitationCreated"]) : prng.pick(["FileAccessed", "FileModified", "FileDownloaded", "FileUploaded", "FileDeleted", "FilePreviewed"]), oneDrive ? "OneDrive" : "SharePoint", userId),
    ClientIP: ip(prng),
    ObjectId: `${site}${folder}/${file}`,
    ItemType: "File",
    ListId: prng.uuid(),
    ListItemUniqueId: prng.uuid(),
    Site: prng.uuid(),
    WebId: prng.uuid(),
    SiteUrl: site,
    SourceFileExtension: file.split(".").pop(),
    SourceFileName: file,
    SourceRelativeUrl: folder,
    UserAgent: prng.pick(USER_AGENTS),
    EventSource: "SharePoint",
    CorrelationId: prng.uuid(),
  };
};

const general: Generator = (prng, tenant, at) => {
  const userId = user(prng, tenant);
  if (prng.chance(0.15)) {
    return {
      ...common(prng, tenant, at, 40, "AlertTriggered", "SecurityComplianceCenter", "SecurityComplianceAlerts"),
      AlertId: prng.uuid(),
      AlertType: "System",
      Name: prng.pick(["Suspicious email forwarding activity", "Unusual volume of file deletion"]),
      PolicyId: prng.uuid(),
      Status: "Active",
      Severity: prng.pick(["Low", "Medium", "High"]),
      Category: "ThreatManagement",
      Source: "Office 365 Security & Compliance",
      Comments: "New alert",
      Data: JSON.stringify({ f3u: userId, ts: new Date(at).toISOString(), wl: "Exchange", op: "New-InboxRule", ad: "Forwarding rule created" }),
      AlertEntityId: userId,
      EntityType: "User",
    };
  }
  if (prng.chance(0.1)) return airInvestigation(prng, tenant, at, userId);
  if (prng.chance(0.1)) {
    const clientIp = ip(prng);
    const port = prng.int(1024, 65535);
    return {
      ...common(prng, tenant, at, 22, prng.pick(["GroupCreation", "FileVisited", "NetworkConfigurationUpdated"]), "Yammer", userId),
      ResultStatus: "TRUE",
      ClientIP: clientIp.includes(":") ? `[${clientIp}]:${port}` : `${clientIp}:${port}`,
      ActorUserId: userId,
      ActorYammerUserId: prng.int(1e10, 9e10),
      YammerNetworkId: prng.int(1e9, 9e9),
      GroupName: prng.pick(["All company", "Sales", "Engineering"]),
    };
  }
  const operation = prng.pick(["TeamCreated", "MemberAdded", "MessageSent", "ChatCreated", "MeetingParticipantDetail"]);
  return {
    ...common(prng, tenant, at, 25, operation, "MicrosoftTeams", userId),
    ClientIP: ip(prng),
    AADGroupId: prng.uuid(),
    CommunicationType: prng.pick(["Team", "OneOnOne", "GroupChat"]),
    TeamGuid: `19:${prng.uuid().replace(/-/g, "")}@thread.tacv2`,
    TeamName: prng.pick(["Finance", "Incident response", "Launch"]),
    ...(operation === "MemberAdded" ? { Members: [{ DisplayName: "New member", Role: 1, UPN: user(prng, tenant) }] } : {}),
  };
};

/**
 * An automated investigation of a reported phish: its Data is JSON text whose entities carry
 * `QueryTime` twice (ISO and US text), as real AIR records do.
 */
function airInvestigation(prng: Prng, tenant: TenantProfile, at: number, victim: string): Record<string, unknown> {
  const entity = [
    `"Recipient":${JSON.stringify(victim)}`,
    `"Upn":${JSON.stringify(victim)}`,
    `"P1Sender":"billing@${prng.pick(["example.net", "example.org"])}"`,
    `"SenderIP":${JSON.stringify(ip(prng))}`,
    `"Subject":"Invoice overdue"`,
    `"NetworkMessageId":${JSON.stringify(prng.uuid())}`,
    `"ThreatDetectionMethods":["URL detonation reputation"]`,
    `"QueryTime":${JSON.stringify(new Date(at).toISOString())}`,
    `"QueryTime":"${new Date(at).toLocaleString("en-US", { timeZone: "UTC" }).replace(",", "")}"`,
  ].join(",");
  return {
    ...common(prng, tenant, at, 64, prng.pick(["InvestigationStarted", "InvestigationActionTaken"]), "AirInvestigation", "AirInvestigation"),
    InvestigationId: prng.uuid(),
    InvestigationName: "Email reported by user as malware or phish",
    InvestigationType: "UserReportedPhish",
    Status: "Running",
    Data: `{"Version":"3.0","VendorName":"Microsoft","ProviderName":"OATP","Entities":[{${entity}}]}`,
  };
}

const dlp: Generator = (prng, tenant, at) => {
  const userId = user(prng, tenant);
  const inExchange = prng.chance(0.5);
  return {
    ...common(prng, tenant, at, inExchange ? 13 : 11, "DlpRuleMatch", inExchange ? "Exchange" : "SharePoint", userId),
    IncidentId: prng.uuid(),
    SensitiveInfoDetectionIsIncluded: true,
    PolicyDetails: [
      {
        PolicyId: prng.uuid(),
        PolicyName: "U.S. Financial Data",
        Rules: [
          {
            RuleId: prng.uuid(),
            RuleName: "Low volume of content detected",
            Severity: prng.pick(["Low", "Medium", "High"]),
            Actions: ["NotifyUser"],
            ConditionsMatched: {
              SensitiveInformation: [{ SensitiveInformationTypeName: "Credit Card Number", Count: prng.int(1, 20), Confidence: 85 }],
            },
          },
        ],
      },
    ],
    ...(inExchange
      ? { ExchangeMetaData: { From: userId, To: [`partner@example.com`], Subject: "Card numbers", MessageID: `<${prng.uuid()}@${tenant.domain}>`, Sent: creationTime(at) } }
      : { SharePointMetaData: { From: userId, FileName: prng.pick(FILES), FilePathUrl: `https://${tenant.domain.split(".")[0]}.sharepoint.com/sites/finance/Shared Documents/`, SiteCollectionUrl: `https://${tenant.domain.split(".")[0]}.sharepoint.com/sites/finance` } }),
  };
};

export const GENERATORS: Record<ContentType, Generator> = {
  "Audit.AzureActiveDirectory": azureActiveDirectory,
  "Audit.Exchange": exchange,
  "Audit.SharePoint": sharePoint,
  "Audit.General": general,
  "DLP.All": dlp,
};
