// What the server does with model sessions (each a built model, its spec, its metadata and where
// its training stands): creates them, predicts and streams predictions, saves them to and restores
// them from the checkpoint store. Which sessions exist and where they live: session-registry.ts.

import { streamedCheckpointFiles } from "../checkpoints/capture-files.js";
import { type CheckpointHeader, decodeCheckpoint, summarizeState } from "../checkpoints/checkpoint-codec.js";
import type { CheckpointStore, StoredCheckpoint, StreamedFile } from "../checkpoints/checkpoint-store.js";
import type { RetentionPolicy } from "../checkpoints/retention.js";
import { collectSoonAfter } from "../collect-garbage.js";
import type { DevicePool } from "../compute/device-pool.js";
import type { ComputeEngine, ModelSnapshot, PredictWait } from "../compute/engine.js";
import type { ModelSpec } from "../compute/model-spec.js";
import { parametersBeforeBuild } from "../compute/spec-size.js";
import { BYTES_PER_ELEMENT, elementCount, type TensorData } from "../compute/tensor-data.js";
import type { RowSource } from "../datasets/row-source.js";
import { Code, ModelbayError, notFound } from "../errors.js";
import { defaultModelId, locateArtifact, readTrainableArtifact } from "../interop/artifact.js";
import { readAhead } from "../read-ahead.js";
import { inSpan, type Observability, unobserved } from "../telemetry/spans.js";
import { matchInputs, type NamedTensor } from "./input-check.js";
import { checkModelId, newModelId } from "./model-id.js";
import { type NonFiniteReport, nonFiniteReport } from "./non-finite.js";
import { type BatchingOptions, PredictBatcher } from "./predict-batcher.js";
import type { Reloader } from "./resident-model.js";
import { type RoomLimits, type Session, SessionRegistry, sessionBytes } from "./session-registry.js";

export type { Session, SessionSource } from "./session-registry.js";

// PredictStream computes this many chunks ahead of the one being sent.
const CHUNKS_AHEAD = 3;

export interface SessionLimits extends RoomLimits {
  /** Dynamic batching of concurrent Predicts; off when absent or maxBatchRows <= 1. */
  batching?: BatchingOptions;
  /** Most Predicts waiting or running on one device; more are refused UNAVAILABLE (0 or absent: no bound). */
  maxQueuedPredicts?: number;
}

export interface RestoredSession {
  session: Session;
  checkpoint: StoredCheckpoint;
  warnings: string[];
}

/**
 * A checkpoint whose state is pinned on the device and not yet written: its files stream the
 * tensors out as they are written. Committing (or dropping) it must end with release().
 */
export interface CapturedCheckpoint {
  modelId: string;
  files: StreamedFile[];
  /** The model's change count the files reflect. */
  version: number;
  release(): void;
}

export interface ImportedSession {
  session: Session;
  warnings: string[];
}

/** A trainable model's device memory, counted from its spec before it is built (not allocated). */
function expectedSessionBytes(spec: ModelSpec): number {
  return sessionBytes(parametersBeforeBuild(spec) * BYTES_PER_ELEMENT.float32, true);
}

export class SessionManager {
  private readonly registry: SessionRegistry;

  constructor(
    readonly pool: DevicePool,
    readonly store: CheckpointStore,
    private readonly limits: SessionLimits,
    private readonly observe: Observability = unobserved,
  ) {
    this.registry = new SessionRegistry(pool, limits);
  }

  /** The CPU's engine: where work not tied to a device runs (and the only one without GPUs). */
  get engine(): ComputeEngine {
    return this.pool.primary;
  }

