/**
 * The logging seam: handlers pass the Functions InvocationContext's logger, the local host a
 * console one, tests a recording one. Properties are structured so Application Insights can
 * query them (tenantId, contentType, contentId).
 */
export type LogProperties = Record<string, unknown>;

export interface Logger {
  info(message: string, properties?: LogProperties): void;
  warn(message: string, properties?: LogProperties): void;
  error(message: string, properties?: LogProperties): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

export function formatLine(message: string, properties?: LogProperties): string {
  return properties && Object.keys(properties).length > 0 ? `${message} ${JSON.stringify(properties)}` : message;
}

export function consoleLogger(minimum: "info" | "warn" | "error" = "info", write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Logger {
  const rank = { info: 0, warn: 1, error: 2 } as const;
  const at = (level: keyof typeof rank) => (message: string, properties?: LogProperties) => {
    if (rank[level] >= rank[minimum]) write(`${new Date().toISOString()} ${level.toUpperCase()} ${formatLine(message, properties)}`);
  };
  return { info: at("info"), warn: at("warn"), error: at("error") };
}
