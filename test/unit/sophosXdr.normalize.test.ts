import { describe, expect, it } from "vitest";
import type { GeoLookup } from "../../shared/ecs/geoip.js";
import {
  normalizeSophosXdr,
  normalizeSophosXdrToLine,
  SOPHOS_XDR_DATASET,
  type SophosXdrContext,
} from "../../shared/sources/sophos-xdr/normalize.js";

/**
 * Rows written for these tests in the shape of Sophos Central's XDR Data Lake `xdr_ioc_view` (the columns
 * of the seed's samples: `meta_*` endpoint columns, `ioc_*` detection columns, JSON in text for the
 * detection's Sigma header, references, licences and MITRE ATT&CK entries, and each query's own result
 * columns). Nothing here reads the corpus beside the project.
 */
/** A written document, read by path in assertions: any, so that each assertion need not restate its shape. */
type Doc = Record<string, any>;

const context: SophosXdrContext = { preserveOriginal: false, now: () => Date.UTC(2026, 0, 2) };

function normalize(row: unknown, options: Partial<SophosXdrContext> = {}): Doc {
  // Compared as written: the serialized NDJSON line.
  return JSON.parse(JSON.stringify(normalizeSophosXdr(row, { ...context, ...options }))) as Doc;
}

/** What every row has: the endpoint and the detection. */
const endpoint = {
  calendar_time: "2024-03-04T05:06:07.000Z",
  unix_time: "2024-03-04T05:06:07.000Z",
  ioc_unix_time: "2024-03-04T05:06:07.000Z",
  ioc_created_at: "2024-03-04T05:06:30.123Z",
  ingestion_timestamp: "2024-03-04T05:06:20.456Z",
  customer_id: "7a1c3f52-0000-4000-8000-00000000c0de",
  endpoint_id: "5d2e9c44-0000-4000-8000-0000000000e1",
  host_identifier: "4C4C4544-0035-4E10-8044-B3C04F5A3333",
  meta_hostname: "WS-0142",
  meta_os_name: "Microsoft Windows 11 Pro",
  meta_os_platform: "windows",
  meta_os_version: "10.0.22631",
  meta_os_type: "",
  meta_ip_address: "10.20.30.40",
  meta_ip_mask: "255.255.255.0",
  meta_mac_address: "00:15:5d:01:02:03",
  meta_public_ip: "81.2.69.142",
  meta_public_ip_country: "France",
  meta_public_ip_country_code: "FR",
  meta_public_ip_city: "Lyon",
  meta_public_ip_latitude: 45.75,
  meta_public_ip_longitude: 4.85,
  meta_username: "jdoe",
  meta_endpoint_type: "computer",
  meta_licence: "",
  meta_query_pack_version: "1.21.26",
  upload_size: 1406,
  query_source: "xdr_only",
  osquery_action: "added",
  ioc_worker_id: "security-event-service",
  ioc_worker_name: "Security Event Service",
  ioc_detection_type: "Threat",
  ioc_detection_category: "Threat",
  ioc_detection_weight: 4,
  ioc_severity: 4,
  ioc_detection_licenses: '["MTR","XDR"]',
  ioc_detection_mitre_attack: "[]",
  ioc_log_type: "summary",
};

/** Windows event 4738 as the user-account-changed query reports it. */
const userChanged = {
  ...endpoint,
  query_name: "windows_event_user_account_changed",
  eventid: 4738,
  provider_name: "Microsoft-Windows-Security-Auditing",
  source: "Security",
  description: "A User Account was changed",
  ioc_detection_id: "WIN-EVENT-4738",
  ioc_detection_description: "Windows Event User Account Changed.",
  ioc_detection_references: '["https://learn.microsoft.com/windows/security/threat-protection/auditing/event-4738"]',
  ioc_detection_sigma: '{"id":"EVENT-4738.star","logsource":{"dedup_fields":["machine_data.name"]}}',
  subject_username: "WS-0142$",
  subject_domain: "CONTOSO",
  subject_logon_id: "0x3e7",
  target_username: "Administrator",
  target_domain: "WS-0142",
  sam_account_name: "-",
  display_name: "-",
  password_last_set: "%%1794",
};