  /** Rebuilds a model from a checkpoint, for a session whose memory was evicted or lost. */
  private reloadFrom(sessionId: string, storeModelId: string, checkpointId: string): Reloader {
    return async () => {
      const read = await this.store.read(storeModelId, checkpointId);
      try {
        const content = decodeCheckpoint(read.files);
        const session = this.registry.find(sessionId);
        // After a worker crash the model comes back as the checkpoint has it; so does its cursor.
        if (session && !session.trainingJob) {
          session.metrics = content.metrics;
          if (content.training) session.training = content.training;
        }
        return await this.engineOf(sessionId).restoreModel(content.spec, content.snapshot);
      } finally {
        collectSoonAfter(fileBytes(read));
      }
    };
  }

  create(requestedId: string, spec: ModelSpec): Promise<Session> {
    const id = requestedId === "" ? newModelId() : checkModelId(requestedId);
    return this.registry.open(
      id,
      false,
      async (engine) => ({ spec, source: "spec", model: await engine.buildModel(spec), metrics: {} }),
      expectedSessionBytes(spec),
    );
  }

  get(id: string): Session {
    const session = this.registry.find(checkModelId(id));
    if (!session) throw notFound(`model "${id}"`);
    session.lastUsed = Date.now();
    return session;
  }

  list(): Session[] {
    return this.registry.all().sort((a, b) => a.id.localeCompare(b.id));
  }

  async delete(id: string, deleteCheckpoints: boolean): Promise<void> {
    const session = this.get(id);
    if (session.trainingJob) {
      throw new ModelbayError(
        Code.FAILED_PRECONDITION,
        `model "${id}" is training (job ${session.trainingJob}); cancel the job first`,
      );
    }
    this.registry.remove(id);
    session.model.dispose();
    if (deleteCheckpoints) await this.store.deleteAll(id);
  }

  private readonly pending = new Map<string, number>();

  /** Callers' Predicts waiting or running on each device (streams' chunks and golden checks not counted). */
  pendingPredicts(): ReadonlyMap<string, number> {
    return this.pending;
  }

  /**
   * Predicts one batch for a caller; a request still queued when the caller's `wait` ends (its
   * deadline, its cancel) is dropped unrun. With a bound set, a device that already has that many
   * Predicts refuses more at once: a caller queued behind them would wait longer than it can use,
   * where another replica, or a retry after a back-off, answers sooner.
   */
  async predict(id: string, inputs: readonly NamedTensor[], wait?: PredictWait): Promise<NamedTensor[]> {
    const session = this.get(id);
    const matched = matchInputs(session.model.description.inputs, inputs);
    const device = session.device;
    const queued = this.pending.get(device) ?? 0;
    const bound = this.limits.maxQueuedPredicts ?? 0;
    if (bound > 0 && queued >= bound) {
      this.observe.metrics.shed(device);
      throw new ModelbayError(
        Code.UNAVAILABLE,
        `device ${device} already has ${queued} Predicts waiting or running (--max-queued-predicts ${bound}); retry after a back-off`,
      );
    }
    this.pending.set(device, queued + 1);
    try {
      return this.named(session, await this.batcherOf(session).submit(matched, wait));
    } finally {
      this.pending.set(device, (this.pending.get(device) ?? 1) - 1);
    }
  }

  /** A Predict the server makes itself (a restore's golden check): never refused for load. */
  async predictUnbounded(id: string, inputs: readonly NamedTensor[]): Promise<NamedTensor[]> {
    const session = this.get(id);
    return this.named(session, await session.model.predict(matchInputs(session.model.description.inputs, inputs)));
  }

  /** The outputs under the model's names for them. */
  private named(session: Session, outputs: readonly TensorData[]): NamedTensor[] {
    const names = session.model.description.outputs;
    if (outputs.length !== names.length) {
      throw new ModelbayError(
        Code.INTERNAL,
        `the model answered ${outputs.length} outputs where it declares ${names.length}`,
      );
    }
    return outputs.map((tensor, i) => ({ name: names[i]?.name ?? "", tensor }));
  }

