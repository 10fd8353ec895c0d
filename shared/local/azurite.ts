import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";

/**
 * An embedded Azurite (blob, queue, table) for the local host and the integration tests.
 * Pinned to 3.35.0, the last release that runs on Node 20; its API-version check is off because
 * the storage SDKs speak newer versions than it knows, and its telemetry is off because this
 * machine has no network beyond the registries.
 */
export interface AzuriteInstance {
  connectionString: string;
  stop(): Promise<void>;
}

const ACCOUNT = "devstoreaccount1";
// Azurite's well-known development key: public, documented, and only valid against a local emulator.
const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

/** The emulator's well-known development ports, which `UseDevelopmentStorage=true` means to every Azure tool. */
export const DEVELOPMENT_PORTS = { blob: 10000, queue: 10001, table: 10002 } as const;

/** What `UseDevelopmentStorage=true` stands for: Azurite's account on the development ports. */
export function connectionString(ports: { blob: number; queue: number; table: number }): string {
  const host = "http://127.0.0.1";
  return (
    `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${DEV_KEY};` +
    `BlobEndpoint=${host}:${ports.blob}/${ACCOUNT};QueueEndpoint=${host}:${ports.queue}/${ACCOUNT};TableEndpoint=${host}:${ports.table}/${ACCOUNT};`
  );
}

/**
 * Makes the child exit when its parent goes, however the parent goes (even SIGKILL): the parent
 * holds the write end of the child's stdin, and the pipe reaching its end means nobody is left.
 */
const EXIT_WITH_PARENT = `data:text/javascript,${encodeURIComponent("process.stdin.on('end', () => process.exit(0)).resume().unref();")}`;

export async function startAzurite(options: { location?: string; ports?: { blob: number; queue: number; table: number } } = {}): Promise<AzuriteInstance> {
  const { blob: blobPort, queue: queuePort, table: tablePort } = options.ports ?? { blob: await freePort(), queue: await freePort(), table: await freePort() };
  const require = createRequire(import.meta.url);
  const main = join(dirname(require.resolve("azurite/package.json")), "dist", "src", "azurite.js");
  const args = [
    "--import",
    EXIT_WITH_PARENT,
    main,
    "--silent",
    "--disableTelemetry",
    "--skipApiVersionCheck",
    "--loose",
    "--blobHost", "127.0.0.1", "--blobPort", String(blobPort),
    "--queueHost", "127.0.0.1", "--queuePort", String(queuePort),
    "--tableHost", "127.0.0.1", "--tablePort", String(tablePort),
  ];
  if (options.location) {
    await mkdir(options.location, { recursive: true });
    args.push("--location", options.location);
  } else {
    args.push("--inMemoryPersistence");
  }
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Azurite did not start in 30 s:\n${output}`)), 30_000);
    const check = () => {
      if (/Table service is successfully listening/.test(output) && /Queue service is successfully listening/.test(output) && /Blob service is successfully listening/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with code ${code}:\n${output}`));
    });
  });
  return {
    connectionString: connectionString({ blob: blobPort, queue: queuePort, table: tablePort }),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}
