// Server configuration from flags and MODELBAY_* environment variables, validated at start.
import fs from "node:fs";
import { parseArgs } from "node:util";
import { parseBackendChoice } from "./compute/backend-choice.js";
import { DEFAULT_OPTIONS, type ServerOptions } from "./server.js";

interface Setting {
  flag: string;
  env: string;
  help: string;
  default: string;
  apply(opts: ServerOptions, value: string): void;
}

function nonEmpty(name: string, value: string): string {
  if (value.trim() === "") throw new Error(`${name}: must not be empty`);
  return value;
}

/** An integer from `min` (and up to `max`, when given). */
function intAtLeast(name: string, value: string, min: number, max?: number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) {
    const range = max === undefined ? `>= ${min}` : `from ${min} to ${max}`;
    throw new Error(`${name}: expected an integer ${range}, got "${value}"`);
  }
  return n;
}

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name}: expected a positive integer, got "${value}"`);
  return n;
}

/** `value` if it is one of `choices` (the error lists them: "expected a or b"). */
function oneOf<T extends string>(name: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value))
    throw new Error(`${name}: expected ${choices.join(" or ")}, got "${value}"`);
  return value as T;
}

type NumberOption = { [K in keyof ServerOptions]-?: ServerOptions[K] extends number ? K : never }[keyof ServerOptions];

/** A setting's environment variable: the flag in upper case after MODELBAY_. */
const envOf = (flag: string) => `MODELBAY_${flag.toUpperCase().replaceAll("-", "_")}`;

/** A setting of one option, read by `parse` (which names the setting in its error). */
function parsedSetting<K extends keyof ServerOptions>(
  flag: string,
  option: K,
  parse: (name: string, value: string) => ServerOptions[K],
  help: string,
): Setting {
  return {
    flag,
    env: envOf(flag),
    help,
    default: String(DEFAULT_OPTIONS[option]),
    apply: (o, v) => {
      o[option] = parse(flag, v);
    },
  };
}

/** A setting that holds an integer from 0. */
const countSetting = (flag: string, option: NumberOption, help: string) =>
  parsedSetting(flag, option, (name, value) => intAtLeast(name, value, 0), help);

/** A setting that holds a positive integer. */
const positiveSetting = (flag: string, option: NumberOption, help: string) =>
  parsedSetting(flag, option, positiveInt, help);

type ChoiceOption = "checkpointWrites" | "checkpointReads" | "compute" | "predictOrder";

/** A setting that holds one of a few words. */
const choiceSetting = <K extends ChoiceOption>(
  flag: string,
  option: K,
  choices: readonly ServerOptions[K][],
  help: string,
) => parsedSetting(flag, option, (name, value) => oneOf(name, value, choices), help);

export const SETTINGS: Setting[] = [
  {
    flag: "address",
    env: "MODELBAY_ADDRESS",
    help: "host:port to listen on (port 0 picks a free port)",
    default: DEFAULT_OPTIONS.address,
    apply: (o, v) => {
      if (!/^.+:\d+$/.test(v)) throw new Error(`address: expected host:port, got "${v}"`);
      o.address = v;
    },
  },
  parsedSetting(
    "backend",
    "backend",
    (_, value) => parseBackendChoice(value),
    "compute backend: auto, tensorflow-gpu, tensorflow, wasm or cpu",
  ),
  positiveSetting(
    "max-sessions",
    "maxSessions",
    "most models held in memory at once; idle checkpointed models are evicted and reload on use",
  ),
  positiveSetting(
    "max-session-bytes",
    "maxSessionBytes",
    "device memory the models held at once may take (weights and optimizer slots); idle checkpointed models are evicted and reload on use",
  ),
  countSetting(
    "batch-max-rows",
    "batchMaxRows",
    "dynamic batching: concurrent Predicts of one model are joined into batches of up to this many rows (0: off)",
  ),
  {
    flag: "batch-delay-ms",
    env: "MODELBAY_BATCH_DELAY_MS",
    help: "dynamic batching: the longest a Predict waits for others to join its batch",
    default: String(DEFAULT_OPTIONS.batchDelayMs),
    apply: (o, v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new Error(`batch-delay-ms: expected a number >= 0, got "${v}"`);
      o.batchDelayMs = n;
    },
  },
  parsedSetting(
    "checkpoint-dir",
    "checkpointDir",
    nonEmpty,
    "directory of the local checkpoint store (created if missing)",
  ),
  choiceSetting(
    "checkpoint-writes",
    "checkpointWrites",
    ["direct", "cached"],
    "how large checkpoint files are written: direct (past the page cache where the filesystem allows: less CPU per save, and saves do not push other files out of the cache; a restore right after a save reads from disk) or cached (through the page cache)",
  ),
  choiceSetting(
    "checkpoint-reads",
    "checkpointReads",
    ["mapped", "copied"],
    "how a restore reads large checkpoint files: mapped (the page cache's pages become the model's memory, no copy; where the platform allows) or copied (into memory of its own)",
  ),
  parsedSetting("data-dir", "dataDir", nonEmpty, "root of the data files (.npy, .csv) that requests may name"),
  parsedSetting(
    "artifact-dir",
    "artifactDir",
    nonEmpty,
    "root of the TensorFlow/Keras artifacts (SavedModel, .keras, TF checkpoints) Restore may name",
  ),
  choiceSetting(
    "compute",
    "compute",
    ["worker", "inline"],
    "where TensorFlow runs: worker (a device worker thread) or inline (the RPC thread)",
  ),
  choiceSetting(
    "predict-order",
    "predictOrder",
    ["adaptive", "arrival"],
    "how a device worker orders the Predicts waiting for it: adaptive (in arrival order while, at each model's recent pace on the device, that answers the newest waiting Predict at most an eighth of its deadline late; newest first beyond that, so that under overload the callers still waiting are answered; a Predict without a deadline is never passed over while it is the oldest) or arrival (always in arrival order)",
  ),
  countSetting(
    "max-queued-predicts",
    "maxQueuedPredicts",
    "most Predicts (and KServe ModelInfers) waiting or running on one device; more are refused at once with UNAVAILABLE, so that clients back off or go to another replica instead of queueing behind them (0: no bound)",
  ),
  positiveSetting("max-batch-size", "maxBatchSize", "largest training batch accepted"),
  positiveSetting(
    "keepalive-seconds",
    "keepaliveSeconds",
    "seconds between the server's HTTP/2 pings on each connection; one that does not answer within 10 s (or this, if shorter) is closed, which also frees connections left half-open after a client's burst of cancelled calls",
  ),
  positiveSetting(
    "max-train-step-bytes",
    "maxTrainStepBytes",
    "memory one training step may take, estimated from the model's activations per row and the batch size; larger batches are refused",
  ),
  positiveSetting("max-tensor-bytes", "maxTensorBytes", "largest tensor accepted in a request, in bytes"),
  {
    flag: "metrics-address",
    env: "MODELBAY_METRICS_ADDRESS",
    help: "host:port of a Prometheus /metrics endpoint, e.g. 127.0.0.1:9464 (traces: the standard OTEL_EXPORTER_OTLP_* variables)",
    default: DEFAULT_OPTIONS.metricsAddress,
    apply: (o, v) => {
      if (v !== "" && !/^.+:\d+$/.test(v)) throw new Error(`metrics-address: expected host:port, got "${v}"`);
      o.metricsAddress = v;
    },
  },
  {
    flag: "shutdown-grace-seconds",
    env: "MODELBAY_SHUTDOWN_GRACE_SECONDS",
    help: "on SIGTERM, running jobs checkpoint, then open calls get this long to finish before they are closed",
    default: String(DEFAULT_OPTIONS.shutdownGraceMs / 1000),
    apply: (o, v) => {
      const seconds = Number(v);
      if (!(v.trim() !== "" && Number.isFinite(seconds) && seconds >= 0)) {
        throw new Error(`shutdown-grace-seconds: expected seconds >= 0, got "${v}"`);
      }
      o.shutdownGraceMs = seconds * 1000;
    },
  },
  parsedSetting(
    "heap-growing-percent",
    "heapGrowingPercent",
    (name, value) => intAtLeast(name, value, 0, 1000),
    "how far the heap grows, in % of its live size, before the next full garbage collection (fewer pauses of the RPC thread under load; 0: V8's own choice)",
  ),
  parsedSetting(
    "background-nice",
    "backgroundNice",
    (name, value) => intAtLeast(name, value, 0, 19),
    "nice value (0-19) of every server thread but the RPC thread (device workers, TensorFlow's threads, V8's and libuv's helpers): calls and health checks are taken sooner when compute keeps the cores busy, for some compute throughput (5-8% at 10 here); Linux only; 0 leaves them",
  ),
  {
    flag: "tls-cert",
    env: "MODELBAY_TLS_CERT",
    help: "PEM certificate (chain) of the server; with --tls-key serves TLS",
    default: "",
    apply: (o, v) => {
      if (v) o.tlsCert = v;
    },
  },
  {
    flag: "tls-key",
    env: "MODELBAY_TLS_KEY",
    help: "PEM private key of the server",
    default: "",
    apply: (o, v) => {
      if (v) o.tlsKey = v;
    },
  },
  {
    flag: "tls-client-ca",
    env: "MODELBAY_TLS_CLIENT_CA",
    help: "PEM CA certificate: clients must present a certificate it issued (mutual TLS)",
    default: "",
    apply: (o, v) => {
      if (v) o.tlsClientCa = v;
    },
  },
  {
    flag: "auth-token-file",
    env: "MODELBAY_AUTH_TOKEN_FILE",
    help: "file holding a bearer token every call but health checks must carry (MODELBAY_AUTH_TOKEN gives it directly)",
    default: "",
    apply: (o, v) => {
      if (!v) return;
      try {
        o.authToken = fs.readFileSync(v, "utf8").trim();
      } catch (err) {
        throw new Error(`auth-token-file: cannot read ${v} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
    },
  },
];