  /** NaN/Inf counts of a prediction, when the model's spec asks for them (report_non_finite). */
  nonFiniteReport(
    id: string,
    inputs: readonly NamedTensor[],
    outputs: readonly NamedTensor[],
  ): NonFiniteReport | undefined {
    const session = this.get(id);
    if (!session.spec?.reportNonFinite) return undefined;
    // Reported under the model's input names: a request may leave a tensor's name empty.
    const names = session.model.description.inputs.map((s) => s.name);
    return nonFiniteReport(
      inputs.map((t, i) => ({ name: t.name || (names[i] ?? ""), tensor: t.tensor })),
      outputs,
    );
  }

  private readonly batchers = new WeakMap<Session, PredictBatcher>();

  /** The session's batcher; with batching off, one that passes every request straight through. */
  private batcherOf(session: Session): PredictBatcher {
    let batcher = this.batchers.get(session);
    if (!batcher) {
      const options = this.limits.batching ?? { maxBatchRows: 0, maxDelayMs: 0 };
      batcher = new PredictBatcher(
        (inputs, wait) => session.model.predict(inputs, wait),
        options,
        (reason) => this.observe.metrics[reason]("batch", "predict"),
      );
      this.batchers.set(session, batcher);
    }
    return batcher;
  }

  /**
   * Predicts `rows` chunk by chunk from `startOffset`, at most CHUNKS_AHEAD chunks ahead of what
   * the caller has taken, so a slow reader holds back the compute and memory stays at a few chunks.
   */
  async *predictChunks(
    id: string,
    rows: RowSource,
    chunkRows: number,
    startOffset: number,
    signal: AbortSignal,
  ): AsyncGenerator<{ offset: number; total: number; outputs: NamedTensor[]; nonFinite?: NonFiniteReport }> {
    const session = this.get(id);
    const { inputs } = session.model.description;
    if (inputs.length !== 1) {
      throw new ModelbayError(
        Code.FAILED_PRECONDITION,
        `PredictStream feeds a model one input, from its rows or a data file; this model takes ${inputs.length} (${inputs.map((s) => `"${s.name}"`).join(", ")}): use Predict`,
      );
    }
    // Checked by its header: the rows themselves are read a chunk at a time.
    const header = { dtype: rows.dtype, shape: rows.shape, data: new Uint8Array(0) };
    matchInputs(session.model.description.inputs, [{ name: rows.name, tensor: header }]);
    const total = rows.shape[0] ?? 0;
    if (startOffset > total)
      throw new ModelbayError(Code.OUT_OF_RANGE, `start_offset ${startOffset} is past the last row (${total} rows)`);
    const inputName = rows.name || (inputs[0]?.name ?? "input");
    // Each chunk's rows land in a ring of shared buffers (one per chunk in flight, one for the chunk
    // being sent), which a device thread reads where they are: a fresh buffer per chunk, copied again
    // on its way to the worker, was ~1 GB/s of garbage at full speed, and its collections showed in
    // the p99 of health checks served meanwhile.
    const rowBytes = elementCount(rows.shape.slice(1)) * BYTES_PER_ELEMENT[rows.dtype];
    const chunks = Math.ceil((total - startOffset) / chunkRows);
    const release = session.model.hold();
    // A few chunks ahead: the device computes the next ones while this one is encoded and sent
    // (with one, device and event loop each sat idle half the time waiting for the other).
    // A cancelled or abandoned stream lets the chunks in flight finish before its rows are closed.
    const predicted = readAhead(
      chunks,
      CHUNKS_AHEAD,
      Math.min(chunkRows, total - startOffset) * rowBytes,
      async (i, slot) => {
        const offset = startOffset + i * chunkRows;
        const chunk = await rows.rows(offset, Math.min(total, offset + chunkRows), slot);
        // A chunk read ahead whose stream was cancelled meanwhile is not computed.
        signal.throwIfAborted();
        const outputs = await inSpan(this.observe.tracer, "predict chunk", { offset, rows: chunk.shape[0] ?? 0 }, () =>
          session.model.predict([chunk]),
        );
        return { offset, chunk, outputs };
      },
      signal,
    );
    try {
      for await (const { offset, chunk, outputs: tensors } of predicted) {
        session.lastUsed = Date.now();
        const outputs = this.named(session, tensors);
        const report = session.spec?.reportNonFinite
          ? { nonFinite: nonFiniteReport([{ name: inputName, tensor: chunk }], outputs) }
          : {};
        yield { offset, total, outputs, ...report };
      }
    } finally {
      // After the chunks still in flight are done (the loop above waits for them).
      release();
    }
  }

