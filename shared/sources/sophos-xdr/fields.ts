/**
 * The Sophos Central XDR Data Lake IOC mapping as data: one `xdr_ioc_view` row (a detection raised by a
 * Sophos worker on an osquery result of one endpoint) → one ECS document.
 *
 * A row has two parts. The columns every row shares (`meta_*` about the endpoint, `ioc_*` about the
 * detection, the ingest times) mean the same thing in every row; the result columns depend on the
 * osquery query that produced the row (`query_name`), and a few of them are ambiguous by name alone:
 * `name` and `path` are a registry value in a `vulnerability_*` row and a process image in a
 * `running_processes_*` row. So there is one table for the shared and unambiguous columns (COLUMNS)
 * and one small table per record family for the ambiguous ones (FAMILIES); the family is picked from
 * `query_name`.
 *
 * Sources: the seed (Sekoia.io's "Sophos Threat Analysis Center" intake: samples and extracted fields)
 * and Sekoia's parser tests in the corpus, which fix where each ECS field comes from; Windows' own
 * security event documentation for the event ids; ECS 8.11 for the field definitions.
 *
 * ## Vendor fields: `sophos.xdr.*`
 *
 * Every column not written to an ECS field is kept under `sophos.xdr.<column>`, under the column's own
 * name in `xdr_ioc_view` (Sophos' Data Lake schema documents those names; one flat level cannot put a
 * value and an object at one path, whatever columns a future schema version adds). Placeholders (`-`,
 * empty text, null) are dropped, inside objects as well. Values are kept as the row has them, except:
 *
 * | sophos.xdr.<column>                   | what it holds                                                    |
 * | ------------------------------------- | ---------------------------------------------------------------- |
 * | ioc_detection_sigma                   | the rule's Sigma header, parsed (`id`, `logsource.*`)            |
 * | ioc_detection_licenses                | licences the detection needs, parsed: `["MTR","XDR"]`            |
 * | ioc_detection_access, _impact         | CVSS v2 access vector / impact of a vulnerability, parsed        |
 * | analysis                              | the vulnerability query's own findings, parsed                   |
 * | local_rep_data, global_rep_data       | Sophos reputation lookups of the image, parsed                   |
 * | ml_score_data                         | Sophos ML verdict details, parsed                                |
 * | process_local_rep_signers             | signer list of the process image, parsed                         |
 * | username_list                         | user names tried in a brute force, split on commas (also related.user) |
 * | event_timestamps                      | times of the summarized events, as ISO dates (also event.start/end) |
 * | ioc_worker_name, ioc_worker_id        | the Sophos cloud worker that raised the detection                |
 * | ioc_detection_type, _category, _attack, _weight, ioc_attack_type, ioc_log_type | detection classification |
 * | meta_endpoint_type, meta_eid, endpoint_id, meta_aggressive_activity, meta_domain_controller, meta_ip_mask, meta_boot_time | endpoint facts |
 * | query_name, query_source, osquery_action, meta_query_pack_version | the osquery query and pack            |
 * | record_identifier, message_identifier, detection_identifier, detection_id_dedup, partition_bucket, ingest_date, schema_version | data-lake bookkeeping (detection_identifier is not made event.id: nothing documents it as unique per detection) |
 * | subject_username, subject_logon_id, logon_type, status, sub_status, failure_reason, … | Windows event data ECS has no field for |
 * | ioc_event_events, handler_verdicts*   | kept as the JSON text they are: free-form event lists and rule traces whose keys (`!spid`, rule names) would add unbounded field names to the index |
 *
 * A JSON column that does not parse, or parses to the wrong shape, is left out and reported; the document
 * is then flagged as the message-trace feed flags a row with an unreadable field.
 */

/** How a column's value is read for its ECS field. */
export type Kind =
  /** any scalar, as text */
  | "text"
  /** a number, or text that is one */
  | "number"
  /** an ISO 8601 date */
  | "date"
  /** an IP address; anything else is not written (the column is then kept under sophos.xdr) */
  | "ip"
  /** a CVSS base score (0–10, number or text); anything else (a vector, "N/A") is not written and stays under sophos.xdr */
  | "cvss"
  /** `1`/`0`, `true`/`false`, as a boolean */
  | "flag"
  /** a one-element array of the text (registry.data.strings) */
  | "strings";

/** One column → ECS fields: [column, kind, ...fields]. The first column to write a field wins. */
export type ColumnMap = readonly [column: string, kind: Kind, ...to: string[]];

/**
 * The columns that mean the same in every row, in precedence order: where two columns can give one field,
 * the first present one writes it and the other stays under sophos.xdr.
 */
