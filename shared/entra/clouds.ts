/**
 * Endpoints of the Office 365 Management Activity API per Microsoft cloud.
 * The token scope is always `<api origin>/.default`; the login authority differs for the US government clouds.
 */
/**
 * `federationAudience` is the audience of a managed-identity token used as a federated client
 * assertion (Entra ID's token-exchange audience differs in the US government clouds).
 */
export const CLOUDS = {
  commercial: { apiBaseUrl: "https://manage.office.com", loginBaseUrl: "https://login.microsoftonline.com", federationAudience: "api://AzureADTokenExchange" },
  gcc: { apiBaseUrl: "https://manage-gcc.office.com", loginBaseUrl: "https://login.microsoftonline.com", federationAudience: "api://AzureADTokenExchange" },
  "gcc-high": { apiBaseUrl: "https://manage.office365.us", loginBaseUrl: "https://login.microsoftonline.us", federationAudience: "api://AzureADTokenExchangeUSGov" },
  dod: { apiBaseUrl: "https://manage.protection.apps.mil", loginBaseUrl: "https://login.microsoftonline.us", federationAudience: "api://AzureADTokenExchangeUSGov" },
} as const;

export type CloudName = keyof typeof CLOUDS;
export const CLOUD_NAMES = Object.keys(CLOUDS) as [CloudName, ...CloudName[]];

/** Authorities that MSAL knows; any other (a simulator, a proxy) needs instance discovery turned off. */
export const KNOWN_LOGIN_HOSTS = new Set(Object.values(CLOUDS).map((cloud) => new URL(cloud.loginBaseUrl).host));

export const CONTENT_TYPES = [
  "Audit.AzureActiveDirectory",
  "Audit.Exchange",
  "Audit.SharePoint",
  "Audit.General",
  "DLP.All",
] as const;
export type ContentType = (typeof CONTENT_TYPES)[number];