  /**
   * Pins the session's full state on its device, as the files of a checkpoint that stream it out
   * when written; training can go on meanwhile.
   */
  async captureCheckpoint(id: string): Promise<CapturedCheckpoint> {
    const session = this.get(id);
    const spec = trainableSpec(session, "checkpoint");
    const version = session.model.version;
    const capture = await session.model.captureState();
    const backend = this.engine.backend;
    const header: CheckpointHeader = {
      modelId: session.id,
      spec,
      metadata: {
        inputs: session.model.description.inputs,
        outputs: session.model.description.outputs,
        preprocessing: spec.preprocessing,
      },
      ...(session.training ? { training: session.training } : {}),
      metrics: { ...session.metrics },
      backend: { name: backend.name, tensorflowVersion: backend.tensorflowVersion, tfjsVersion: backend.tfjsVersion },
      createTime: new Date(),
    };
    return {
      modelId: session.id,
      version,
      files: streamedCheckpointFiles(header, capture),
      release: () => capture.release(),
    };
  }

  /** Commits captured files to the store (atomically; "latest" moves only once they are durable). */
  async commitCheckpoint(captured: CapturedCheckpoint): Promise<StoredCheckpoint> {
    const started = performance.now();
    try {
      const saved = await inSpan(
        this.observe.tracer,
        "checkpoint write",
        { "modelbay.model_id": captured.modelId },
        () => this.store.commit(captured.modelId, captured.files),
      );
      const bytes = saved.manifest.files.reduce((n, f) => n + f.size, 0);
      this.observe.metrics.checkpointWritten(captured.modelId, bytes, (performance.now() - started) / 1000);
      this.registry
        .find(captured.modelId)
        ?.model.markSaved(captured.version, this.reloadFrom(captured.modelId, captured.modelId, saved.id));
      return saved;
    } finally {
      captured.release();
    }
  }

  /** Saves the session's full state as a new checkpoint. */
  async checkpoint(id: string): Promise<StoredCheckpoint> {
    return this.commitCheckpoint(await this.captureCheckpoint(id));
  }

  /** Deletes the checkpoints of `id` that the policy does not keep; returns their ids. */
  pruneCheckpoints(id: string, policy: RetentionPolicy): Promise<string[]> {
    return this.store.prune(
      id,
      policy,
      async (checkpointId) => summarizeState(await this.store.readFile(id, checkpointId, "state.json")).metrics,
    );
  }

  /** Opens a session from a checkpoint of `modelId` ("latest" or an id) under `targetId`. */
  async restore(modelId: string, checkpointId: string, targetId: string, resume: boolean): Promise<RestoredSession> {
    checkModelId(modelId);
    const id = targetId === "" ? modelId : checkModelId(targetId, "target_model_id");
    const { read, session } = await inSpan(
      this.observe.tracer,
      "restore",
      { "modelbay.model_id": modelId },
      async () => {
        // The model is built on its device while the large files are still being hashed (the
        // hash of a 200 MB file is ~110 ms of one core); it becomes a session only once they match.
        const { read, value: session } = await this.store.readThen(modelId, checkpointId, async (read, verified) => {
          try {
            const content = decodeCheckpoint(read.files);
            return await this.registry.open(id, true, async (engine) => {
              const model = await engine.restoreModel(content.spec, content.snapshot);
              try {
                await verified;
              } catch (err) {
                model.dispose();
                throw err;
              }
              return {
                spec: content.spec,
                source: "checkpoint" as const,
                model,
                reload: this.reloadFrom(id, modelId, read.id),
                metrics: content.metrics,
                ...(content.training ? { training: content.training } : {}),
                ...(resume && content.training ? { resumeFrom: content.training } : {}),
              };
            });
          } finally {
            collectSoonAfter(fileBytes(read));
          }
        });
        return { read, session };
      },
    );
    const { files: _files, ...checkpoint } = read;
    return { session, checkpoint, warnings: read.warnings };
  }