/** Windows event 4625, summarized by the brute-force query. */
const bruteForce = {
  ...endpoint,
  query_name: "windows_event_invalid_logon_brute_force",
  eventid: 4625,
  provider_name: "Microsoft-Windows-Security-Auditing",
  description: "Source IP is shuffling through 20 or more different usernames, appears to be a brute force attack",
  ioc_severity: 5,
  ioc_detection_id: "EVENT-4625-Brute-Force-Attempt",
  ioc_detection_description: "Windows Event Brute Force Attempt Detected.",
  ioc_detection_references: '["https://example.com/event-4625"]',
  remote_address: "203.0.113.9",
  remote_port: 0,
  logon_type: 3,
  authentication_package: "NTLM",
  username_list: "admin,administrator, backup,-,",
  event_timestamps: "1689589974,1689589842",
  subject_username: "-",
  subject_domain: "-",
  workstation_name: "-",
  target_domain: "",
  meta_public_ip_latitude: -221.9,
  meta_public_ip_longitude: -477.05,
};

/** A compliance finding read from the registry. */
const vulnerability = {
  ...endpoint,
  query_name: "vulnerability_dep",
  ioc_detection_type: "Vulnerability",
  ioc_detection_category: "Vulnerability",
  ioc_detection_id: "COMPLIANCE-DEP-PERMISSIVE",
  ioc_detection_description: "DEP is not Admin Opt-out or Always-on.",
  ioc_detection_cvss: "4",
  ioc_detection_references: '["https://example.com/dep","https://example.com/dep-2"]',
  ioc_detection_access: '{"authentication":"None","complexity":"Low","vector":"Local"}',
  ioc_detection_impact: '{"availability":"Partial","confidentiality":"Partial","integrity":"-"}',
  analysis: '{"dep_opt_out":0,"dep_alwayson":0,"dep_opt_in":1}',
  path: "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\SystemStartOptions",
  key: "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control",
  name: "SystemStartOptions",
  type: "REG_SZ",
  data: " NOEXECUTE=OPTIN  FVEBOOT=2871296",
  mtime: 1669757890,
};

/** A running process flagged by the LOLBin model. */
const runningProcess = {
  ...endpoint,
  query_name: "running_processes_windows_sophos",
  ioc_detection_type: "process",
  ioc_detection_id: "WIN-EXE-ENR-ML-SUSPICIOUS-1",
  ioc_detection_description: "Identifies Lolbin processes labeled as suspicious by a machine learning model.",
  ioc_detection_mitre_attack: '[{"tactic":{"id":"TA0002","name":"Execution","techniques":[{"id":"T1059","name":"Command and Scripting Interpreter"}]}}]',
  name: "WMIC.exe",
  path: "C:\\Windows\\System32\\wbem\\WMIC.exe",
  cmdline: "wmic /Namespace:\\\\root\\SecurityCenter2 Path AntivirusProduct Get displayName",
  pid: 3984,
  parent: 25740,
  parent_name: "cmd.exe",
  parent_path: "C:\\Windows\\System32\\cmd.exe",
  parent_cmdline: "cmd.exe /c wmic",
  sophos_pid: "3984:133378811508910039",
  parent_sophos_pid: "25740:133378811508900000",
  username: "jdoe",
  sha1: "adc83b19e793491b1c6ea0fd8b46cd9f32e592fc",
  sha256: "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b",
  file_size: 576000,
  original_filename: "wmic.exe",
  company_name: "Microsoft Corporation",
  is_process_file_signed: "1",
  local_rep_data: '{"reputationData":{"isSigned":1,"signerInfo":[{"isValid":1,"signer":"Microsoft Windows"}]}}',
  lolbins_ml_results: { score: 99.0, score_label: "Suspicious", sha256: "-" },
};

