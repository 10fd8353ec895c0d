import { describe, expect, it } from "vitest";
import { parseSettings, SECRET_SETTINGS, SETTING_NAMES, SettingsError, validateSettings } from "../../shared/config/settings.js";
import { auditConfig } from "../helpers/simulator.js";

const TENANT = "11111111-1111-4111-8111-111111111111";
const CLIENT = "22222222-2222-4222-8222-222222222222";
const base = { O365_TENANT_IDS: TENANT, O365_CLIENT_ID: CLIENT, O365_CLIENT_SECRET: "x", DataStorage: "UseDevelopmentStorage=true" };

function settingsError(check: () => unknown): SettingsError {
  try {
    check();
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return error as SettingsError;
  }
  throw new Error("expected a SettingsError");
}

const problems = (env: Record<string, string | undefined>) => settingsError(() => parseSettings(env)).problems;

describe("settings", () => {
  it("applies the documented defaults", () => {
    const s = parseSettings(base);
    const audit = auditConfig(s);
    expect(audit.enabled).toBe(true);
    expect(s.enabledSources).toEqual(["o365-audit"]);
    expect(audit.entra.cloud).toBe("commercial");
    expect(audit.apiBaseUrl).toBe("https://manage.office.com");
    expect(audit.entra.loginBaseUrl).toBe("https://login.microsoftonline.com");
    expect(audit.contentTypes).toEqual(["Audit.AzureActiveDirectory", "Audit.Exchange", "Audit.SharePoint", "Audit.General", "DLP.All"]);
    expect(audit.listSchedule).toBe("0 */5 * * * *");
    expect(audit.initialLookbackMs).toBe(7 * 86_400_000 - 5 * 60_000);
    expect(audit.relistOverlapMs).toBe(3_600_000);
    expect(s.output).toEqual({ kind: "blob", container: "intake-ecs", gzipLevel: 5 });
    expect(audit.entra.auth).toEqual({ kind: "secret", secret: "x" });
    expect(audit.publisherId).toBeUndefined();
    expect(s.storage).toEqual({ kind: "connectionString", connectionString: "UseDevelopmentStorage=true" });
  });

  it("applies the pipeline's documented defaults, whichever feeds run", () => {
    const s = parseSettings(base);
    expect(s.workQueue).toBe("intake-work");
    expect(s.tables).toEqual({ cursors: "intakecursors", ledger: "intakeledger", records: "intakerecords" });
    expect(s.namespace).toBe("default");
    expect([s.listConcurrency, s.listBudgetMs, s.requestTimeoutMs, s.maxWorkPerTenant]).toEqual([16, 4 * 60_000, 60_000, 16]);
  });

  it.each([
    ["gcc", "https://manage-gcc.office.com", "https://login.microsoftonline.com"],
    ["gcc-high", "https://manage.office365.us", "https://login.microsoftonline.us"],
    ["dod", "https://manage.protection.apps.mil", "https://login.microsoftonline.us"],
  ])("derives the hosts of the %s cloud", (cloud, api, login) => {
    const audit = auditConfig(parseSettings({ ...base, O365_CLOUD: cloud }));
    expect([audit.apiBaseUrl, audit.entra.loginBaseUrl]).toEqual([api, login]);
  });

  it("lets API and login base URLs override the cloud", () => {
    const audit = auditConfig(parseSettings({ ...base, O365_API_BASE_URL: "https://127.0.0.1:8443/", O365_LOGIN_BASE_URL: "https://127.0.0.1:8443" }));
    expect(audit.apiBaseUrl).toBe("https://127.0.0.1:8443");
  });

  it("parses tenants, tenant names, durations and content types", () => {
    const other = "33333333-3333-4333-8333-333333333333";
    const s = auditConfig(parseSettings({
      ...base,
      O365_TENANT_IDS: `${TENANT.toUpperCase()}, ${other},${TENANT}`,
      O365_TENANT_NAMES: `${other}=Fabrikam.onmicrosoft.com`,
      O365_INITIAL_LOOKBACK: "2d12h",
      O365_RELIST_OVERLAP: "90m",
      O365_CONTENT_TYPES: "Audit.Exchange,DLP.All",
    }));
    expect(s.entra.tenantIds).toEqual([TENANT, other]);
    expect(s.entra.tenantNames.get(other)).toBe("fabrikam.onmicrosoft.com");
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
    expect(bySetting.O365_TENANT_IDS).toMatch(/not GUIDs: not-a-guid/);
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
    expect(auditConfig(s).entra.auth).toEqual({ kind: "certificate", path: "/certs/app.pem", password: undefined });
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
    expect(auditConfig(s).entra.auth).toEqual({ kind: "federated", managedIdentityClientId: mi });
    expect(problems({ ...base, O365_FEDERATED_IDENTITY_CLIENT_ID: mi }).map((p) => p.setting)).toEqual(["O365_CLIENT_SECRET"]);
    expect(problems({ ...base, O365_CLIENT_SECRET: "", O365_FEDERATED_IDENTITY_CLIENT_ID: "nope" }).map((p) => p.setting)).toEqual(["O365_FEDERATED_IDENTITY_CLIENT_ID"]);
  });

  it("accepts a certificate as PEM text, and names a PEM without its key", () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----";
    expect(auditConfig(parseSettings({ ...base, O365_CLIENT_SECRET: "", O365_CLIENT_CERTIFICATE: pem })).entra.auth).toEqual({ kind: "certificateText", pem, password: undefined });
    expect(problems({ ...base, O365_CLIENT_SECRET: "", O365_CLIENT_CERTIFICATE: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----" })).toEqual([
      { setting: "O365_CLIENT_CERTIFICATE", message: "expected PEM text with the certificate and its private key (value hidden)" },
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

  describe("names that look like settings but are not", () => {
    it.each([
      ["O365_TENANT_ID", "O365_TENANT_IDS"],
      ["OUTPUT_KND", "OUTPUT_KIND"],
      ["GEOIP_CITY", "GEOIP_CITY_DB"],
      ["STATE_TABLE_PREFX", "STATE_TABLE_PREFIX"],
      ["o365_tenant_ids", "O365_TENANT_IDS"],
      ["Output_Container", "OUTPUT_CONTAINER"],
    ])("reports %s with the closest setting, %s", (name, closest) => {
      expect(problems({ ...base, [name]: "value" })).toEqual([{ setting: name, message: `not a setting; did you mean ${closest}?` }]);
    });

    it("lists the settings of the prefix when no name is close", () => {
      expect(problems({ ...base, OUTPUT_PATH: "/out" })).toEqual([
        { setting: "OUTPUT_PATH", message: "not a setting; the OUTPUT_ settings are OUTPUT_KIND, OUTPUT_CONTAINER, OUTPUT_DIR, OUTPUT_GZIP_LEVEL, OUTPUT_NAMESPACE" },
      ]);
    });

    it("leaves alone unset names and names of other software, also under prefixes the platform shares", () => {
      const s = parseSettings({
        ...base,
        PATH: "/usr/bin",
        FUNCTIONS_WORKER_RUNTIME: "node",
        DataStorage__credential: "managedidentity",
        AzureWebJobsStorage__accountName: "funcstate01",
        APPLICATIONINSIGHTS_ENABLE_AGENT: "true",
        O365_TENANT_ID: undefined,
      });
      expect(auditConfig(s).entra.tenantIds).toEqual([TENANT]);
    });

    it("never shows the value of a misspelt name, which may be a secret", () => {
      const found = problems({ ...base, O365_CLIENT_SECRT: "misspelt-secret-456" });
      expect(found).toEqual([{ setting: "O365_CLIENT_SECRT", message: "not a setting; did you mean O365_CLIENT_SECRET?" }]);
    });
  });

  describe("values in messages", () => {
    it.each([
      ["LIST_CONCURRENCY", "abc", 'expected a whole number from 1 to 256, got "abc"'],
      ["WORK_MAX_PER_TENANT", "300.5", 'expected a whole number from 1 to 1000, got "300.5"'],
      ["OUTPUT_KIND", "tape", 'expected one of blob, file, got "tape"'],
      ["OUTPUT_GZIP_LEVEL", "0", 'expected a whole number from 1 to 9, got "0"'],
      ["OUTPUT_GZIP_LEVEL", "fast", 'expected a whole number from 1 to 9, got "fast"'],
      ["O365_CLOUD", "mars", 'expected one of commercial, gcc, gcc-high, dod, got "mars"'],
      ["O365_INITIAL_LOOKBACK", "10s", 'expected at least 60s, got "10s"'],
      ["O365_RELIST_OVERLAP", "an hour", 'expected a duration such as 90s, 5m, 1h or 6d23h55m, got "an hour"'],
      ["STATE_TABLE_PREFIX", "O365", 'expected 3-24 lowercase letters and digits, got "O365"'],
    ])("shows %s=%s once, beside what is expected", (setting, value, message) => {
      expect(problems({ ...base, [setting]: value })).toEqual([{ setting, message }]);
    });

    it("names the bad entries of a list as well as the value", () => {
      expect(problems({ ...base, O365_TENANT_IDS: `${TENANT},nope` })).toEqual([
        { setting: "O365_TENANT_IDS", message: `expected comma-separated tenant GUIDs (not GUIDs: nope), got "${TENANT},nope"` },
      ]);
    });

    it("shortens a long value and says how long it was", () => {
      const url = `http://${"a".repeat(100)}.example`;
      const [problem] = problems({ ...base, O365_API_BASE_URL: url });
      expect(problem).toEqual({ setting: "O365_API_BASE_URL", message: `expected an https:// URL, got "${url.slice(0, 60)}…" (${url.length} characters)` });
    });

    it("lists the secret settings and hides their values", () => {
      expect([...SECRET_SETTINGS].sort()).toEqual([
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "AzureWebJobsStorage",
        "DataStorage",
        "O365_CLIENT_CERTIFICATE",
        "O365_CLIENT_CERTIFICATE_PASSWORD",
        "O365_CLIENT_SECRET",
        "SOPHOS_CLIENT_SECRET",
      ]);
      const secretPem = "-----BEGIN CERTIFICATE-----\nsecret-body-789\n-----END CERTIFICATE-----";
      const error = settingsError(() => parseSettings({ ...base, O365_CLIENT_SECRET: "", O365_CLIENT_CERTIFICATE: secretPem }));
      expect(error.problems).toEqual([{ setting: "O365_CLIENT_CERTIFICATE", message: expect.stringMatching(/\(value hidden\)$/) }]);
      // A feed's own secret too: a misspelt one is refused without its value.
      const sophos = settingsError(() => parseSettings({ ...base, SOPHOS_CLIENT_SECRT: "sophos-secret-456" }));
      expect(sophos.message).not.toContain("sophos-secret-456");
      expect(error.message).not.toContain("secret-body-789");
    });
  });

  it("reports unknown names, bad values and rules between settings together", () => {
    const error = settingsError(() =>
      parseSettings({ O365_TENANT_ID: TENANT, O365_CLIENT_ID: CLIENT, OUTPUT_KND: "file", LIST_CONCURRENCY: "0", OUTPUT_KIND: "file" }),
    );
    // Unknown names, then bad values, then rules between settings: a tenant list is required only while
    // a Microsoft feed is enabled, so its absence is one of the rules now, no longer a value error.
    expect(error.problems.map((p) => p.setting)).toEqual([
      "O365_TENANT_ID",
      "OUTPUT_KND",
      "LIST_CONCURRENCY",
      "O365_TENANT_IDS",
      "O365_CLIENT_SECRET",
      "OUTPUT_DIR",
      "DataStorage",
    ]);
    expect(error.message.split("\n")).toHaveLength(1 + error.problems.length);
    expect(error.message).toContain('  - LIST_CONCURRENCY: expected a whole number from 1 to 256, got "0"');
  });

  describe("feeds", () => {
    const storageOnly = { DataStorage: "UseDevelopmentStorage=true" };

    it.each(["false", "0", " FALSE "])("needs no tenants, app or credential while the audit feed is off (O365_AUDIT_ENABLED=%j)", (off) => {
      const s = parseSettings({ ...storageOnly, O365_AUDIT_ENABLED: off });
      expect(s.enabledSources).toEqual([]);
      expect(auditConfig(s).enabled).toBe(false);
      expect(s.workQueue).toBe("intake-work");
    });

    it("requires the app registration again once the audit feed is on, by default or explicitly", () => {
      for (const on of [{}, { O365_AUDIT_ENABLED: "true" }, { O365_AUDIT_ENABLED: "1" }]) {
        expect(problems({ ...storageOnly, ...on }).map((p) => p.setting)).toEqual(["O365_TENANT_IDS", "O365_CLIENT_ID", "O365_CLIENT_SECRET"]);
      }
    });

    it("still checks, and hides, a secret set for a feed that is off", () => {
      const secretPem = "-----BEGIN CERTIFICATE-----\nsecret-body-790\n-----END CERTIFICATE-----";
      const error = settingsError(() => parseSettings({ ...storageOnly, O365_AUDIT_ENABLED: "false", O365_CLIENT_CERTIFICATE: secretPem }));
      expect(error.problems).toEqual([{ setting: "O365_CLIENT_CERTIFICATE", message: "expected PEM text with the certificate and its private key (value hidden)" }]);
      expect(error.message).not.toContain("secret-body-790");
    });

    it("refuses an on/off value that is neither", () => {
      expect(problems({ ...base, O365_AUDIT_ENABLED: "yes" })).toEqual([{ setting: "O365_AUDIT_ENABLED", message: 'expected true or false, got "yes"' }]);
    });

    it("keeps each feed's settings by its name", () => {
      const s = parseSettings(base);
      expect([...s.sources.keys()]).toEqual(expect.arrayContaining(["o365-audit"]));
      expect(SETTING_NAMES).toEqual(expect.arrayContaining(["O365_AUDIT_ENABLED", "O365_LIST_SCHEDULE", "WORK_QUEUE", "OUTPUT_NAMESPACE"]));
    });
  });

  describe("data-stream namespace", () => {
    it.each(["default", "prod", "eu_west_2"])("takes %s as data_stream.namespace", (namespace) => {
      expect(parseSettings({ ...base, OUTPUT_NAMESPACE: namespace }).namespace).toBe(namespace);
    });

    it.each(["My-Space", "prod-eu", "Prod", "a b", "x".repeat(101)])("refuses %s: lowercase letters, digits and underscores only", (namespace) => {
      expect(problems({ ...base, OUTPUT_NAMESPACE: namespace })).toEqual([
        { setting: "OUTPUT_NAMESPACE", message: expect.stringMatching(/^expected a data-stream namespace: lowercase letters, digits and underscores, got "/) },
      ]);
    });

    it("shows the refused value beside what is expected", () => {
      expect(problems({ ...base, OUTPUT_NAMESPACE: "My-Space" })).toEqual([
        { setting: "OUTPUT_NAMESPACE", message: 'expected a data-stream namespace: lowercase letters, digits and underscores, got "My-Space"' },
      ]);
    });
  });

  describe("names of earlier versions", () => {
    const renamed = [
      ["O365_CONTENT_QUEUE", "WORK_QUEUE"],
      ["O365_MAX_DOWNLOADS_PER_TENANT", "WORK_MAX_PER_TENANT"],
      ["O365_LIST_CONCURRENCY", "LIST_CONCURRENCY"],
      ["O365_LIST_BUDGET", "LIST_BUDGET"],
      ["O365_REQUEST_TIMEOUT", "REQUEST_TIMEOUT"],
    ] as const;

    it.each(renamed)("refuses %s as not a setting, without showing its value", (old) => {
      const found = problems({ ...base, [old]: "old-value-321" });
      expect(found).toEqual([{ setting: old, message: expect.stringMatching(/^not a setting; /) }]);
      expect(found[0]?.message).not.toContain("old-value-321");
    });

    it.each(renamed)("points %s to its new name, %s", (old, now) => {
      expect(problems({ ...base, [old]: "1" })).toEqual([{ setting: old, message: `not a setting; renamed to ${now}` }]);
    });

    it("leaves alone a shell's own names under the pipeline's plain words, and flags a near miss", () => {
      expect(() => parseSettings({ ...base, WORK_DIR: "/tmp", REQUEST_METHOD: "GET", LIST_COLORS: "auto" })).not.toThrow();
      // Names of namespaces we share with the host and the SDKs are theirs, however near one of ours.
      expect(() => parseSettings({ ...base, DataStorage__credential: "managedidentity", APPLICATIONINSIGHTS_ROLE_NAME: "x" })).not.toThrow();
      expect(problems({ ...base, WORK_QUEUES: "q" })).toEqual([{ setting: "WORK_QUEUES", message: "not a setting; did you mean WORK_QUEUE?" }]);
    });

    it("checks the pipeline's own prefixes, not only the feeds'", () => {
      expect(problems({ ...base, WORK_QUEU: "q", LIST_BUDGT: "1m", REQUEST_TIMEOUTS: "1s" }).map((p) => p.message)).toEqual([
        "not a setting; did you mean WORK_QUEUE?",
        "not a setting; did you mean LIST_BUDGET?",
        "not a setting; did you mean REQUEST_TIMEOUT?",
      ]);
    });
  });

  describe("validation before the host fills in its own values", () => {
    const demo = ["O365_TENANT_IDS", "O365_TENANT_NAMES", "O365_CLIENT_ID", "O365_CLIENT_SECRET", "O365_API_BASE_URL", "O365_LOGIN_BASE_URL"] as const;
    const localStorage = ["AzureWebJobsStorage", "DataStorage", "OUTPUT_KIND", "OUTPUT_DIR"] as const;

    it("accepts an empty environment when the host supplies tenant and storage", () => {
      expect(() => validateSettings({}, { supplied: [...demo, ...localStorage] })).not.toThrow();
    });

    it("still checks the operator's own values and names", () => {
      const error = settingsError(() =>
        validateSettings({ O365_CLIENT_ID: "nope", O365_TENANT_ID: TENANT, O365_CLIENT_CERTIFICATE_PATH: "/app.pem" }, { supplied: [...demo, ...localStorage] }),
      );
      expect(error.problems).toEqual([
        { setting: "O365_TENANT_ID", message: "not a setting; did you mean O365_TENANT_IDS?" },
        { setting: "O365_CLIENT_ID", message: 'expected a GUID, got "nope"' },
        {
          setting: "O365_CLIENT_SECRET",
          message:
            "set exactly one of O365_CLIENT_SECRET, O365_CLIENT_CERTIFICATE_PATH, O365_CLIENT_CERTIFICATE, O365_FEDERATED_IDENTITY_CLIENT_ID; set: O365_CLIENT_SECRET (supplied by the host), O365_CLIENT_CERTIFICATE_PATH",
        },
      ]);
    });

    it("supplies nothing the host does not name", () => {
      const error = settingsError(() => validateSettings({ O365_CLIENT_SECRET: "x" }, { supplied: localStorage }));
      expect(error.problems.map((p) => p.setting)).toEqual(["O365_TENANT_IDS", "O365_CLIENT_ID"]);
    });
  });
});
