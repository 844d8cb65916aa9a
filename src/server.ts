// Assembles the gRPC server: ModelService, grpc.health.v1 and server reflection on one port.
import { setMaxListeners } from "node:events";
import fs from "node:fs";
import { createRequire } from "node:module";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check";
import { authInterceptor } from "./api/auth-interceptor.js";
import { kserveHandlers } from "./api/kserve/kserve-handlers.js";
import { modelServiceDefinition, modelServiceHandlers } from "./api/model-service.js";
import { CheckpointStore, type CheckpointWrites } from "./checkpoints/checkpoint-store.js";
import type { CheckpointReads } from "./checkpoints/manifest.js";
import type { BackendChoice } from "./compute/backend-choice.js";
import { createDevicePool } from "./compute/device-pool.js";
import { discoverDevices } from "./compute/devices.js";
import type { PredictOrder } from "./compute/worker/protocol.js";
import { GRPCInferenceServiceService } from "./gen/inference/grpc_predict_v2.js";
import { assembleMessagesInPlace } from "./grpc-message-assembly.js";
import { setHeapGrowingPercent } from "./heap-growth.js";
import { createLogger, type Logger } from "./log.js";
import { SessionManager } from "./sessions/session-manager.js";
import { startTelemetry } from "./telemetry/telemetry.js";
import { keepOtherThreadsLowered } from "./thread-priority.js";
import { TrainingJobs } from "./training/jobs.js";
import { type SecurityOptions, serverSecurity } from "./transport-security.js";

const SERVICE_NAME = "modelbay.v1.ModelService";
const require = createRequire(import.meta.url);
export const VERSION: string = require("../package.json").version;

export interface ServerOptions extends SecurityOptions {
  /** host:port to listen on; port 0 picks a free port. */
  address: string;
  backend: BackendChoice;
  maxSessions: number;
  /** Device memory the models held at once may take, in bytes; idle saved models are evicted. */
  maxSessionBytes: number;
  /** Dynamic batching of concurrent Predicts: most rows per batch (0 = off) and the longest wait. */
  batchMaxRows: number;
  batchDelayMs: number;
  maxTensorBytes: number;
  /** Largest gRPC message accepted, in bytes. */
  maxMessageBytes: number;
  /** Seconds between the server's HTTP/2 pings on each connection; one that does not answer within min(10 s, that) is closed. */
  keepaliveSeconds: number;
  /** Largest training batch accepted. */
  maxBatchSize: number;
  /** Memory one training step may take, estimated from the model's activations. */
  maxTrainStepBytes: number;
  /** Directory of the local checkpoint store. */
  checkpointDir: string;
  /** How large checkpoint files are written: past the page cache (direct) or through it (cached). */
  checkpointWrites: CheckpointWrites;
  /** How a restore reads large checkpoint files: mapped (where the platform allows) or copied. */
  checkpointReads: CheckpointReads;
  /** Root of the data files that PredictStream and Train may name. */
  dataDir: string;
  /** Root of the models saved by TensorFlow or Keras that Restore may name. */
  artifactDir: string;
  /** "worker" runs TensorFlow in a device worker thread; "inline" on the RPC thread (debugging). */
  compute: "worker" | "inline";
  /** How a device worker orders the Predicts waiting for it: newest first when it is behind their deadlines, or as they came. */
  predictOrder: PredictOrder;
  /** Most Predicts waiting or running on one device; more are refused UNAVAILABLE at once (0: no bound). */
  maxQueuedPredicts: number;
  log?: Logger;
  /** host:port for the Prometheus /metrics endpoint ("" for none; port 0 picks one). */
  metricsAddress: string;
  /** Where spans go (tests); by default OTLP when the OTEL_EXPORTER_OTLP_* variables name one. */
  spanExporter?: SpanExporter;
  /** How long a shutdown lets running calls finish (after jobs checkpoint) before closing them. */
  shutdownGraceMs: number;
  /** How far the heap grows (% of its live size) before the next full collection; 0: V8's choice. */
  heapGrowingPercent: number;
  /** Nice value of every thread but the RPC thread (device workers, TensorFlow's, V8's and libuv's helpers); 0 leaves them. */
  backgroundNice: number;
}

