import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * Values of local.settings.json in `cwd`, as Core Tools would load them; the callers let
 * environment variables win. Shared by `npm start` and the operator commands (`redrive`), so both
 * reach the same storage with the same file.
 */
export async function readLocalSettings(cwd: string): Promise<Record<string, string>> {
  const path = join(cwd, "local.settings.json");
  if (!existsSync(path)) return {};
  const parsed = JSON.parse(await readFile(path, "utf8")) as { Values?: Record<string, unknown> };
  return Object.fromEntries(Object.entries(parsed.Values ?? {}).filter((entry): entry is [string, string] => typeof entry[1] === "string" && entry[1] !== ""));
}
