// Translates TrainRequest into training settings and training events into TrainEvent messages.

import type { TensorData } from "../compute/tensor-data.js";
import { loadExamples } from "../datasets/data-root.js";
import { invalidArgument } from "../errors.js";
import type { Tensor } from "../gen/modelbay/v1/tensor.js";
import type { DataSource, TrainRequest, TrainEvent as WireTrainEvent } from "../gen/modelbay/v1/training.js";
import type { TrainEvent } from "../training/events.js";
import type { Dataset, TrainSettings } from "../training/settings.js";
import { type TensorLimits, tensorFromWire } from "./tensor-codec.js";

const DEFAULT_PROGRESS_MS = 500;

async function datasetFromWire(
  source: DataSource | undefined,
  field: string,
  limits: TensorLimits,
  dataDir: string,
): Promise<Dataset | undefined> {
  const s = source?.source;
  if (!s) return undefined;
  // One x and one y stand for a model's only input and output, whatever their names.
  const alone = (tensor: TensorData) => [{ name: "", tensor }];
  if (s.$case === "file") {
    const { x, y } = await loadExamples(dataDir, s.file, `${field}.file`);
    return { x: alone(x), y: alone(y) };
  }
  const { x, y, inputs, targets } = s.inline;
  if (inputs.length > 0 || targets.length > 0) {
    if (x || y) throw invalidArgument(`${field}.inline`, "give x and y, or inputs and targets, not both");
    if (inputs.length === 0) throw invalidArgument(`${field}.inline.inputs`, "is required with targets");
    if (targets.length === 0) throw invalidArgument(`${field}.inline.targets`, "is required with inputs");
    const named = (list: Tensor[], what: string) =>
      list.map((t, i) => ({ name: t.name, tensor: tensorFromWire(t, `${field}.inline.${what}[${i}]`, limits) }));
    return { x: named(inputs, "inputs"), y: named(targets, "targets") };
  }
  if (!x) throw invalidArgument(`${field}.inline.x`, "is required (or inputs and targets)");
  if (!y) throw invalidArgument(`${field}.inline.y`, "is required");
  return {
    x: alone(tensorFromWire(x, `${field}.inline.x`, limits)),
    y: alone(tensorFromWire(y, `${field}.inline.y`, limits)),
  };
}

/** Reads the request's data (inline, or files under `dataDir`) and checks its settings' form. */
export async function trainSettingsFromWire(
  req: TrainRequest,
  limits: TensorLimits,
  dataDir: string,
): Promise<TrainSettings> {
  const data = await datasetFromWire(req.data, "data", limits, dataDir);
  if (!data) throw invalidArgument("data", "is required");
  const validation = await datasetFromWire(req.validationData, "validation_data", limits, dataDir);
  const p = req.checkpointPolicy;
  const es = req.earlyStopping;
  return {
    data,
    ...(validation ? { validation } : {}),
    validationSplit: req.validationSplit,
    epochs: req.epochs,
    batchSize: req.batchSize,
    shuffle: req.shuffle,
    seed: BigInt(req.seed),
    checkpointPolicy: {
      everyEpochs: p?.everyEpochs ?? 0,
      everySteps: p?.everySteps ?? 0,
      everySeconds: p?.everySeconds ?? 0,
      onBest: p?.onBest ?? false,
      monitor: p?.monitor ?? "",
      ...(p?.retention
        ? {
            retention: {
              keepLast: p.retention.keepLast,
              keepBest: p.retention.keepBest,
              bestMetric: p.retention.bestMetric,
              keepEveryHours: p.retention.keepEveryHours,
            },
          }
        : {}),
    },
    ...(es && es.patience > 0
      ? {
          earlyStopping: {
            monitor: es.monitor,
            patience: es.patience,
            minDelta: es.minDelta,
            restoreBestWeights: es.restoreBestWeights,
          },
        }
      : {}),
    progressIntervalMs: req.progressIntervalMs || DEFAULT_PROGRESS_MS,
  };
}

export function trainEventToWire(e: TrainEvent): WireTrainEvent {
  const base = { seq: e.seq, time: e.time, jobId: e.jobId };
  const b = e.body;
  switch (b.kind) {
    case "started":
      return {
        ...base,
        event: {
          $case: "started",
          started: { jobId: e.jobId, totalSteps: b.totalSteps, trainExamples: b.trainExamples },
        },
      };
    case "progress": {
      const { kind: _, ...progress } = b;
      return { ...base, event: { $case: "progress", progress } };
    }
    case "epochEnd":
      return { ...base, event: { $case: "epochEnd", epochEnd: { epoch: b.epoch, loss: b.loss, metrics: b.metrics } } };
    case "checkpointSaved":
      return {
        ...base,
        event: { $case: "checkpointSaved", checkpointSaved: { checkpointId: b.checkpointId, reason: b.reason } },
      };
    case "checkpointFailed": {
      const { kind: _, ...failed } = b;
      return { ...base, event: { $case: "checkpointFailed", checkpointFailed: failed } };
    }
    case "earlyStopped":
      return {
        ...base,
        event: { $case: "earlyStopped", earlyStopped: { epoch: b.epoch, monitor: b.monitor, bestValue: b.bestValue } },
      };
    case "completed":
      return {
        ...base,
        event: {
          $case: "completed",
          completed: { metrics: b.metrics, durationSeconds: b.durationSeconds, epochs: b.epochs },
        },
      };
    case "failed":
      return { ...base, event: { $case: "failed", failed: { code: b.code, message: b.message } } };
  }
}