/** A runtime (behavioural) IOC with its process and a sub-technique. */
const runtimeIoc = {
  ...endpoint,
  query_name: "sophos_runtime_iocs_windows",
  ioc_worker_name: "Direct Mapping Worker",
  ioc_detection_id: "WIN-DET-T1547.009",
  ioc_detection_references: "[]",
  ioc_detection_mitre_attack: JSON.stringify([
    {
      tactic: {
        id: "TA0003",
        name: "Persistence",
        external_references: [{ external_id: "TA0003", source_name: "mitre-attack", url: "https://attack.mitre.org/tactics/TA0003" }],
        techniques: [
          {
            id: "T1547.009",
            name: "Shortcut Modification",
            external_references: [
              { source_name: "capec", url: "https://capec.mitre.org/data/definitions/132.html" },
              { external_id: "T1547.009", source_name: "mitre-attack", url: "https://attack.mitre.org/techniques/T1547/009" },
            ],
          },
        ],
      },
    },
  ]),
  ioc_event_path: "C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\evil.lnk",
  ioc_event_ttp_summary: "TA0003-T1547.009",
  ioc_event_threat_source: "Behavioral",
  ioc_event_events: '[{"type":"ProcessCreate","spid":{"!spid":"[14208:1]"}}]',
  process_name: "ONENOTE.EXE",
  process_path: "C:\\Program Files\\Microsoft Office\\root\\Office16\\ONENOTE.EXE",
  process_cmd_line: '"C:\\Program Files\\Microsoft Office\\root\\Office16\\ONENOTE.EXE" ',
  process_pid: 12120,
  process_sha256: "94256542e235681ba64a20bc50910dd745d52347aaaaaaaaaaaaaaaaaaaaaaaa",
  process_parent_name: "explorer.exe",
  process_parent_path: "C:\\Windows\\explorer.exe",
  process_file_size: 2119600,
  process_local_rep_signers: '{"reputationData":{"isSigned":1,"signerInfo":[{"isValid":0,"signer":"Microsoft Corporation"}]}}',
};

describe("normalizeSophosXdr: what every row gets", () => {
  it("writes the time, the detection, the endpoint, the data stream", () => {
    const doc = normalize(userChanged);
    expect(doc["@timestamp"]).toBe("2024-03-04T05:06:07.000Z");
    expect(doc.ecs).toEqual({ version: "8.11.0" });
    expect(doc.data_stream).toEqual({ type: "logs", dataset: "sophos_central.xdr_ioc", namespace: "default" });
    expect(doc.event).toMatchObject({
      kind: "alert",
      dataset: SOPHOS_XDR_DATASET,
      code: "WIN-EVENT-4738",
      severity: 4,
      reason: "A User Account was changed",
      created: "2024-03-04T05:06:30.123Z",
      ingested: "2024-03-04T05:06:20.456Z",
      provider: "Microsoft-Windows-Security-Auditing",
    });
    expect(doc.rule).toEqual({
      id: "WIN-EVENT-4738",
      description: "Windows Event User Account Changed.",
      category: "Threat",
      reference: "https://learn.microsoft.com/windows/security/threat-protection/auditing/event-4738",
    });
    expect(doc.vulnerability).toEqual({
      description: "Windows Event User Account Changed.",
      reference: "https://learn.microsoft.com/windows/security/threat-protection/auditing/event-4738",
    });
    expect(doc.host).toEqual({
      name: "WS-0142",
      id: "4C4C4544-0035-4E10-8044-B3C04F5A3333",
      domain: "CONTOSO",
      ip: "10.20.30.40",
      os: { full: "Microsoft Windows 11 Pro", name: "windows", platform: "windows", type: "windows", version: "10.0.22631" },
    });
    expect(doc.source).toEqual({
      ip: "10.20.30.40",
      address: "10.20.30.40",
      mac: "00:15:5d:01:02:03",
      nat: { ip: "81.2.69.142" },
      bytes: 1406,
      geo: { country_name: "France", country_iso_code: "FR", city_name: "Lyon", location: { lat: 45.75, lon: 4.85 } },
    });
    expect(doc.user).toEqual({ name: "jdoe", target: { name: "Administrator", domain: "WS-0142" } });
    expect(doc.organization).toEqual({ id: "7a1c3f52-0000-4000-8000-00000000c0de" });
  });

  it("uses the namespace of the context", () => {
    expect(normalize(userChanged, { namespace: "tenant-a" }).data_stream).toEqual({ type: "logs", dataset: SOPHOS_XDR_DATASET, namespace: "tenant-a" });
  });

  it("takes the next time column when calendar_time is absent", () => {
    const { calendar_time: _c, unix_time: _u, ioc_unix_time: _i, ...row } = userChanged;
    const doc = normalize(row);
    expect(doc["@timestamp"]).toBe("2024-03-04T05:06:30.123Z");
    expect(doc.event.kind).toBe("alert");
  });

  it("keeps the Sophos worker as a vendor field, never as process.name", () => {
    const doc = normalize(userChanged);
    expect(doc.process).toBeUndefined();
    expect(doc.sophos.xdr).toMatchObject({ ioc_worker_name: "Security Event Service", ioc_worker_id: "security-event-service" });
  });

  it("keeps the columns ECS has no field for under sophos.xdr.<column>, placeholders dropped", () => {
    const xdr = normalize(userChanged).sophos.xdr;
    expect(xdr).toMatchObject({
      subject_username: "WS-0142$",
      subject_logon_id: "0x3e7",
      password_last_set: "%%1794",
      endpoint_id: "5d2e9c44-0000-4000-8000-0000000000e1",
      meta_endpoint_type: "computer",
      query_name: "windows_event_user_account_changed",
      ioc_detection_licenses: ["MTR", "XDR"],
      ioc_detection_sigma: { id: "EVENT-4738.star", logsource: { dedup_fields: ["machine_data.name"] } },
      eventid: 4738,
    });
    for (const dropped of ["sam_account_name", "display_name", "meta_licence", "meta_os_type", "ioc_detection_mitre_attack"]) expect(xdr).not.toHaveProperty(dropped);
    // Written to ECS: not repeated.
    for (const mapped of ["meta_hostname", "ioc_detection_id", "ioc_detection_references", "target_username", "upload_size"]) expect(xdr).not.toHaveProperty(mapped);
  });
});

