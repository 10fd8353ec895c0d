import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SECRET_SETTINGS, SETTING_NAMES, settingsSchema } from "../../shared/config/settings.js";
import { SOURCES } from "../../shared/sources/registry.js";
import { METRIC_NAMES } from "../../shared/telemetry/metrics.js";

/**
 * The Bicep CLI cannot be installed here, so every .bicep file is parsed with the tree-sitter
 * grammar (syntax), and the structure the code depends on is checked on the syntax tree.
 */
interface SyntaxNode {
  type: string;
  text: string;
  isMissing: boolean;
  namedChildren: SyntaxNode[];
  startPosition: { row: number; column: number };
}

const require = createRequire(import.meta.url);
const Parser = require("tree-sitter") as new () => { setLanguage(language: unknown): void; parse(text: string): { rootNode: SyntaxNode } };
const parser = new Parser();
parser.setLanguage(require("tree-sitter-bicep"));

const infra = fileURLToPath(new URL("../../infra/", import.meta.url));
const shared = fileURLToPath(new URL("../../shared/", import.meta.url));
const files = ["main.bicep", ...readdirSync(join(infra, "modules")).filter((f) => f.endsWith(".bicep")).map((f) => `modules/${f}`)];
const trees = new Map(files.map((file) => [file, parser.parse(readFileSync(join(infra, file), "utf8")).rootNode]));

function* walk(node: SyntaxNode): Generator<SyntaxNode> {
  yield node;
  for (const child of node.namedChildren) yield* walk(child);
}

function unquote(text: string): string {
  return text.replace(/^'|'$/g, "");
}

/** Every `key: value` in a file, as [key, value text] pairs. */
function properties(file: string): [string, string][] {
  return [...walk(trees.get(file) as SyntaxNode)]
    .filter((n) => n.type === "object_property")
    .map((n) => [unquote(n.namedChildren[0]?.text ?? ""), n.namedChildren.at(-1)?.text ?? ""]);
}

/** The `key: value` nodes of the object a declaration (`var appSettings = {…}`, `module functionApp … = {…}`) holds. */
function declaration(file: string, type: string, name: string): SyntaxNode {
  const found = [...walk(trees.get(file) as SyntaxNode)].find((n) => n.type === type && n.namedChildren[0]?.text === name);
  if (!found) throw new Error(`${file} declares no ${type} ${name}`);
  return found;
}

function objectProperties(object: SyntaxNode | undefined): Map<string, SyntaxNode> {
  return new Map(
    (object?.namedChildren ?? []).filter((n) => n.type === "object_property").map((n) => [unquote(n.namedChildren[0]?.text ?? ""), n.namedChildren.at(-1) as SyntaxNode]),
  );
}

/** The function app's app settings: name → value expression. */
function appSettings(): Map<string, SyntaxNode> {
  return objectProperties(declaration("modules/functionapp.bicep", "variable_declaration", "appSettings").namedChildren.find((c) => c.type === "object"));
}

/** A module's `params: {…}` in main.bicep. */
function moduleParams(name: string): Map<string, SyntaxNode> {
  const body = objectProperties(declaration("main.bicep", "module_declaration", name).namedChildren.find((c) => c.type === "object"));
  return objectProperties(body.get("params"));
}

/** main.bicep's parameters and the text of their default values (as an app setting would carry them). */
function parameterDefaults(): Map<string, string | undefined> {
  return new Map(
    [...walk(trees.get("main.bicep") as SyntaxNode)]
      .filter((n) => n.type === "parameter_declaration")
      .map((n) => {
        const value = n.namedChildren[2];
        return [n.namedChildren[0]?.text as string, value ? (value.type === "string" ? unquote(value.text) : value.text) : undefined];
      }),
  );
}

function resourceTypes(): Set<string> {
  const types = new Set<string>();
  for (const tree of trees.values()) {
    for (const node of walk(tree)) {
      if (node.type !== "resource_declaration") continue;
      const type = node.namedChildren.find((c) => c.type === "string");
      if (type) types.add(unquote(type.text).split("@")[0] as string);
    }
  }
  return types;
}

/** Settings the Functions host itself reads on Azure (not our code). */
const HOST_SETTINGS = [
  "AzureWebJobsStorage__accountName",
  "AzureWebJobsStorage__credential",
  "AzureWebJobsStorage__clientId",
  "DataStorage__credential",
];
/** Connection strings: local only. On Azure the same accounts are reached with the managed identity. */
const LOCAL_ONLY_SETTINGS = ["AzureWebJobsStorage", "DataStorage"];

