import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Status } from "../status/status.js";

/**
 * The local host's `GET /api/status`, on Core Tools' usual port when it is free (any port otherwise).
 * Loopback only and no key: it is the developer's own machine.
 */
export interface StatusServer {
  url: string;
  close(): Promise<void>;
}

export async function startStatusServer(status: () => Promise<Status>, preferredPort = 7071): Promise<StatusServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/api/status") {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: "only GET /api/status is served here" }));
      return;
    }
    status().then(
      (body) => res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(body)),
      (error: unknown) => res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: String(error) })),
    );
  });
  const listen = async (port: number) => {
    server.listen(port, "127.0.0.1");
    await Promise.race([once(server, "listening"), once(server, "error").then(([error]) => Promise.reject(error))]);
  };
  await listen(preferredPort).catch(() => listen(0));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/status`,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, "close").catch(() => undefined);
    },
  };
}