describe("normalizeSophosXdr: record families", () => {
  it("user-account change: the target as destination and user.target, the subject's domain as host.domain", () => {
    const doc = normalize(userChanged);
    expect(doc.destination).toEqual({ domain: "WS-0142", address: "WS-0142" });
    expect(doc.event).toMatchObject({ category: ["iam"], type: ["user", "change"], action: "modified-user-account" });
    expect(doc.related).toEqual({ ip: ["10.20.30.40", "81.2.69.142"], user: ["Administrator", "jdoe"], hosts: ["WS-0142"] });
  });

  it("a locked-out account with a target server", () => {
    const doc = normalize({ ...userChanged, eventid: 4740, query_name: "windows_query_event", target_server: "DC01" });
    expect(doc.event).toMatchObject({ category: ["iam"], type: ["user", "change"], action: "locked-out-user-account" });
    expect(doc.server).toEqual({ domain: "DC01" });
    expect(doc.related.hosts).toEqual(["DC01", "WS-0142"]);
  });

  it("brute-force logons: the remote end, the failure, the user names tried, the span of the attempts", () => {
    const doc = normalize(bruteForce);
    expect(doc.destination).toEqual({ ip: "203.0.113.9", address: "203.0.113.9", port: 0 });
    expect(doc.event).toMatchObject({
      category: ["authentication"],
      type: ["start"],
      outcome: "failure",
      action: "logon-failed",
      severity: 5,
      start: "2023-07-17T10:30:42.000Z",
      end: "2023-07-17T10:32:54.000Z",
    });
    expect(doc.sophos.xdr.username_list).toEqual(["admin", "administrator", "backup"]);
    expect(doc.sophos.xdr.event_timestamps).toEqual(["2023-07-17T10:32:54.000Z", "2023-07-17T10:30:42.000Z"]);
    expect(doc.related.user).toEqual(["admin", "administrator", "backup", "jdoe"]);
    expect(doc.related.ip).toEqual(["10.20.30.40", "203.0.113.9", "81.2.69.142"]);
    // "-" is Windows' "none": no host.domain "-", no user "-".
    expect(doc.host.domain).toBeUndefined();
    expect(doc.sophos.xdr).not.toHaveProperty("subject_username");
    expect(doc.sophos.xdr).not.toHaveProperty("target_domain");
    // Coordinates out of range are no location; the row's values stay as they are.
    expect(doc.source.geo.location).toBeUndefined();
    expect(doc.sophos.xdr).toMatchObject({ meta_public_ip_latitude: -221.9, meta_public_ip_longitude: -477.05 });
  });

  it("vulnerabilities read from the registry: registry.*, the CVSS score, the parsed CVSS vectors", () => {
    const doc = normalize(vulnerability);
    expect(doc.registry).toEqual({
      path: "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\SystemStartOptions",
      key: "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control",
      hive: "HKLM",
      value: "SystemStartOptions",
      data: { type: "REG_SZ", strings: [" NOEXECUTE=OPTIN  FVEBOOT=2871296"] },
    });
    expect(doc.vulnerability).toEqual({
      description: "DEP is not Admin Opt-out or Always-on.",
      score: { base: 4 },
      reference: ["https://example.com/dep", "https://example.com/dep-2"],
    });
    expect(doc.event).toMatchObject({ category: ["vulnerability"], type: ["info"] });
    expect(doc.sophos.xdr).toMatchObject({
      analysis: { dep_opt_out: 0, dep_alwayson: 0, dep_opt_in: 1 },
      ioc_detection_access: { authentication: "None", complexity: "Low", vector: "Local" },
      ioc_detection_impact: { availability: "Partial", confidentiality: "Partial" },
      mtime: 1669757890,
    });
    expect(doc.file).toBeUndefined();
    expect(doc.process).toBeUndefined();
  });

  it("running processes: the row is the process, and its image the file", () => {
    const doc = normalize(runningProcess);
    expect(doc.process).toEqual({
      name: "WMIC.exe",
      executable: "C:\\Windows\\System32\\wbem\\WMIC.exe",
      command_line: "wmic /Namespace:\\\\root\\SecurityCenter2 Path AntivirusProduct Get displayName",
      pid: 3984,
      entity_id: "3984:133378811508910039",
      user: { name: "jdoe" },
      hash: { sha1: "adc83b19e793491b1c6ea0fd8b46cd9f32e592fc", sha256: "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b" },
      code_signature: { exists: true, subject_name: "Microsoft Windows", valid: true },
      parent: {
        pid: 25740,
        name: "cmd.exe",
        executable: "C:\\Windows\\System32\\cmd.exe",
        command_line: "cmd.exe /c wmic",
        entity_id: "25740:133378811508900000",
      },
    });
    expect(doc.file).toEqual({
      name: "WMIC.exe",
      path: "C:\\Windows\\System32\\wbem\\WMIC.exe",
      directory: "C:\\Windows\\System32\\wbem",
      size: 576000,
      hash: { sha1: "adc83b19e793491b1c6ea0fd8b46cd9f32e592fc", sha256: "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b" },
      pe: { original_file_name: "wmic.exe", company: "Microsoft Corporation" },
    });
    expect(doc.event).toMatchObject({ category: ["process"], type: ["info"] });
    expect(doc.related.hash).toEqual(["01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b", "adc83b19e793491b1c6ea0fd8b46cd9f32e592fc"]);
    // The process owner is process.user, not one more related user (as Sekoia's related.user).
    expect(doc.related.user).toEqual(["jdoe"]);
    // An object column is kept, cleaned of placeholders.
    expect(doc.sophos.xdr.lolbins_ml_results).toEqual({ score: 99, score_label: "Suspicious" });
    expect(doc.sophos.xdr.ioc_worker_name).toBe("Security Event Service");
  });

  it("runtime IOCs: the process by its own columns, the event's path as the file", () => {
    const doc = normalize(runtimeIoc);
    expect(doc.process).toMatchObject({
      name: "ONENOTE.EXE",
      executable: "C:\\Program Files\\Microsoft Office\\root\\Office16\\ONENOTE.EXE",
      command_line: '"C:\\Program Files\\Microsoft Office\\root\\Office16\\ONENOTE.EXE" ',
      pid: 12120,
      hash: { sha256: "94256542e235681ba64a20bc50910dd745d52347aaaaaaaaaaaaaaaaaaaaaaaa" },
      parent: { name: "explorer.exe", executable: "C:\\Windows\\explorer.exe" },
      code_signature: { exists: true, subject_name: "Microsoft Corporation", valid: false },
    });
    expect(doc.process.parent.working_directory).toBeUndefined();
    expect(doc.file).toEqual({
      path: "C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\evil.lnk",
      directory: "C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup",
      name: "evil.lnk",
      size: 2119600,
    });
    expect(doc.event).toMatchObject({ category: ["intrusion_detection"], type: ["info"] });
    // Free-form event lists stay the text they are.
    expect(doc.sophos.xdr.ioc_event_events).toBe('[{"type":"ProcessCreate","spid":{"!spid":"[14208:1]"}}]');
    expect(doc.sophos.xdr.ioc_event_ttp_summary).toBe("TA0003-T1547.009");
    expect(doc.vulnerability).toBeUndefined();
  });

  it("a process command line of its own column wins over cmdline, which is then kept as a vendor field", () => {
    const doc = normalize({ ...runtimeIoc, cmdline: "get_test " });
    expect(doc.process.command_line).toBe('"C:\\Program Files\\Microsoft Office\\root\\Office16\\ONENOTE.EXE" ');
    expect(doc.sophos.xdr.cmdline).toBe("get_test ");
  });

  it("threat_source names the indicator's provider; the family of an unknown query is only the shared columns", () => {
    const doc = normalize({ ...endpoint, query_name: "windows_query_event", threat_source: "Sophos Labs", name: "x", path: "C:\\x" });
    expect(doc.threat.indicator).toEqual({ provider: "Sophos Labs" });
    expect(doc.process).toBeUndefined();
    expect(doc.sophos.xdr).toMatchObject({ name: "x", path: "C:\\x" });
  });
});

