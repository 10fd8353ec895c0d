import { setFlagsFromString } from "node:v8";

/**
 * V8 flags of a process that works items, set by the process itself when its runtime is made. The
 * Functions host has no dependable way to give its Node process arguments: Microsoft's Node.js guide
 * says `languageWorkers__node__arguments` is for local runs only, and Consumption's placeholders have
 * ignored it (Azure/azure-functions-nodejs-worker#384, Azure/azure-functions-host#9187). The flag
 * below is a garbage-collection heuristic that V8 reads at each collection, so setting it at startup
 * takes effect.
 *
 * `--no-allocation-site-pretenuring`: once a process has worked an item, V8 allocates some of the next
 * items' short-lived objects straight into the old generation ("pretenuring"). Each young-generation
 * collection then takes the records those objects point to for live and promotes them, so the old
 * generation fills with garbage only a full collection frees. Measured on the 60 MB bench blob worked
 * six times in one process: 1.55–1.71 s an item from the second on, 1.41–1.52 s with the flag; in
 * `npm run bench` (the second item of a process) 43,400 against 46,500 records/s, and a peak RSS of
 * 235 against 185 MB. A process's first item, and normalize alone, are the same either way.
 */
export const WORKER_V8_FLAGS = ["--no-allocation-site-pretenuring"] as const;

let applied = false;

/** Sets WORKER_V8_FLAGS once per process; before the first item, so that no item runs without them. */
export function applyWorkerV8Flags(): void {
  if (applied) return;
  for (const flag of WORKER_V8_FLAGS) setFlagsFromString(flag);
  applied = true;
}