export function serverHelp(): string {
  const rows = SETTINGS.map(
    (s) => `  --${s.flag.padEnd(18)} ${s.help}\n  ${"".padEnd(20)} env ${s.env}, default ${s.default || "(none)"}`,
  );
  return `Usage: modelbay serve [options]\n\nOptions (a flag overrides its environment variable, which overrides the config file):\n${rows.join("\n")}\n  --config FILE        JSON object of settings keyed by flag name (env MODELBAY_CONFIG)\n  --help               show this help\n`;
}

/**
 * Settings from an optional JSON config file (`--config` or MODELBAY_CONFIG): an object whose keys
 * are the flag names, e.g. {"address": "0.0.0.0:50051", "max-sessions": 8}. Unknown keys are errors.
 */
function configFile(file: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    const reason = err instanceof SyntaxError ? err.message : ((err as NodeJS.ErrnoException).code ?? String(err));
    throw new Error(`config: cannot read ${file} (${reason})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`config: ${file} must hold a JSON object of settings`);
  }
  const known = new Set(SETTINGS.map((s) => s.flag));
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!known.has(key)) throw new Error(`config: unknown key "${key}" in ${file} (known: ${[...known].join(", ")})`);
    if (!["string", "number", "boolean"].includes(typeof value)) {
      throw new Error(`config: "${key}" in ${file} must be a string or a number`);
    }
    out[key] = String(value);
  }
  return out;
}

/** Throws an Error whose message names the bad setting. Precedence: flag, environment, file, default. */
export function serverOptionsFrom(args: string[], env: NodeJS.ProcessEnv): ServerOptions & { help: boolean } {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      help: { type: "boolean" },
      config: { type: "string" },
      ...Object.fromEntries(SETTINGS.map((s) => [s.flag, { type: "string" as const }])),
    },
  });
  const configPath = values.config ?? env.MODELBAY_CONFIG;
  const fromFile = configPath ? configFile(configPath) : {};
  const opts: ServerOptions = { ...DEFAULT_OPTIONS };
  for (const s of SETTINGS) {
    const value = (values as Record<string, string | undefined>)[s.flag] ?? env[s.env] ?? fromFile[s.flag];
    if (value !== undefined) s.apply(opts, value);
  }
  // The token itself only from the environment or a file: command lines are visible to every user.
  if (opts.authToken === undefined && env.MODELBAY_AUTH_TOKEN !== undefined) opts.authToken = env.MODELBAY_AUTH_TOKEN;
  return { ...opts, help: values.help === true };
}