describe("normalizeSophosXdr: MITRE ATT&CK", () => {
  it("maps tactics and techniques with their ATT&CK references", () => {
    const doc = normalize(runningProcess);
    expect(doc.threat).toEqual({
      framework: "MITRE ATT&CK",
      tactic: { id: ["TA0002"], name: ["Execution"] },
      technique: { id: ["T1059"], name: ["Command and Scripting Interpreter"] },
    });
    expect(doc.sophos.xdr).not.toHaveProperty("ioc_detection_mitre_attack");
  });

  it("a sub-technique: its parent's id as the technique, its own fields as the subtechnique", () => {
    expect(normalize(runtimeIoc).threat).toEqual({
      framework: "MITRE ATT&CK",
      tactic: { id: ["TA0003"], name: ["Persistence"], reference: ["https://attack.mitre.org/tactics/TA0003"] },
      technique: {
        id: ["T1547"],
        subtechnique: { id: ["T1547.009"], name: ["Shortcut Modification"], reference: ["https://attack.mitre.org/techniques/T1547/009"] },
      },
    });
  });

  it("several tactics, repeats written once", () => {
    const entries = [
      { tactic: { id: "TA0002", name: "Execution", techniques: [{ id: "T1059", name: "Command and Scripting Interpreter" }] } },
      { tactic: { id: "TA0005", name: "Defense Evasion", techniques: [{ id: "T1218", name: "System Binary Proxy Execution" }, { id: "T1059", name: "Command and Scripting Interpreter" }] } },
    ];
    const doc = normalize({ ...runningProcess, ioc_detection_mitre_attack: JSON.stringify(entries) });
    expect(doc.threat.tactic).toEqual({ id: ["TA0002", "TA0005"], name: ["Execution", "Defense Evasion"] });
    expect(doc.threat.technique).toEqual({ id: ["T1059", "T1218"], name: ["Command and Scripting Interpreter", "System Binary Proxy Execution"] });
  });

  it("no entries: the ids of the TTP summary", () => {
    const doc = normalize({ ...runtimeIoc, ioc_detection_mitre_attack: "[]", ioc_event_ttp_summary: "TA0003-T1547.009,TA0005-T1036" });
    expect(doc.threat).toEqual({
      framework: "MITRE ATT&CK",
      tactic: { id: ["TA0003", "TA0005"] },
      technique: { id: ["T1547", "T1036"], subtechnique: { id: ["T1547.009"] } },
    });
  });

  it("no MITRE in the row: no threat.*", () => {
    expect(normalize(userChanged).threat).toBeUndefined();
  });

  it("entries of another shape are kept as they are under sophos.xdr", () => {
    const doc = normalize({ ...userChanged, ioc_detection_mitre_attack: '[{"technique":"T1059"}]' });
    expect(doc.threat).toBeUndefined();
    expect(doc.sophos.xdr.ioc_detection_mitre_attack).toEqual([{ technique: "T1059" }]);
    expect(doc.event.kind).toBe("alert");
  });
});

