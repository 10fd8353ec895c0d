import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { once } from "node:events";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

/**
 * `npm start` as a process manager meets it: SIGTERM (what systemd, Docker and process managers send)
 * stops the host and everything it started, and so does losing its parent, which is what happens
 * when npm 11 gets the SIGTERM and exits without passing it on.
 */
const root = fileURLToPath(new URL("../..", import.meta.url));
const main = join(root, "shared", "cli", "main.ts");
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function workdir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "audit-intake-stop-"));
  dirs.push(dir);
  await copyFile(join(root, "host.json"), join(dir, "host.json"));
  return dir;
}

/** Processes working in the work folder (the host) or naming it (its Azurite keeps its data there). Linux's /proc. */
function processesUsing(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (readlinkSync(`/proc/${pid}/cwd`) === dir || cmdline.includes(dir)) found.push(`${pid} ${cmdline}`);
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

async function waitFor(read: () => string, pattern: RegExp, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pattern.test(read())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${read()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function collect(child: ChildProcess): () => string {
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return () => output;
}

/** The CLI as `npm start` runs it, from source, in a work folder of its own. */
function startHost(cwd: string, viaShell: boolean): ChildProcess {
  const loader = pathToFileURL(join(root, "node_modules", "tsx", "dist", "loader.mjs")).href;
  const command = [process.execPath, "--import", loader, main, "start"];
  // `sh -c "… & wait"` stands for npm: a parent that can go away without passing a signal on.
  const [file, ...args] = viaShell ? ["sh", "-c", `${command.map((a) => `'${a}'`).join(" ")} & wait`] : command;
  // Without message trace: the demo's tenant without its service principal would make the exit code 1.
  return spawn(file as string, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, MESSAGE_TRACE_ENABLED: "false" } });
}

describe("stopping npm start", () => {
  it("drains and stops Azurite, the simulator and the status port on SIGTERM", async () => {
    const cwd = await workdir();
    const child = startHost(cwd, false);
    const output = collect(child);
    const exited = once(child, "exit");
    try {
      await waitFor(output, /^Status: /m, 60_000);
    } catch (error) {
      child.kill("SIGKILL");
      throw error;
    }
    expect(processesUsing(cwd).length).toBeGreaterThan(0); // Azurite, with its data in the work folder
    const stoppedAt = Date.now();
    child.kill("SIGTERM");
    const [code] = (await exited) as [number | null];
    expect(Date.now() - stoppedAt).toBeLessThan(30_000);
    expect(code).toBe(0);
    expect(output()).toMatch(/SIGTERM: finishing the work in flight/);
    expect(output()).toMatch(/^Summary$/m);
    expect(processesUsing(cwd)).toEqual([]);
  }, 120_000);

  it("stops the same way when its parent goes without passing the signal on (npm 11 on SIGTERM)", async () => {
    const cwd = await workdir();
    const shell = startHost(cwd, true);
    const output = collect(shell);
    try {
      await waitFor(output, /^Status: /m, 60_000);
    } catch (error) {
      shell.kill("SIGKILL");
      throw error;
    }
    shell.kill("SIGKILL"); // the parent is gone; the host is nobody's child now
    const deadline = Date.now() + 30_000;
    while (processesUsing(cwd).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(processesUsing(cwd)).toEqual([]);
  }, 120_000);
});
