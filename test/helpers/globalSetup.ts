import type { TestProject } from "vitest/node";
import { startAzurite } from "../../shared/local/azurite.js";

/** One in-memory Azurite for the whole run; each test isolates itself by table, queue and container names. */
export default async function setup(project: TestProject) {
  const azurite = await startAzurite();
  project.provide("azurite", azurite.connectionString);
  return async () => {
    await azurite.stop();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    azurite: string;
  }
}