describe("normalizeSophosXdr: JSON in text", () => {
  it("parses each JSON column, drops placeholders inside, accepts a value already parsed", () => {
    const doc = normalize({ ...userChanged, ioc_detection_sigma: { id: "EVENT-4738", logsource: { product: "-", category: "" } }, ioc_detection_licenses: ["MTR"] });
    expect(doc.sophos.xdr.ioc_detection_sigma).toEqual({ id: "EVENT-4738" });
    expect(doc.sophos.xdr.ioc_detection_licenses).toEqual(["MTR"]);
    expect(doc.event.kind).toBe("alert");
  });

  it("malformed JSON: the column is left out and reported, the rest mapped, the document flagged with its original", () => {
    const text = JSON.stringify({ ...userChanged, ioc_detection_sigma: '{"id":"EVENT-4738",' });
    const doc = normalize(JSON.parse(text), { originalText: text });
    expect(doc.event).toMatchObject({ kind: "pipeline_error", code: "WIN-EVENT-4738", original: text, dataset: SOPHOS_XDR_DATASET });
    expect(doc.error.message).toEqual([expect.stringMatching(/^ioc_detection_sigma: not JSON/)]);
    expect(doc.tags).toEqual(["preserve_original_event"]);
    expect(doc.sophos.xdr).not.toHaveProperty("ioc_detection_sigma");
    expect(doc.host.name).toBe("WS-0142");
  });

  it("JSON of the wrong shape is reported as well", () => {
    const doc = normalize({ ...userChanged, ioc_detection_references: '{"url":"https://example.com"}', ioc_detection_licenses: '"MTR"' });
    expect(doc.event.kind).toBe("pipeline_error");
    expect([...doc.error.message].sort()).toEqual(["ioc_detection_licenses: JSON a string, not an array", "ioc_detection_references: JSON an object, not an array"]);
    expect(doc.vulnerability.reference).toBeUndefined();
  });

  it("a `__proto__` key in parsed JSON is data, not a prototype", () => {
    const doc = normalize({ ...vulnerability, analysis: '{"__proto__":{"polluted":1},"dep_opt_in":1}' });
    expect(doc.sophos.xdr.analysis).toEqual(JSON.parse('{"__proto__":{"polluted":1},"dep_opt_in":1}'));
    expect(({} as Doc).polluted).toBeUndefined();
  });

  it("JSON nested deeper than any Sophos column is refused, not followed", () => {
    const deep = `${"[".repeat(100)}${"]".repeat(100)}`;
    const doc = normalize({ ...vulnerability, analysis: `{"a":${deep}}` });
    expect(doc.event.kind).toBe("pipeline_error");
    expect(doc.error.message).toEqual([expect.stringMatching(/^analysis: nested more than \d+ levels deep/)]);
  });
});

