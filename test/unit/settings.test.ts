import { describe, expect, it } from "vitest";
import { parseSettings, SettingsError } from "../../shared/config/settings.js";

const TENANT = "11111111-1111-4111-8111-111111111111";
const CLIENT = "22222222-2222-4222-8222-222222222222";
const base = { O365_TENANT_IDS: TENANT, O365_CLIENT_ID: CLIENT, O365_CLIENT_SECRET: "x", DataStorage: "UseDevelopmentStorage=true" };

function problems(env: Record<string, string | undefined>) {
  try {
    parseSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return (error as SettingsError).problems;
  }
  throw new Error("expected a SettingsError");
}

describe("settings", () => {
  it("applies the documented defaults", () => {
    const s = parseSettings(base);
    expect(s.cloud).toBe("commercial");
    expect(s.apiBaseUrl).toBe("https://manage.office.com");
    expect(s.loginBaseUrl).toBe("https://login.microsoftonline.com");
    expect(s.contentTypes).toEqual(["Audit.AzureActiveDirectory", "Audit.Exchange", "Audit.SharePoint", "Audit.General", "DLP.All"]);
    expect(s.listSchedule).toBe("0 */5 * * * *");
    expect(s.initialLookbackMs).toBe(7 * 86_400_000 - 5 * 60_000);
    expect(s.relistOverlapMs).toBe(3_600_000);
    expect(s.output).toEqual({ kind: "blob", container: "audit-ecs" });
    expect(s.auth).toEqual({ kind: "secret", secret: "x" });
    expect(s.publisherId).toBeUndefined();
    expect(s.storage).toEqual({ kind: "connectionString", connectionString: "UseDevelopmentStorage=true" });
  });

  it.each([
    ["gcc", "https://manage-gcc.office.com", "https://login.microsoftonline.com"],
    ["gcc-high", "https://manage.office365.us", "https://login.microsoftonline.us"],
    ["dod", "https://manage.protection.apps.mil", "https://login.microsoftonline.us"],
  ])("derives the hosts of the %s cloud", (cloud, api, login) => {
    const s = parseSettings({ ...base, O365_CLOUD: cloud });
    expect([s.apiBaseUrl, s.loginBaseUrl]).toEqual([api, login]);
  });

  it("lets API and login base URLs override the cloud", () => {
    const s = parseSettings({ ...base, O365_API_BASE_URL: "https://127.0.0.1:8443/", O365_LOGIN_BASE_URL: "https://127.0.0.1:8443" });
    expect(s.apiBaseUrl).toBe("https://127.0.0.1:8443");
  });

  it("parses tenants, tenant names, durations and content types", () => {
    const other = "33333333-3333-4333-8333-333333333333";
    const s = parseSettings({
      ...base,
      O365_TENANT_IDS: `${TENANT.toUpperCase()}, ${other},${TENANT}`,
      O365_TENANT_NAMES: `${other}=Fabrikam.onmicrosoft.com`,
      O365_INITIAL_LOOKBACK: "2d12h",
      O365_RELIST_OVERLAP: "90m",
      O365_CONTENT_TYPES: "Audit.Exchange,DLP.All",
    });
    expect(s.tenantIds).toEqual([TENANT, other]);
    expect(s.tenantNames.get(other)).toBe("fabrikam.onmicrosoft.com");
    expect(s.initialLookbackMs).toBe(2.5 * 86_400_000);
    expect(s.relistOverlapMs).toBe(90 * 60_000);
    expect(s.contentTypes).toEqual(["Audit.Exchange", "DLP.All"]);
  });

  it("names every bad setting and what it expects", () => {
    const found = problems({
      O365_TENANT_IDS: "not-a-guid",
      O365_CLIENT_ID: "x",
      O365_CLOUD: "mars",
      O365_CONTENT_TYPES: "Audit.Everything",
      O365_LIST_SCHEDULE: "*/5 * * * *",
      O365_RELIST_OVERLAP: "an hour",
      DataStorage: "UseDevelopmentStorage=true",
    });
    const bySetting = Object.fromEntries(found.map((p) => [p.setting, p.message]));
    expect(bySetting.O365_TENANT_IDS).toMatch(/not tenant GUIDs: not-a-guid/);
    expect(bySetting.O365_CLIENT_ID).toMatch(/GUID/);
    expect(bySetting.O365_CLOUD).toMatch(/commercial, gcc, gcc-high, dod/);
    expect(bySetting.O365_CONTENT_TYPES).toMatch(/Audit\.Everything/);
    expect(bySetting.O365_LIST_SCHEDULE).toMatch(/six fields/);
    expect(bySetting.O365_RELIST_OVERLAP).toMatch(/duration/);
    expect(bySetting.O365_CLIENT_SECRET).toMatch(/exactly one of O365_CLIENT_SECRET, O365_CLIENT_CERTIFICATE_PATH, O365_CLIENT_CERTIFICATE, O365_FEDERATED_IDENTITY_CLIENT_ID/);
  });

  it("requires the tenant list and a storage connection", () => {
    const found = problems({ O365_CLIENT_ID: CLIENT, O365_CLIENT_SECRET: "x" });
    expect(found.map((p) => p.setting)).toEqual(expect.arrayContaining(["O365_TENANT_IDS", "DataStorage"]));
  });

  it("accepts certificate auth and identity-based storage", () => {
    const s = parseSettings({
      O365_TENANT_IDS: TENANT,
      O365_CLIENT_ID: CLIENT,
      O365_CLIENT_CERTIFICATE_PATH: "/certs/app.pem",
      DataStorage__accountName: "auditdata01",
      DataStorage__clientId: CLIENT,
    });
    expect(s.auth).toEqual({ kind: "certificate", path: "/certs/app.pem", password: undefined });
    expect(s.storage).toEqual({
      kind: "identity",
      blobUrl: "https://auditdata01.blob.core.windows.net",
      queueUrl: "https://auditdata01.queue.core.windows.net",
      tableUrl: "https://auditdata01.table.core.windows.net",
      clientId: CLIENT,
    });
  });

  it("accepts the secretless federated mode, and no second credential beside it", () => {
    const mi = "7b0c2d4e-1a3f-4e5d-9c8b-6a7f8e9d0c1b";
    const s = parseSettings({ ...base, O365_CLIENT_SECRET: "", O365_FEDERATED_IDENTITY_CLIENT_ID: mi, O365_CLOUD: "gcc-high" });
    expect(s.auth).toEqual({ kind: "federated", managedIdentityClientId: mi });
    expect(problems({ ...base, O365_FEDERATED_IDENTITY_CLIENT_ID: mi }).map((p) => p.setting)).toEqual(["O365_CLIENT_SECRET"]);
    expect(problems({ ...base, O365_CLIENT_SECRET: "", O365_FEDERATED_IDENTITY_CLIENT_ID: "nope" }).map((p) => p.setting)).toEqual(["O365_FEDERATED_IDENTITY_CLIENT_ID"]);
  });

  it("accepts a certificate as PEM text, and names a PEM without its key", () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----";
    expect(parseSettings({ ...base, O365_CLIENT_SECRET: "", O365_CLIENT_CERTIFICATE: pem }).auth).toEqual({ kind: "certificateText", pem, password: undefined });
    expect(problems({ ...base, O365_CLIENT_SECRET: "", O365_CLIENT_CERTIFICATE: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----" })).toEqual([
      { setting: "O365_CLIENT_CERTIFICATE", message: "expected PEM text with the certificate and its private key" },
    ]);
  });

  it("requires OUTPUT_DIR for the file sink", () => {
    expect(problems({ ...base, OUTPUT_KIND: "file" })).toEqual([{ setting: "OUTPUT_DIR", message: "required when OUTPUT_KIND=file" }]);
  });

  it("never puts a secret into its error message", () => {
    const secret = "super-secret-value-123";
    try {
      parseSettings({ ...base, O365_CLIENT_SECRET: secret, O365_CLIENT_CERTIFICATE_PATH: "/x.pem" });
      throw new Error("expected failure");
    } catch (error) {
      expect(String((error as Error).message)).not.toContain(secret);
    }
  });
});
