// The server's metrics. Names follow Prometheus conventions once exported (units in the name,
// `_total` on counters); labels are bounded: method, gRPC code, model id.
import type { Attributes, Meter, ObservableResult } from "@opentelemetry/api";

export interface Metrics {
  /** One finished RPC. */
  rpc(method: string, code: number, modelId: string, seconds: number): void;
  /** A device worker call: time waiting in its queue (and crossing threads) and time computing. */
  deviceCall(op: string, queueSeconds: number, computeSeconds: number): void;
  /** A request given up in `queue` ("batch" or "device") because its deadline passed (see WorkerObserver). */
  expired(queue: string, op: string): void;
  /** A request given up in `queue` ("batch" or "device") because its caller cancelled. */
  cancelled(queue: string, op: string): void;
  /** A Predict refused at once because `device` already had the most Predicts allowed waiting. */
  shed(device: string): void;
  /** Training throughput from a progress event. */
  trainingThroughput(modelId: string, samplesPerSecond: number): void;
  /** A committed checkpoint. */
  checkpointWritten(modelId: string, bytes: number, seconds: number): void;
  workerRestart(): void;
  /** Called at each scrape for the gauges of loaded sessions. */
  observeSessions(read: () => { loaded: number; memoryBytes: number }): void;
  /** Called at each scrape: the Predicts waiting or running on each device. */
  observePendingPredicts(read: () => ReadonlyMap<string, number>): void;
}

const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createMetrics(meter: Meter): Metrics {
  const seconds = (name: string, description: string) =>
    meter.createHistogram(name, { unit: "s", description, advice: { explicitBucketBoundaries: SECONDS_BUCKETS } });
  const requests = meter.createCounter("modelbay_rpc_requests", {
    description: "RPCs handled, by method, status code and model",
  });
  const latency = seconds("modelbay_rpc_duration_seconds", "RPC latency (server streams: until the last message)");
  const queue = seconds(
    "modelbay_device_queue_seconds",
    "Time a compute request waited for the device worker and crossed threads",
  );
  const compute = seconds("modelbay_device_compute_seconds", "Time the device worker spent on a compute request");
  const expired = meter.createCounter("modelbay_expired_requests", {
    description:
      "Requests given up because their deadline passed: dropped unrun while they waited, or a large predict stopped between slices; by queue and op",
  });
  const cancelled = meter.createCounter("modelbay_cancelled_requests", {
    description:
      "Requests given up because their caller cancelled: dropped unrun while they waited, or a large predict stopped between slices; by queue and op",
  });
  const shed = meter.createCounter("modelbay_shed_requests", {
    description: "Predicts refused at once because their device had the most allowed waiting (--max-queued-predicts)",
  });
  const pending = meter.createObservableGauge("modelbay_pending_predicts", {
    description: "Predicts waiting or running on each device",
  });
  const throughput = meter.createGauge("modelbay_training_samples_per_second", {
    description: "Training throughput of the model's current job, from its last progress event",
  });
  const checkpointBytes = meter.createCounter("modelbay_checkpoint_written_bytes", {
    unit: "By",
    description: "Bytes of committed checkpoints",
  });
  const checkpointSeconds = seconds(
    "modelbay_checkpoint_write_seconds",
    "Time to write, fsync and commit a checkpoint",
  );
  const restarts = meter.createCounter("modelbay_worker_restarts", {
    description: "Device workers restarted after dying",
  });
  const loaded = meter.createObservableGauge("modelbay_sessions_loaded", { description: "Models in device memory" });
  const memory = meter.createObservableGauge("modelbay_session_memory_bytes", {
    unit: "By",
    description: "Estimated device memory of the models loaded (weights and optimizer slots)",
  });
  const model = (modelId: string): Attributes => (modelId ? { model: modelId } : {});
  return {
    rpc(method, code, modelId, seconds) {
      const attrs = { method, code: String(code), ...model(modelId) };
      requests.add(1, attrs);
      latency.record(seconds, { method, ...model(modelId) });
    },
    deviceCall(op, queueSeconds, computeSeconds) {
      queue.record(queueSeconds, { op });
      compute.record(computeSeconds, { op });
    },
    expired(queueName, op) {
      expired.add(1, { queue: queueName, op });
    },
    cancelled(queueName, op) {
      cancelled.add(1, { queue: queueName, op });
    },
    shed(device) {
      shed.add(1, { device });
    },
    trainingThroughput(modelId, samplesPerSecond) {
      throughput.record(samplesPerSecond, model(modelId));
    },
    checkpointWritten(modelId, bytes, seconds) {
      checkpointBytes.add(bytes, model(modelId));
      checkpointSeconds.record(seconds, model(modelId));
    },
    workerRestart() {
      restarts.add(1);
    },
    observeSessions(read) {
      const observe = (pick: (v: { loaded: number; memoryBytes: number }) => number) => (r: ObservableResult) =>
        r.observe(pick(read()));
      loaded.addCallback(observe((v) => v.loaded));
      memory.addCallback(observe((v) => v.memoryBytes));
    },
    observePendingPredicts(read) {
      pending.addCallback((r) => {
        for (const [device, n] of read()) r.observe(n, { device });
      });
    },
  };
}

/** Metrics that record nothing, for code run outside a server (CLI offline checks, tests). */
export const noMetrics: Metrics = {
  rpc() {},
  deviceCall() {},
  expired() {},
  cancelled() {},
  shed() {},
  trainingThroughput() {},
  checkpointWritten() {},
  workerRestart() {},
  observeSessions() {},
  observePendingPredicts() {},
};