describe("normalizeSophosXdr: values that cannot be read", () => {
  it("a severity that is not a number is reported and left out", () => {
    const doc = normalize({ ...userChanged, ioc_severity: "high" });
    expect(doc.event).toMatchObject({ kind: "pipeline_error" });
    expect(doc.event.severity).toBeUndefined();
    expect(doc.error.message).toEqual(['ioc_severity "high" is not a number']);
    expect(doc.sophos.xdr).not.toHaveProperty("ioc_severity");
  });

  it("a CVSS column that holds no score is kept as text, not an error", () => {
    const doc = normalize({ ...vulnerability, ioc_detection_cvss: "AV:L/AC:L/Au:N/C:P/I:P/A:P" });
    expect(doc.vulnerability.score).toBeUndefined();
    expect(doc.sophos.xdr.ioc_detection_cvss).toBe("AV:L/AC:L/Au:N/C:P/I:P/A:P");
    expect(doc.event.kind).toBe("alert");
  });

  it("numbers written as text are numbers", () => {
    expect(normalize({ ...userChanged, ioc_severity: "3", upload_size: "99" })).toMatchObject({ event: { severity: 3, kind: "alert" }, source: { bytes: 99 } });
  });

  it("an endpoint address that is not an IP is its address only, not an error", () => {
    const doc = normalize({ ...userChanged, meta_ip_address: "unknown", meta_public_ip: "n/a" });
    expect(doc.source.ip).toBeUndefined();
    expect(doc.source.address).toBe("unknown");
    expect(doc.source.nat).toBeUndefined();
    expect(doc.sophos.xdr.meta_public_ip).toBe("n/a");
    expect(doc.event.kind).toBe("alert");
  });

  it("a row without any time gets the ingest time and is flagged", () => {
    const { calendar_time: _c, unix_time: _u, ioc_unix_time: _i, ioc_created_at: _a, ...row } = userChanged;
    const doc = normalize(row);
    expect(doc["@timestamp"]).toBe("2026-01-02T00:00:00.000Z");
    expect(doc.event.kind).toBe("pipeline_error");
    expect(doc.error.message).toEqual([expect.stringMatching(/^the row has no time: none of calendar_time, unix_time/)]);
  });
});

