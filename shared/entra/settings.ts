import { z } from "zod";
import { DNS_NAME, httpsUrl, optionalText } from "../config/fields.js";
import { GUID } from "../config/formats.js";
import { CLOUD_NAMES, CLOUDS, type CloudName } from "./clouds.js";

/**
 * The multi-tenant app registration both Microsoft feeds (audit, message trace) authenticate as: which
 * tenants, which app, how it proves itself, in which cloud. Its names keep the `O365_` prefix they have
 * always had. Each Microsoft feed includes this slice in its own and checks it while it is enabled.
 */

const tenantIds = optionalText.transform((text, ctx) => {
  const ids = [...new Set((text ?? "").split(",").map((id) => id.trim().toLowerCase()).filter(Boolean))];
  const bad = ids.filter((id) => !GUID.test(id));
  if (bad.length > 0) ctx.addIssue({ code: "custom", message: `expected comma-separated tenant GUIDs (not GUIDs: ${bad.join(", ")})` });
  return ids;
});

const tenantNames = optionalText.transform((text, ctx) => {
  const names = new Map<string, string>();
  const bad: string[] = [];
  for (const pair of (text ?? "").split(",").map((p) => p.trim()).filter(Boolean)) {
    const [id, domain, ...rest] = pair.split("=").map((p) => p.trim());
    if (!id || !domain || rest.length > 0 || !GUID.test(id) || !DNS_NAME.test(domain)) bad.push(JSON.stringify(pair));
    else names.set(id.toLowerCase(), domain.toLowerCase());
  }
  if (bad.length > 0) ctx.addIssue({ code: "custom", message: `expected comma-separated tenantId=domain pairs (not pairs: ${bad.join(", ")})` });
  return names;
});

export const entraSettings = {
  O365_TENANT_IDS: tenantIds,
  O365_TENANT_NAMES: tenantNames,
  O365_CLIENT_ID: optionalText.pipe(z.string().regex(GUID, "expected a GUID").optional()),
  O365_CLIENT_SECRET: optionalText,
  O365_CLIENT_CERTIFICATE_PATH: optionalText,
  O365_CLIENT_CERTIFICATE: optionalText.pipe(
    z.string().refine((pem) => /-----BEGIN CERTIFICATE-----/.test(pem) && /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(pem), "expected PEM text with the certificate and its private key").optional(),
  ),
  O365_CLIENT_CERTIFICATE_PASSWORD: optionalText,
  O365_FEDERATED_IDENTITY_CLIENT_ID: optionalText.pipe(z.string().regex(GUID, "expected the client ID (GUID) of a managed identity").optional()),
  O365_CLOUD: z.enum(CLOUD_NAMES).default("commercial"),
  O365_LOGIN_BASE_URL: httpsUrl,
};

/** Secrets of this slice: no message, log or status shows their values. */
export const ENTRA_SECRETS = ["O365_CLIENT_SECRET", "O365_CLIENT_CERTIFICATE", "O365_CLIENT_CERTIFICATE_PASSWORD"] as const;

export interface EntraSettings {
  tenantIds: string[];
  /** Tenant id → its domain, for organization.name / host.name and a tenant's own mail domain. */
  tenantNames: ReadonlyMap<string, string>;
  clientId: string;
  auth:
    | { kind: "secret"; secret: string }
    | { kind: "certificate"; path: string; password: string | undefined }
    /** The same, as PEM text (on Azure: a Key Vault reference), so no file has to be deployed. */
    | { kind: "certificateText"; pem: string; password: string | undefined }
    /** Secretless: a managed identity's token is the client assertion of the app registration. */
    | { kind: "federated"; managedIdentityClientId: string };
  cloud: CloudName;
  loginBaseUrl: string;
}

type Values = Readonly<Record<string, unknown>>;

export function readEntra(values: Values): EntraSettings {
  const v = values as Partial<{ [K in keyof typeof entraSettings]: z.output<(typeof entraSettings)[K]> }>;
  const cloud = v.O365_CLOUD ?? "commercial";
  return {
    tenantIds: v.O365_TENANT_IDS ?? [],
    tenantNames: v.O365_TENANT_NAMES ?? new Map(),
    clientId: v.O365_CLIENT_ID?.toLowerCase() ?? "",
    auth: v.O365_CLIENT_SECRET
      ? { kind: "secret", secret: v.O365_CLIENT_SECRET }
      : v.O365_FEDERATED_IDENTITY_CLIENT_ID
        ? { kind: "federated", managedIdentityClientId: v.O365_FEDERATED_IDENTITY_CLIENT_ID }
        : v.O365_CLIENT_CERTIFICATE
          ? { kind: "certificateText", pem: v.O365_CLIENT_CERTIFICATE, password: v.O365_CLIENT_CERTIFICATE_PASSWORD }
          : { kind: "certificate", path: v.O365_CLIENT_CERTIFICATE_PATH ?? "", password: v.O365_CLIENT_CERTIFICATE_PASSWORD },
    cloud,
    loginBaseUrl: v.O365_LOGIN_BASE_URL ?? CLOUDS[cloud].loginBaseUrl,
  };
}

const AUTH_SETTINGS = ["O365_CLIENT_SECRET", "O365_CLIENT_CERTIFICATE_PATH", "O365_CLIENT_CERTIFICATE", "O365_FEDERATED_IDENTITY_CLIENT_ID"];

/** What a Microsoft feed needs while it is enabled: tenants, the app, and exactly one way to prove it. */
export function entraProblems(env: Readonly<Record<string, string | undefined>>, label: (name: string) => string): { setting: string; message: string }[] {
  const set = (name: string) => Boolean(env[name]?.trim());
  const problems: { setting: string; message: string }[] = [];
  if (!set("O365_TENANT_IDS")) problems.push({ setting: "O365_TENANT_IDS", message: "required: comma-separated tenant GUIDs" });
  if (!set("O365_CLIENT_ID")) problems.push({ setting: "O365_CLIENT_ID", message: "required: the application (client) ID of the app registration" });
  const authSet = AUTH_SETTINGS.filter(set);
  if (authSet.length !== 1) {
    problems.push({
      setting: "O365_CLIENT_SECRET",
      message: `set exactly one of ${AUTH_SETTINGS.join(", ")}; ${authSet.length === 0 ? "none is set" : `set: ${authSet.map(label).join(", ")}`}`,
    });
  }
  return problems;
}