  /**
   * Opens a session from a model saved by TensorFlow or Keras under the artifact root. `spec` is
   * needed only for TensorFlow checkpoints (weights only); without it, the target model's spec.
   */
  async restoreArtifact(
    artifactRoot: string,
    relativePath: string,
    targetId: string,
    spec: ModelSpec | undefined,
  ): Promise<ImportedSession> {
    const id = targetId === "" ? defaultModelId(relativePath) : checkModelId(targetId, "target_model_id");
    const artifact = await locateArtifact(artifactRoot, relativePath);
    if (artifact.format === "saved_model") {
      const session = await this.registry.open(id, true, async (engine) => ({
        spec: undefined,
        source: "saved_model" as const,
        model: await engine.loadSavedModel(artifact.dir),
        reload: () => engine.loadSavedModel(artifact.dir),
        metrics: {},
      }));
      return { session, warnings: [] };
    }
    const targetSpec = spec ?? this.registry.find(id)?.spec;
    const imported = await readTrainableArtifact(artifact, relativePath, targetSpec);
    try {
      const session = await this.registry.open(
        id,
        true,
        async (engine) => ({
          spec: imported.spec,
          source: artifact.format,
          model: await engine.restoreModel(imported.spec, imported),
          // Read again on reload rather than holding a host copy of the weights meanwhile.
          reload: async () => {
            const again = await readTrainableArtifact(artifact, relativePath, imported.spec);
            try {
              return await engine.restoreModel(again.spec, again);
            } finally {
              collectSoonAfter(snapshotBytes(again));
            }
          },
          metrics: {},
        }),
        // The model is built from the spec before the weights are matched to it, so a spec given
        // with a TensorFlow checkpoint is sized first, like CreateModel's.
        expectedSessionBytes(imported.spec),
      );
      return { session, warnings: imported.warnings };
    } finally {
      collectSoonAfter(snapshotBytes(imported));
    }
  }

  private engineOf(sessionId: string): ComputeEngine {
    const device = this.registry.find(sessionId)?.device;
    return device ? this.pool.device(device).engine : this.engine;
  }

  /** Devices with the sessions placed on them and their estimated memory use. */
  deviceLoads(): ReturnType<SessionRegistry["deviceLoads"]> {
    return this.registry.deviceLoads();
  }

  closeAll(): void {
    this.registry.disposeAll();
  }
}

// A checkpoint's files, and a checkpoint directory's weights, are read into shared memory, which V8
// does not count toward collecting: once they are used (or failed to be), the thread that read them
// collects soon rather than whenever it next would.
const fileBytes = (read: { manifest: { files: readonly { size: number }[] } }) =>
  read.manifest.files.reduce((n, f) => n + f.size, 0);
const snapshotBytes = (s: Pick<ModelSnapshot, "weights" | "optimizer">) =>
  [...s.weights, ...s.optimizer].reduce((n, w) => n + w.tensor.data.byteLength, 0);

/** The spec of a session that can train and checkpoint; predict-only sessions have none. */
export function trainableSpec(session: Session, what: string): ModelSpec {
  if (!session.spec) {
    throw new ModelbayError(
      Code.FAILED_PRECONDITION,
      `model "${session.id}" was restored from a ${session.source} and is predict-only: cannot ${what} it`,
    );
  }
  return session.spec;
}