export const DEFAULT_OPTIONS: ServerOptions = {
  address: "127.0.0.1:50051",
  backend: "auto",
  maxSessions: 64,
  maxSessionBytes: 8 * 2 ** 30,
  batchMaxRows: 0,
  batchDelayMs: 0,
  maxTensorBytes: 256 * 1024 * 1024,
  maxMessageBytes: 512 * 1024 * 1024,
  keepaliveSeconds: 30,
  maxBatchSize: 65536,
  maxTrainStepBytes: 4 * 2 ** 30,
  checkpointDir: "modelbay-data/checkpoints",
  checkpointWrites: "direct",
  checkpointReads: "mapped",
  dataDir: "modelbay-data/data",
  artifactDir: "modelbay-data/artifacts",
  compute: "worker",
  predictOrder: "adaptive",
  maxQueuedPredicts: 0,
  metricsAddress: "",
  shutdownGraceMs: 10_000,
  heapGrowingPercent: 200,
  backgroundNice: 0,
};

export interface RunningServer {
  /** The address actually bound, with the real port. */
  address: string;
  port: number;
  sessions: SessionManager;
  jobs: TrainingJobs;
  /** host:port of the Prometheus /metrics endpoint, or "". */
  metricsAddress: string;
  /** Exports the spans finished so far (they otherwise leave in batches). */
  flushSpans(): Promise<void>;
  /** Stops taking calls, lets running ones finish for up to graceMs (default: the option), then closes. */
  shutdown(graceMs?: number): Promise<void>;
}

function reflectionPackage(): protoLoader.PackageDefinition {
  const descriptors = fs.readFileSync(new URL("./gen/modelbay.binpb", import.meta.url));
  const ours = protoLoader.loadFileDescriptorSetFromBuffer(descriptors);
  const health = protoLoader.loadSync(healthProtoPath);
  return { ...ours, ...health };
}