describe("normalizeSophosXdr: input that is not a row", () => {
  it.each([
    ["null", null, "row is null, not an object"],
    ["an array", [userChanged], "row is an array, not an object"],
    ["a string", '{"meta_hostname":"WS-0142"}', "row is a string, not an object"],
    ["a number", 42, "row is a number, not an object"],
  ])("%s becomes a pipeline_error keeping the original", (_name, input, message) => {
    const doc = normalize(input);
    expect(doc.event).toEqual({ kind: "pipeline_error", original: typeof input === "string" ? input : JSON.stringify(input), ingested: "2026-01-02T00:00:00.000Z", dataset: SOPHOS_XDR_DATASET });
    expect(doc.error).toEqual({ message });
    expect(doc.data_stream).toEqual({ type: "logs", dataset: SOPHOS_XDR_DATASET, namespace: "default" });
    expect(doc["@timestamp"]).toBe("2026-01-02T00:00:00.000Z");
  });
});

describe("normalizeSophosXdr: context", () => {
  it("preserveOriginal keeps the row's text as received", () => {
    const text = JSON.stringify(userChanged);
    const doc = normalize(userChanged, { preserveOriginal: true, originalText: text });
    expect(doc.event.original).toBe(text);
    expect(doc.tags).toEqual(["preserve_original_event"]);
    expect(doc.event.kind).toBe("alert");
  });

  it("GeoIP: the databases locate the public address when the row has no location; AS numbers always come from them", () => {
    const asked: string[] = [];
    const geoip: GeoLookup = {
      lookup: (ip) => (
        asked.push(ip),
        { geo: { city_name: "London", country_iso_code: "GB", location: { lat: 51.5142, lon: -0.0931 } }, as: { number: 64500, organization: { name: "Example" } } }
      ),
    };
    const { meta_public_ip_country: _a, meta_public_ip_country_code: _b, meta_public_ip_city: _c, meta_public_ip_latitude: _d, meta_public_ip_longitude: _e, ...row } = userChanged;
    const located = normalize(row, { geoip });
    expect(located.source.geo).toEqual({ city_name: "London", country_iso_code: "GB", location: { lat: 51.5142, lon: -0.0931 } });
    expect(located.source.as).toEqual({ number: 64500, organization: { name: "Example" } });
    expect(asked).toEqual(["81.2.69.142"]);
    const own = normalize(userChanged, { geoip });
    expect(own.source.geo.city_name).toBe("Lyon");
    expect(own.source.as.number).toBe(64500);
  });
});

describe("normalizeSophosXdrToLine", () => {
  it("writes one NDJSON line and says whether it is a pipeline_error", () => {
    const mapped = normalizeSophosXdrToLine(userChanged, context);
    expect(mapped.pipelineError).toBe(false);
    expect(mapped.line.endsWith("\n")).toBe(true);
    expect(mapped.line.slice(0, -1)).not.toContain("\n");
    expect(JSON.parse(mapped.line).event.code).toBe("WIN-EVENT-4738");
    expect(normalizeSophosXdrToLine("not a row", context).pipelineError).toBe(true);
  });

  it("a row whose document would be too large is written as a pipeline_error", () => {
    const huge = normalizeSophosXdrToLine({ ...userChanged, description: "x".repeat(1_100_000) }, context);
    expect(huge.pipelineError).toBe(true);
    expect(JSON.parse(huge.line).error.message).toMatch(/more than the limit/);
  });
});