describe("infra/ (Bicep)", () => {
  it.each(files)("%s parses without syntax errors", (file) => {
    const errors = [...walk(trees.get(file) as SyntaxNode)]
      .filter((n) => n.type === "ERROR" || n.isMissing)
      .map((n) => `${n.isMissing ? "missing" : "error"} at ${n.startPosition.row + 1}:${n.startPosition.column + 1}: ${n.text.slice(0, 60)}`);
    expect(errors).toEqual([]);
  });

  it("declares the resources the app depends on", () => {
    expect([...resourceTypes()]).toEqual(
      expect.arrayContaining([
        "Microsoft.Web/serverfarms",
        "Microsoft.Web/sites",
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "Microsoft.Storage/storageAccounts",
        "Microsoft.Storage/storageAccounts/blobServices/containers",
        "Microsoft.Storage/storageAccounts/queueServices/queues",
        "Microsoft.Storage/storageAccounts/tableServices/tables",
        "Microsoft.OperationalInsights/workspaces",
        "Microsoft.Insights/components",
        "Microsoft.KeyVault/vaults",
        "Microsoft.Authorization/roleAssignments",
        "Microsoft.Insights/scheduledQueryRules",
      ]),
    );
  });

  it("locks the storage account down: no shared keys, TLS 1.2, no public blobs", () => {
    const storage = new Map(properties("modules/storage.bicep"));
    expect(storage.get("allowSharedKeyAccess")).toBe("false");
    expect(storage.get("allowBlobPublicAccess")).toBe("false");
    expect(storage.get("minimumTlsVersion")).toBe("'TLS1_2'");
    expect(new Map(properties("modules/monitoring.bicep")).get("DisableLocalAuth")).toBe("true");
    expect(new Map(properties("modules/keyvault.bicep")).get("enableRbacAuthorization")).toBe("true");
  });

  it("runs on the Flex Consumption plan with Node 22 and the managed identity", () => {
    const app = properties("modules/functionapp.bicep");
    const map = new Map(app);
    expect(map.get("tier")).toBe("'FlexConsumption'");
    expect(app).toContainEqual(["version", "'22'"]);
    expect(app).toContainEqual(["type", "'UserAssigned'"]);
    expect(map.get("keyVaultReferenceIdentity")).toBe("identityId");
  });

  it("sets every app setting the code reads, the host's own, and nothing else", () => {
    const tree = trees.get("modules/functionapp.bicep") as SyntaxNode;
    const declaration = [...walk(tree)].find((n) => n.type === "variable_declaration" && n.namedChildren[0]?.text === "appSettings");
    const object = declaration?.namedChildren.find((c) => c.type === "object");
    const keys = (object?.namedChildren ?? []).filter((n) => n.type === "object_property").map((n) => unquote(n.namedChildren[0]?.text ?? ""));
    const expected = [...SETTING_NAMES.filter((name) => !LOCAL_ONLY_SETTINGS.includes(name)), ...HOST_SETTINGS];
    expect(keys.sort()).toEqual(expected.sort());
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("gives each setting main.bicep wires through its parameters the code's own default", () => {
    const settings = moduleParams("functionApp");
    const defaults = parameterDefaults();
    const shape = settingsSchema.shape as unknown as Record<string, { safeParse(value: unknown): { success: boolean; data?: unknown } }>;
    let compared = 0;
    for (const [name, value] of appSettings()) {
      const schema = shape[name];
      if (!schema) continue; // the host's own settings
      // A Key Vault reference has no code default: where it must be one, the next test checks it.
      if (value.text.includes("@Microsoft.KeyVault(")) continue;
      const literal = value.type === "string" && !value.text.includes("${");
      if (literal) {
        expect(schema.safeParse(unquote(value.text)).success, `${name}: ${value.text} is a valid value`).toBe(true);
        continue;
      }
      // settings.x, string(settings.x), settings.x ? 'true' : 'false': the settings object main.bicep passes.
      const key = /\bsettings\.(\w+)/.exec(value.text)?.[1];
      if (!key) continue;
      const parameter = settings.get("settings")?.namedChildren.length ? objectProperties(settings.get("settings")).get(key)?.text : undefined;
      expect(parameter, `main.bicep passes settings.${key} (${name})`).toBeDefined();
      expect(defaults.has(parameter as string), `${name}: settings.${key} is the parameter ${parameter}`).toBe(true);
      const given = defaults.get(parameter as string);
      if (given === undefined) continue; // required: tenantIds, clientId
      const fromBicep = schema.safeParse(value.type === "ternary_expression" ? (given === "true" ? "true" : "false") : given);
      expect(fromBicep.success, `${name}: parameter ${parameter}'s default ${given} is valid`).toBe(true);
      expect(fromBicep.data, `${name}: parameter ${parameter}'s default ${given} is the code's default`).toEqual(schema.safeParse(undefined).data);
      compared += 1;
    }
    expect(compared).toBeGreaterThan(20);
  });

  it("keeps every feed's secret in Key Vault: its app setting is empty or a Key Vault reference to a secret the vault module stores", () => {
    const settings = appSettings();
    const app = moduleParams("functionApp");
    const vault = moduleParams("keyVault");
    // The secrets keyvault.bicep writes: `name: <parameter>` of each vaults/secrets resource (conditional ones included).
    const stored = new Set(
      [...walk(trees.get("modules/keyvault.bicep") as SyntaxNode)]
        .filter((n) => n.type === "resource_declaration" && n.text.includes("vaults/secrets"))
        .map((n) => {
          const body = n.namedChildren.find((c) => c.type === "object") ?? n.namedChildren.find((c) => c.type === "if_statement")?.namedChildren.find((c) => c.type === "object");
          return objectProperties(body).get("name")?.text;
        }),
    );
    const feedSecrets = SOURCES.flatMap((source) => [...source.secretSettings]);
    expect(feedSecrets).toEqual(expect.arrayContaining(["O365_CLIENT_SECRET", "SOPHOS_CLIENT_SECRET"]));
    let references = 0;
    for (const name of new Set(feedSecrets)) {
      expect(SECRET_SETTINGS.has(name), `${name} is hidden in messages`).toBe(true);
      const value = settings.get(name);
      expect(value, `${name} is an app setting`).toBeDefined();
      const strings = value?.type === "ternary_expression" ? (value.namedChildren.slice(1) as SyntaxNode[]) : [value as SyntaxNode];
      for (const branch of strings) {
        expect(branch.type, `${name}: each value it can take is a literal`).toBe("string");
        if (branch.text === "''") continue;
        const secretParam = /^'@Microsoft\.KeyVault\(VaultName=\$\{keyVaultName\};SecretName=\$\{(\w+)\}\)'$/.exec(branch.text)?.[1];
        expect(secretParam, `${name}: ${branch.text} is a Key Vault reference`).toBeDefined();
        // main.bicep gives the function app and the vault module one variable for the secret's name.
        const given = app.get(secretParam as string)?.text;
        expect(given, `main.bicep passes ${secretParam} to the function app`).toBeDefined();
        const vaultParam = [...vault].find(([, v]) => v.text === given)?.[0];
        expect(vaultParam, `main.bicep passes ${given} to the Key Vault module too`).toBeDefined();
        expect(stored.has(vaultParam), `keyvault.bicep stores a secret named by ${vaultParam}`).toBe(true);
        references += 1;
      }
    }
    expect(references).toBeGreaterThanOrEqual(3); // the Entra client secret and certificate, the Sophos client secret
  });

  it("sets every feed's timer schedule, on or off (list-<feed> binds %<schedule setting>%)", () => {
    const settings = appSettings();
    for (const source of SOURCES) {
      const value = settings.get(source.scheduleSetting);
      expect(value, `${source.name}: ${source.scheduleSetting} is an app setting`).toBeDefined();
      expect(value?.text, `${source.name}: ${source.scheduleSetting} is never empty`).not.toBe("''");
    }
  });

  it("derives the work queue, its poison queue and WORK_QUEUE from one parameter", () => {
    const storage = moduleParams("storage");
    const app = objectProperties(moduleParams("functionApp").get("settings"));
    expect(storage.get("workQueueName")?.text).toBe("workQueue");
    expect(app.get("workQueue")?.text).toBe("workQueue");
    expect(appSettings().get("WORK_QUEUE")?.text).toBe("settings.workQueue");
    const queues = [...walk(trees.get("modules/storage.bicep") as SyntaxNode)]
      .filter((n) => n.type === "resource_declaration" && n.text.includes("queueServices/queues"))
      .map((n) => objectProperties(n.namedChildren.find((c) => c.type === "object")).get("name")?.text);
    expect(queues.sort()).toEqual(["'${workQueueName}-poison'", "workQueueName"]);
  });

  it("deploys the alert rules the operator needs, per feed, on the metrics and functions the code has", () => {
    const names = properties("modules/alerts.bicep").filter(([key]) => key === "name").map(([, value]) => unquote(value));
    expect(names).toEqual(expect.arrayContaining(["poison-queue", "work-failed", "collection-lag", "api-throttling", "function-failures", "listing-stalled", "tenants-not-found"]));
    const queries = properties("modules/alerts.bicep").filter(([key]) => key === "query").map(([, value]) => value);
    const text = readFileSync(join(infra, "modules/alerts.bicep"), "utf8");
    // Every metric a query names is one the code records, and every metric query is split by feed.
    const metrics = new Set<string>(Object.values(METRIC_NAMES));
    for (const query of queries) {
      for (const [name] of query.matchAll(/audit_intake\.[a-z_.]+[a-z]/g)) expect(metrics.has(name), `${name} is a metric of shared/telemetry/metrics.ts`).toBe(true);
      if (query.includes("customMetrics")) expect(query).toContain("customDimensions.source");
    }
    expect(queries.some((q) => q.includes(METRIC_NAMES.lag) && q.includes("customDimensions.tenant"))).toBe(true);
    expect(queries.some((q) => q.includes(METRIC_NAMES.throttled))).toBe(true);
    expect(queries.some((q) => q.includes(METRIC_NAMES.failed))).toBe(true);
    // A rule on log lines matches a line the code writes: a reworded message would silence it.
    const code = readdirSync(shared, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts"))
      .map((f) => readFileSync(join(shared, f), "utf8"))
      .join("\n");
    const phrases = queries.flatMap((q) => [...q.matchAll(/message (?:contains|has|startswith) "([^"]+)"/g)].map((m) => m[1] as string));
    expect(phrases.length).toBeGreaterThanOrEqual(3);
    for (const phrase of phrases) expect(code.includes(phrase), `shared/ logs "${phrase}"`).toBe(true);
    // Each feed's timer (functions/list.ts) is one the stalled-listing rule can name; no function of before remains.
    for (const source of SOURCES) expect(text).toContain(`'list-${source.name}'`);
    expect(text).not.toMatch(/listContent|processContent|contentType|audit_intake\.content\./);
  });

  it("assigns exactly the least-privilege roles, nothing broader", () => {
    const roleIds = properties("modules/roles.bicep")
      .map(([, value]) => unquote(value))
      .filter((value) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value));
    expect(roleIds.sort()).toEqual(
      [
        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b", // Storage Blob Data Owner
        "974c5e8b-45b9-4653-ba55-5f855dd0fb88", // Storage Queue Data Contributor
        "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", // Storage Table Data Contributor
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe", // Storage Blob Data Contributor (output container)
        "3913510d-42f4-4e42-8a64-420c390055eb", // Monitoring Metrics Publisher
        "4633458b-17de-408a-b874-0445c86b69e6", // Key Vault Secrets User
      ].sort(),
    );
    const assignments = [...walk(trees.get("modules/roles.bicep") as SyntaxNode)].filter((n) => n.type === "resource_declaration" && n.text.includes("roleAssignments"));
    expect(assignments).toHaveLength(6);
  });

  it("has a parameters file whose parameters main.bicep declares, and fills its required ones", () => {
    const declared = new Map(
      [...walk(trees.get("main.bicep") as SyntaxNode)]
        .filter((n) => n.type === "parameter_declaration")
        .map((n) => [n.namedChildren[0]?.text as string, n.namedChildren.length > 2]),
    );
    const given = Object.keys((JSON.parse(readFileSync(join(infra, "main.parameters.json"), "utf8")) as { parameters: object }).parameters);
    for (const name of given) expect(declared.has(name), `main.bicep declares ${name}`).toBe(true);
    const required = [...declared].filter(([name, hasDefault]) => !hasDefault && name !== "clientSecret").map(([name]) => name);
    expect(given).toEqual(expect.arrayContaining(required));
  });
});
