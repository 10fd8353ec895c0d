import { ManagedIdentityCredential } from "@azure/identity";

/**
 * Application Insights through the Azure Monitor OpenTelemetry distro, started once per worker.
 * Local (key) auth is disabled on the resource, so the exporter authenticates with the managed
 * identity named in APPLICATIONINSIGHTS_AUTHENTICATION_STRING ("ClientId=…;Authorization=AAD").
 * The distro is loaded only when a connection string is set: locally it would only cost start-up time.
 */
let started = false;

export async function startAzureMonitor(connectionString: string | undefined, authentication: string | undefined): Promise<boolean> {
  if (started || !connectionString) return started;
  const { useAzureMonitor } = await import("@azure/monitor-opentelemetry");
  const clientId = /(?:^|;)\s*ClientId=([^;]+)/i.exec(authentication ?? "")?.[1];
  const aad = /(?:^|;)\s*Authorization=AAD\b/i.test(authentication ?? "");
  useAzureMonitor({
    azureMonitorExporterOptions: {
      connectionString,
      ...(aad ? { credential: new ManagedIdentityCredential(clientId ? { clientId } : {}) } : {}),
    },
  });
  started = true;
  return started;
}
