import { TableClient, TableServiceClient } from "@azure/data-tables";
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueServiceClient } from "@azure/storage-queue";
import type { StorageConnection } from "../config/settings.js";

/**
 * Clients of the data storage account: a connection string locally (Azurite), the app's
 * managed identity on Azure, where the account allows no shared keys.
 */
export interface StorageClients {
  blobs: BlobServiceClient;
  queues: QueueServiceClient;
  tables: TableServiceClient;
  table(name: string): TableClient;
}

export function createStorageClients(connection: StorageConnection): StorageClients {
  if (connection.kind === "connectionString") {
    const cs = connection.connectionString;
    const allowInsecureConnection = /DefaultEndpointsProtocol=http;|UseDevelopmentStorage=true|127\.0\.0\.1|localhost/i.test(cs);
    return {
      blobs: BlobServiceClient.fromConnectionString(cs),
      queues: QueueServiceClient.fromConnectionString(cs),
      tables: TableServiceClient.fromConnectionString(cs, { allowInsecureConnection }),
      table: (name) => TableClient.fromConnectionString(cs, name, { allowInsecureConnection }),
    };
  }
  const credential: TokenCredential = connection.clientId
    ? new ManagedIdentityCredential({ clientId: connection.clientId })
    : new DefaultAzureCredential();
  return {
    blobs: new BlobServiceClient(connection.blobUrl, credential),
    queues: new QueueServiceClient(connection.queueUrl, credential),
    tables: new TableServiceClient(connection.tableUrl, credential),
    table: (name) => new TableClient(connection.tableUrl, name, credential),
  };
}

/** Table keys may not hold / \ # ? or control characters; content ids and record ids rarely do, but may. */
export function tableKey(value: string): string {
  return value.replace(/[/\\#?%\u0000-\u001f\u007f-\u009f]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

/** Creates a table once per process; Azure answers 409 when it exists, which is fine. */
export async function ensureTable(client: TableClient): Promise<void> {
  try {
    await client.createTable();
  } catch (error) {
    if (statusOf(error) !== 409) throw error;
  }
}