export async function startServer(options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const opts = { ...DEFAULT_OPTIONS, ...options };
  const log = opts.log ?? createLogger();
  setHeapGrowingPercent(opts.heapGrowingPercent);
  const messageAssembly = assembleMessagesInPlace();
  // Settings that can be wrong are checked before anything starts.
  const security = serverSecurity(opts);
  const store = new CheckpointStore(opts.checkpointDir, opts.checkpointWrites, opts.checkpointReads);
  await store.init();
  const telemetry = await startTelemetry({
    metricsAddress: opts.metricsAddress,
    version: VERSION,
    ...(opts.spanExporter ? { spanExporter: opts.spanExporter } : {}),
  });
  const { metrics } = telemetry;
  const pool = await createDevicePool(discoverDevices(), opts.backend, opts.compute, {
    observer: {
      call: (op, queueSeconds, computeSeconds) => metrics.deviceCall(op, queueSeconds, computeSeconds),
      expired: (op) => metrics.expired("device", op),
      cancelled: (op) => metrics.cancelled("device", op),
      restart: () => metrics.workerRestart(),
    },
    maxModelBytes: opts.maxSessionBytes,
    predictOrder: opts.predictOrder,
    processNice: opts.backgroundNice,
  });
  const stopLowering = keepOtherThreadsLowered(opts.backgroundNice);
  const engine = pool.primary;
  log.info("compute backend ready", {
    backend: engine.backend.name,
    tensorflow: engine.backend.tensorflowVersion,
    tfjs: engine.backend.tfjsVersion,
    skipped: engine.backend.skipped,
    devices: pool.devices.map((d) => `${d.name}${d.simulated ? " (simulated)" : ""}: ${d.engine.backend.name}`),
  });
  const sessions = new SessionManager(
    pool,
    store,
    {
      maxSessions: opts.maxSessions,
      maxSessionBytes: opts.maxSessionBytes,
      batching: { maxBatchRows: opts.batchMaxRows, maxDelayMs: opts.batchDelayMs },
      maxQueuedPredicts: opts.maxQueuedPredicts,
    },
    telemetry,
  );
  metrics.observeSessions(() => {
    const loaded = sessions.list().filter((x) => x.model.resident);
    return { loaded: loaded.length, memoryBytes: loaded.reduce((n, x) => n + x.model.residentBytes, 0) };
  });
  metrics.observePendingPredicts(() => sessions.pendingPredicts());
  const jobs = new TrainingJobs(
    sessions,
    { maxBatchSize: opts.maxBatchSize, maxTrainStepBytes: opts.maxTrainStepBytes },
    log,
    telemetry,
  );
  const shutdownController = new AbortController();
  // Every call in flight listens for shutdown; that is not a leak, however many there are.
  setMaxListeners(0, shutdownController.signal);

  const server = new grpc.Server({
    "grpc.max_receive_message_length": opts.maxMessageBytes,
    "grpc.max_send_message_length": opts.maxMessageBytes,
    // A client that cancels calls faster than HTTP/2's rapid-reset limit (e.g. ~1,000 deadlines
    // expiring at once under overload) has its connection stopped by the server's HTTP/2 layer,
    // which then never reads or closes the socket: it stayed half-open for good (one per such
    // burst; test/keepalive.test.ts). The server's pings find such a connection and close it.
    "grpc.keepalive_time_ms": opts.keepaliveSeconds * 1000,
    "grpc.keepalive_timeout_ms": Math.min(10_000, opts.keepaliveSeconds * 1000),
    ...(security.auth ? { interceptors: [authInterceptor(security.auth, log)] } : {}),
  });
  const handlerDeps = {
    sessions,
    jobs,
    backend: engine.backend,
    limits: { maxTensorBytes: opts.maxTensorBytes },
    version: VERSION,
    dataDir: opts.dataDir,
    artifactDir: opts.artifactDir,
    log,
    shutdown: shutdownController.signal,
    telemetry,
  };
  server.addService(modelServiceDefinition, modelServiceHandlers(handlerDeps));
  // KServe v2 / Open Inference Protocol clients (tritonclient, KServe SDKs) reach the same sessions.
  server.addService(GRPCInferenceServiceService, kserveHandlers(handlerDeps));
  const health = new HealthImplementation({ "": "SERVING", [SERVICE_NAME]: "SERVING" });
  health.addToServer(server);
  new ReflectionService(reflectionPackage()).addToServer(server);

  const releaseCredentials = await security.loaded?.();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(opts.address, security.credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  // The server now holds the credentials itself (its watcher got them on the next tick).
  await new Promise((resolve) => setImmediate(resolve));
  releaseCredentials?.();
  const host = opts.address.slice(0, opts.address.lastIndexOf(":"));
  const address = `${host}:${port}`;
  log.info("serving", {
    address,
    version: VERSION,
    checkpointDir: store.root,
    messageAssembly,
    ...(telemetry.metricsAddress ? { metrics: `http://${telemetry.metricsAddress}/metrics` } : {}),
  });

  let closing: Promise<void> | undefined;
  const shutdown = (graceMs = opts.shutdownGraceMs): Promise<void> => {
    closing ??= (async () => {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(SERVICE_NAME, "NOT_SERVING");
      // Running jobs checkpoint before the server stops, so they can be resumed after a restart.
      await jobs.shutdown();
      const graceful = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      const timer = setTimeout(() => {
        shutdownController.abort();
        server.forceShutdown();
      }, graceMs);
      await graceful;
      clearTimeout(timer);
      sessions.closeAll();
      await pool.close();
      stopLowering();
      await telemetry.shutdown();
      log.info("stopped", { address });
    })();
    return closing;
  };
  return {
    address,
    port,
    sessions,
    jobs,
    metricsAddress: telemetry.metricsAddress,
    flushSpans: () => telemetry.flush(),
    shutdown,
  };
}
