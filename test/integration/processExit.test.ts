import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { closedPort } from "../helpers/ports.js";
import { CLIENT_ID, SECRET, TENANT_A } from "../helpers/simulator.js";

describe("process lifetime", () => {
  it("ends as soon as its work is done after a token request that got no answer (no timer left behind)", async () => {
    const port = await closedPort();
    const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../helpers/failedTokenOnce.ts", import.meta.url))], {
      env: {
        ...process.env,
        O365_TENANT_IDS: TENANT_A,
        O365_CLIENT_ID: CLIENT_ID,
        O365_CLIENT_SECRET: SECRET,
        O365_LOGIN_BASE_URL: `https://127.0.0.1:${port}`,
        O365_API_BASE_URL: `https://127.0.0.1:${port}`,
        REQUEST_TIMEOUT: "30s", // what a timer left behind would keep the process alive for
        DataStorage: "UseDevelopmentStorage=true",
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = once(child, "exit");
    let output = "";
    let printedAt = 0;
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      printedAt ||= performance.now();
    });
    const lingering = setTimeout(() => child.kill(), 20_000);
    const [code] = await exited;
    clearTimeout(lingering);
    expect(output).toBe("transient\n");
    expect(code).toBe(0);
    expect(performance.now() - printedAt).toBeLessThan(2_000);
  }, 30_000);
});
