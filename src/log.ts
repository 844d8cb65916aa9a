// Structured JSON logs, one object per line on stderr, carrying the active trace's ids so a log
// line can be found from its trace and back.
import { trace } from "@opentelemetry/api";

type Level = "debug" | "info" | "warn" | "error";
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

function serialize(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

export function createLogger(level: string = process.env.MODELBAY_LOG_LEVEL ?? "info", sink = process.stderr): Logger {
  const threshold = RANK[level as Level] ?? RANK.info;
  const write =
    (lvl: Level) =>
    (msg: string, fields: Record<string, unknown> = {}) => {
      if (RANK[lvl] < threshold) return;
      const entry: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg };
      const span = trace.getActiveSpan()?.spanContext();
      if (span && span.traceId !== "00000000000000000000000000000000") {
        entry.trace_id = span.traceId;
        entry.span_id = span.spanId;
      }
      for (const [k, v] of Object.entries(fields)) entry[k] = serialize(v);
      sink.write(`${JSON.stringify(entry)}\n`);
    };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