export const COLUMNS: readonly ColumnMap[] = [
  // When. calendar_time is the osquery result's time (Sekoia's @timestamp); the others stand in for it.
  ["calendar_time", "date", "@timestamp"],
  ["unix_time", "date", "@timestamp"],
  ["ioc_unix_time", "date", "@timestamp"],
  ["ioc_event_time", "date", "@timestamp"],
  ["ioc_created_at", "date", "event.created", "@timestamp"],
  ["ingestion_timestamp", "date", "event.ingested"],

  // The detection.
  ["ioc_detection_id", "text", "event.code", "rule.id"],
  ["ioc_severity", "number", "event.severity"],
  ["description", "text", "event.reason"],
  ["provider_name", "text", "event.provider"],
  ["ioc_detection_description", "text", "vulnerability.description", "rule.description"],
  ["ioc_detection_category", "text", "rule.category"],
  ["ioc_detection_cvss", "cvss", "vulnerability.score.base"],
  ["threat_source", "text", "threat.indicator.provider"],
  ["customer_id", "text", "organization.id"],

  // The endpoint (Sekoia's model: the endpoint is the source; the other side of an event is the destination).
  ["meta_hostname", "text", "host.name"],
  ["host_identifier", "text", "host.id"],
  ["meta_os_name", "text", "host.os.full"],
  ["meta_os_platform", "text", "host.os.name", "host.os.platform"],
  ["meta_os_version", "text", "host.os.version"],
  ["subject_domain", "text", "host.domain"],
  ["meta_ip_address", "ip", "source.ip", "host.ip"],
  ["meta_ip_address", "text", "source.address"],
  ["meta_mac_address", "text", "source.mac"],
  ["meta_public_ip", "ip", "source.nat.ip"],
  ["meta_public_ip_country", "text", "source.geo.country_name"],
  ["meta_public_ip_country_code", "text", "source.geo.country_iso_code"],
  ["meta_public_ip_state", "text", "source.geo.region_name"],
  ["meta_public_ip_city", "text", "source.geo.city_name"],
  ["meta_public_ip_postal", "text", "source.geo.postal_code"],
  ["upload_size", "number", "source.bytes"],
  ["meta_username", "text", "user.name"],

  // The other side of a Windows event.
  ["target_username", "text", "user.target.name"],
  ["remote_address", "ip", "destination.ip"],
  ["remote_address", "text", "destination.address"],
  ["remote_port", "number", "destination.port"],
  ["target_domain", "text", "destination.domain", "destination.address", "user.target.domain"],
  ["target_server", "text", "server.domain"],

  // A process and its image, named by columns of their own (runtime IOCs, Windows event queries).
  ["process_name", "text", "process.name"],
  ["process_path", "text", "process.executable"],
  ["process_cmd_line", "text", "process.command_line"],
  ["cmdline", "text", "process.command_line"],
  ["process_pid", "number", "process.pid"],
  ["sophos_pid", "text", "process.entity_id"],
  ["process_sha256", "text", "process.hash.sha256"],
  ["process_parent_name", "text", "process.parent.name"],
  ["parent_name", "text", "process.parent.name"],
  ["process_parent_path", "text", "process.parent.executable"],
  ["parent_path", "text", "process.parent.executable"],
  ["parent_cmdline", "text", "process.parent.command_line"],
  ["process_parent_sophos_pid", "text", "process.parent.entity_id"],
  ["parent_sophos_pid", "text", "process.parent.entity_id"],
  ["is_process_file_signed", "flag", "process.code_signature.exists"],
  ["md5", "text", "file.hash.md5", "process.hash.md5"],
  ["sha1", "text", "file.hash.sha1", "process.hash.sha1"],
  ["sha256", "text", "file.hash.sha256", "process.hash.sha256"],
  ["ioc_event_path", "text", "file.path"],
  ["process_file_size", "number", "file.size"],
  ["file_size", "number", "file.size"],
  ["original_filename", "text", "file.pe.original_file_name"],
  ["file_description", "text", "file.pe.description"],
  ["file_version", "text", "file.pe.file_version"],
  ["product_name", "text", "file.pe.product"],
  ["company_name", "text", "file.pe.company"],
];

/**
 * Record families: the columns whose meaning depends on the query. The first family whose `query`
 * matches `query_name` (and whose `requires` column the row has) applies; its columns are read before
 * COLUMNS, so they take precedence.
 */
export interface Family {
  name: string;
  query: RegExp;
  requires?: string;
  columns: readonly ColumnMap[];
}

export const FAMILIES: readonly Family[] = [
  {
    // osquery's `registry` table, as the vulnerability/compliance queries read it.
    name: "registry",
    query: /^vulnerability_/,
    requires: "key",
    columns: [
      ["path", "text", "registry.path"],
      ["key", "text", "registry.key"],
      ["name", "text", "registry.value"],
      ["type", "text", "registry.data.type"],
      ["data", "strings", "registry.data.strings"],
    ],
  },
  {
    // Sophos' running-process queries (osquery `processes` with Sophos' columns): the row is the process.
    name: "process",
    query: /^running_processes/,
    columns: [
      ["name", "text", "process.name", "file.name"],
      ["path", "text", "process.executable", "file.path"],
      ["pid", "number", "process.pid"],
      ["parent", "number", "process.parent.pid"],
      ["username", "text", "process.user.name"],
    ],
  },
];

/** Registry hives as ECS writes them (registry.hive), by the name a key or path starts with. */
export const HIVES: readonly [prefix: string, hive: string][] = [
  ["HKEY_LOCAL_MACHINE", "HKLM"],
  ["HKEY_USERS", "HKU"],
  ["HKEY_CURRENT_USER", "HKCU"],
  ["HKEY_CLASSES_ROOT", "HKCR"],
  ["HKEY_CURRENT_CONFIG", "HKCC"],
];

/** Columns holding JSON text, and the shape each must parse to. Parsed, they are kept under sophos.xdr (or mapped below). */
export const JSON_COLUMNS: Readonly<Record<string, "object" | "array">> = {
  ioc_detection_sigma: "object",
  ioc_detection_references: "array",
  ioc_detection_licenses: "array",
  ioc_detection_mitre_attack: "array",
  ioc_detection_access: "object",
  ioc_detection_impact: "object",
  analysis: "object",
  local_rep_data: "object",
  global_rep_data: "object",
  ml_score_data: "object",
  process_local_rep_signers: "object",
};

/** Comma-separated columns, kept under sophos.xdr as arrays: `split` as text, `epochs` as ISO dates from Unix seconds. */
export const LIST_COLUMNS: Readonly<Record<string, "split" | "epochs">> = {
  username_list: "split",
  event_timestamps: "epochs",
};

/** Text that stands for "no value" in a row. */
export const PLACEHOLDERS: ReadonlySet<string> = new Set(["", "-"]);

/**
 * event.category / event.type (and event.action, event.outcome where the row says) in ECS' vocabulary.
 * The first rule that matches wins: a Windows event id, then the query, then the detection category.
 * Windows actions are named as Elastic's Windows security module names them.
 */
export interface Categorization {
  eventid?: number;
  query?: RegExp;
  detectionCategory?: string;
  category: readonly string[];
  type: readonly string[];
  action?: string;
  outcome?: "success" | "failure";
}

export const CATEGORIZATION: readonly Categorization[] = [
  { eventid: 4624, category: ["authentication"], type: ["start"], action: "logged-in", outcome: "success" },
  { eventid: 4625, category: ["authentication"], type: ["start"], action: "logon-failed", outcome: "failure" },
  { eventid: 4648, category: ["authentication"], type: ["start"], action: "logged-in-explicit" },
  { eventid: 4720, category: ["iam"], type: ["user", "creation"], action: "added-user-account" },
  { eventid: 4722, category: ["iam"], type: ["user", "change"], action: "enabled-user-account" },
  { eventid: 4723, category: ["iam"], type: ["user", "change"], action: "changed-password" },
  { eventid: 4724, category: ["iam"], type: ["user", "change"], action: "reset-password" },
  { eventid: 4725, category: ["iam"], type: ["user", "change"], action: "disabled-user-account" },
  { eventid: 4726, category: ["iam"], type: ["user", "deletion"], action: "deleted-user-account" },
  { eventid: 4728, category: ["iam"], type: ["group", "change"], action: "added-member-to-group" },
  { eventid: 4732, category: ["iam"], type: ["group", "change"], action: "added-member-to-group" },
  { eventid: 4738, category: ["iam"], type: ["user", "change"], action: "modified-user-account" },
  { eventid: 4740, category: ["iam"], type: ["user", "change"], action: "locked-out-user-account" },
  { eventid: 4756, category: ["iam"], type: ["group", "change"], action: "added-member-to-group" },
  { query: /brute_force|invalid_logon|failed_logon/, category: ["authentication"], type: ["start"], outcome: "failure" },
  { query: /user_account/, category: ["iam"], type: ["user", "change"] },
  { query: /^running_processes/, category: ["process"], type: ["info"] },
  { query: /^sophos_runtime_iocs/, category: ["intrusion_detection"], type: ["info"] },
  { query: /^vulnerability_/, category: ["vulnerability"], type: ["info"] },
  { detectionCategory: "vulnerability", category: ["vulnerability"], type: ["info"] },
  { category: ["intrusion_detection"], type: ["info"] },
];

/** ECS host.os.type's allowed values; meta_os_platform is written there when it is one. */
export const OS_TYPES: ReadonlySet<string> = new Set(["linux", "macos", "unix", "windows", "ios", "android"]);

/**
 * related.* from the document's own fields (and the brute-force user list), sorted and without repeats.
 * related.user takes the endpoint's user and the event's target, as Sekoia's does; process.user.name and
 * the Windows subject stay out of it.
 */
export const RELATED: Readonly<Record<string, readonly string[]>> = {
  "related.ip": ["source.ip", "source.nat.ip", "destination.ip"],
  "related.user": ["user.name", "user.target.name", "sophos.xdr.username_list"],
  "related.hosts": ["destination.domain", "server.domain"],
  "related.hash": ["file.hash.md5", "file.hash.sha1", "file.hash.sha256", "process.hash.md5", "process.hash.sha1", "process.hash.sha256"],
};

/** The MITRE ATT&CK source name in a technique's or tactic's external references. */
export const MITRE_SOURCE = "mitre-attack";
export const MITRE_FRAMEWORK = "MITRE ATT&CK";
