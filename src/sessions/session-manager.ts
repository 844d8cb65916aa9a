// Holds the model sessions of the server: each a built model, its spec, its metadata and where its
// training stands; saves them to and restores them from the checkpoint store.

import { streamedCheckpointFiles } from "../checkpoints/capture-files.js";
import {
  type CheckpointHeader,
  decodeCheckpoint,
  summarizeState,
  type TrainingCursor,
} from "../checkpoints/checkpoint-codec.js";
import type { CheckpointStore, StoredCheckpoint, StreamedFile } from "../checkpoints/checkpoint-store.js";
import type { RetentionPolicy } from "../checkpoints/retention.js";
import type { DevicePool } from "../compute/device-pool.js";
import { chooseDevice } from "../compute/devices.js";
import type { ComputeEngine, ComputeModel } from "../compute/engine.js";
import type { ModelSpec } from "../compute/model-spec.js";
import { BYTES_PER_ELEMENT, elementCount } from "../compute/tensor-data.js";
import type { RowSource } from "../datasets/row-source.js";
import { Code, ModelbayError, notFound } from "../errors.js";
import { type ArtifactFormat, defaultModelId, locateArtifact, readTrainableArtifact } from "../interop/artifact.js";
import { readAhead } from "../read-ahead.js";
import { inSpan, type Observability, unobserved } from "../telemetry/spans.js";
import { matchInputs, type NamedTensor } from "./input-check.js";
import { checkModelId, newModelId } from "./model-id.js";
import { type NonFiniteReport, nonFiniteReport } from "./non-finite.js";
import { type BatchingOptions, PredictBatcher } from "./predict-batcher.js";
import { type Reloader, type ResidencyHooks, ResidentModel } from "./resident-model.js";

// PredictStream computes this many chunks ahead of the one being sent.
const CHUNKS_AHEAD = 3;

/** How a session was opened; artifacts by their format. */
export type SessionSource = "spec" | "checkpoint" | ArtifactFormat;

export interface Session {
  readonly id: string;
  /** What the model was built from; undefined for predict-only models (SavedModels). */
  readonly spec: ModelSpec | undefined;
  readonly source: SessionSource;
  /** The model; it may be out of device memory (evicted), and reloads on its next use. */
  readonly model: ResidentModel;
  readonly createTime: Date;
  readonly device: string;
  lastUsed: number;
  /** Where training stands; saved with every checkpoint. */
  training?: TrainingCursor;
  /** Set by a Restore with resume: the next Train continues from here. */
  resumeFrom?: TrainingCursor;
  /** Latest loss and metrics, saved with checkpoints. */
  metrics: Record<string, number>;
  /** Id of the training job running on this session, if any. */
  trainingJob?: string;
}

export interface SessionLimits {
  /** Most models held in device memory at once. */
  maxSessions: number;
  /** Device memory the models in it may take, in bytes (weights, and optimizer slots). */
  maxSessionBytes: number;
  /** Dynamic batching of concurrent Predicts; off when absent or maxBatchRows <= 1. */
  batching?: BatchingOptions;
}

/** What a session is opened from: a built model, and how to rebuild it if it is saved. */
type Opened = Omit<Session, "id" | "lastUsed" | "createTime" | "device" | "model"> & {
  model: ComputeModel;
  reload?: Reloader;
};

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

export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  // Ids being built, so that two concurrent calls cannot both take one id.
  private readonly reserved = new Set<string>();

  constructor(
    readonly pool: DevicePool,
    readonly store: CheckpointStore,
    private readonly limits: SessionLimits,
    private readonly observe: Observability = unobserved,
  ) {}

  private readonly hooks: ResidencyHooks = {
    beforeReload: async (model) => {
      const session = [...this.sessions.values()].find((x) => x.model === model);
      await this.makeRoom(model.residentBytes, session?.id);
    },
  };

  /**
   * Evicts idle, saved models, least recently used first, until `needBytes` more fit in the memory
   * budget and one more model fits in the count. `exclude` is the model making the room.
   */
  private async makeRoom(needBytes: number, exclude: string | undefined): Promise<void> {
    const { maxSessions, maxSessionBytes } = this.limits;
    if (needBytes > maxSessionBytes) {
      throw new ModelbayError(
        Code.RESOURCE_EXHAUSTED,
        `the model needs about ${needBytes} bytes of device memory, more than the whole budget of ${maxSessionBytes} (--max-session-bytes)`,
      );
    }
    for (;;) {
      const resident = [...this.sessions.values()].filter((x) => x.id !== exclude && x.model.resident);
      const bytes = resident.reduce((n, x) => n + x.model.residentBytes, 0);
      const building = [...this.reserved].filter((r) => r !== exclude).length;
      const overCount = resident.length + building + 1 > maxSessions;
      const overBytes = bytes + needBytes > maxSessionBytes;
      if (!overCount && !overBytes) return;
      const victim = resident.filter((x) => x.model.evictable).sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!victim) {
        const limit = overCount
          ? `the server holds its maximum of ${maxSessions} models in memory (--max-sessions)`
          : `the models in memory would take ${bytes + needBytes} bytes, over the budget of ${maxSessionBytes} (--max-session-bytes)`;
        throw new ModelbayError(
          Code.RESOURCE_EXHAUSTED,
          `${limit}, and none can be evicted: only idle models whose current state is checkpointed leave memory; checkpoint or delete one`,
        );
      }
      victim.model.evict();
    }
  }

  /** Reserves an id, builds the model with `build`, makes room for it, and registers the session. */
  private async open(
    id: string,
    replace: boolean,
    build: (engine: ComputeEngine) => Promise<Opened>,
  ): Promise<Session> {
    const existing = this.sessions.get(id);
    if (this.reserved.has(id) || (existing && !replace))
      throw new ModelbayError(Code.ALREADY_EXISTS, `model "${id}" already exists`);
    if (existing?.trainingJob) {
      throw new ModelbayError(
        Code.FAILED_PRECONDITION,
        `model "${id}" is training (job ${existing.trainingJob}); cancel the job first`,
      );
    }
    // Fail fast when even evicting everything evictable could not make room for one more model.
    await this.makeRoom(0, id);
    this.reserved.add(id);
    try {
      // Least loaded device by memory; a replaced session's memory is about to be freed.
      const used = (name: string) =>
        this.usedOn(name) - (existing?.device === name && existing.model.resident ? existing.model.residentBytes : 0);
      let device = chooseDevice(this.pool.devices, used, 0);
      let opened = await build(device.engine);
      // Trainable models also hold two optimizer slots per weight (Adam).
      const bytesOf = (o: Opened) => o.model.description.weightBytes * (o.spec ? 3 : 1);
      // Its size is known once built: a model too big for the GPU it was given goes to the CPU.
      const fitted = chooseDevice(this.pool.devices, used, bytesOf(opened));
      if (
        fitted.name !== device.name &&
        device.kind === "gpu" &&
        bytesOf(opened) > device.memoryBytes - used(device.name)
      ) {
        opened.model.dispose();
        device = fitted;
        opened = await build(device.engine);
      }
      const { model: built, reload, ...rest } = opened;
      const bytes = bytesOf(opened);
      const model = new ResidentModel(built, built.description, bytes, this.hooks, reload);
      try {
        await this.makeRoom(bytes, id);
      } catch (err) {
        model.dispose();
        throw err;
      }
      const session: Session = {
        ...rest,
        model,
        id,
        createTime: new Date(),
        device: device.name,
        lastUsed: Date.now(),
      };
      this.sessions.get(id)?.model.dispose();
      this.sessions.set(id, session);
      return session;
    } finally {
      this.reserved.delete(id);
    }
  }

  /** The CPU's engine: where work not tied to a device runs (and the only one without GPUs). */
  get engine(): ComputeEngine {
    return this.pool.primary;
  }

  /** Bytes of the loaded models on each device. */
  private usedOn(device: string): number {
    return [...this.sessions.values()]
      .filter((x) => x.device === device && x.model.resident)
      .reduce((n, x) => n + x.model.residentBytes, 0);
  }

  /** Devices with the sessions placed on them and their estimated memory use. */
  deviceLoads(): { name: string; kind: string; sessions: number; usedBytes: number; memoryBytes: number }[] {
    return this.pool.devices.map((d) => ({
      name: d.name,
      kind: d.kind,
      sessions: [...this.sessions.values()].filter((x) => x.device === d.name).length,
      usedBytes: this.usedOn(d.name),
      memoryBytes: d.memoryBytes,
    }));
  }

  /** Rebuilds a model from a checkpoint, for a session whose memory was evicted or lost. */
  private reloadFrom(sessionId: string, storeModelId: string, checkpointId: string): Reloader {
    return async () => {
      const content = decodeCheckpoint((await this.store.read(storeModelId, checkpointId)).files);
      const session = this.sessions.get(sessionId);
      // After a worker crash the model comes back as the checkpoint has it; so does its cursor.
      if (session && !session.trainingJob) {
        session.metrics = content.metrics;
        if (content.training) session.training = content.training;
      }
      return this.engineOf(sessionId).restoreModel(content.spec, content.snapshot);
    };
  }

  create(requestedId: string, spec: ModelSpec): Promise<Session> {
    const id = requestedId === "" ? newModelId() : checkModelId(requestedId);
    return this.open(id, false, async (engine) => ({
      spec,
      source: "spec",
      model: await engine.buildModel(spec),
      metrics: {},
    }));
  }

  get(id: string): Session {
    const session = this.sessions.get(checkModelId(id));
    if (!session) throw notFound(`model "${id}"`);
    session.lastUsed = Date.now();
    return session;
  }

  list(): Session[] {
    return [...this.sessions.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  async delete(id: string, deleteCheckpoints: boolean): Promise<void> {
    const session = this.get(id);
    if (session.trainingJob) {
      throw new ModelbayError(
        Code.FAILED_PRECONDITION,
        `model "${id}" is training (job ${session.trainingJob}); cancel the job first`,
      );
    }
    this.sessions.delete(id);
    session.model.dispose();
    if (deleteCheckpoints) await this.store.deleteAll(id);
  }

  async predict(id: string, inputs: readonly NamedTensor[]): Promise<NamedTensor[]> {
    const session = this.get(id);
    const { inputs: signatures, outputs } = session.model.description;
    const [input] = matchInputs(signatures, inputs);
    if (!input) throw new ModelbayError(Code.INTERNAL, "model has no input");
    const output = await this.batcherOf(session).submit(input);
    return [{ name: outputs[0]?.name ?? "output", tensor: output }];
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
      batcher = new PredictBatcher((input) => session.model.predict(input), options);
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
    // Checked by its header: the rows themselves are read a chunk at a time.
    const header = { dtype: rows.dtype, shape: rows.shape, data: new Uint8Array(0) };
    matchInputs(session.model.description.inputs, [{ name: rows.name, tensor: header }]);
    const total = rows.shape[0] ?? 0;
    if (startOffset > total)
      throw new ModelbayError(Code.OUT_OF_RANGE, `start_offset ${startOffset} is past the last row (${total} rows)`);
    const outputName = session.model.description.outputs[0]?.name ?? "output";
    const inputName = rows.name || (session.model.description.inputs[0]?.name ?? "input");
    // Each chunk's rows land in a ring of shared buffers (one per chunk in flight, one for the chunk
    // being sent), which a device thread reads where they are: a fresh buffer per chunk, copied again
    // on its way to the worker, was ~1 GB/s of garbage at full speed, and its collections showed in
    // the p99 of health checks served meanwhile.
    const rowBytes = elementCount(rows.shape.slice(1)) * BYTES_PER_ELEMENT[rows.dtype];
    const chunks = Math.ceil((total - startOffset) / chunkRows);
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
        const output = await inSpan(this.observe.tracer, "predict chunk", { offset, rows: chunk.shape[0] ?? 0 }, () =>
          session.model.predict(chunk),
        );
        return { offset, chunk, output };
      },
      signal,
    );
    for await (const { offset, chunk, output } of predicted) {
      session.lastUsed = Date.now();
      const outputs = [{ name: outputName, tensor: output }];
      const report = session.spec?.reportNonFinite
        ? { nonFinite: nonFiniteReport([{ name: inputName, tensor: chunk }], outputs) }
        : {};
      yield { offset, total, outputs, ...report };
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
      this.sessions
        .get(captured.modelId)
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
        const read = await this.store.read(modelId, checkpointId);
        const content = decodeCheckpoint(read.files);
        const session = await this.open(id, true, async (engine) => ({
          spec: content.spec,
          source: "checkpoint" as const,
          model: await engine.restoreModel(content.spec, content.snapshot),
          reload: this.reloadFrom(id, modelId, read.id),
          metrics: content.metrics,
          ...(content.training ? { training: content.training } : {}),
          ...(resume && content.training ? { resumeFrom: content.training } : {}),
        }));
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
      const session = await this.open(id, true, async (engine) => ({
        spec: undefined,
        source: "saved_model" as const,
        model: await engine.loadSavedModel(artifact.dir),
        reload: () => engine.loadSavedModel(artifact.dir),
        metrics: {},
      }));
      return { session, warnings: [] };
    }
    const targetSpec = spec ?? this.sessions.get(id)?.spec;
    const imported = await readTrainableArtifact(artifact, relativePath, targetSpec);
    const session = await this.open(id, true, async (engine) => ({
      spec: imported.spec,
      source: artifact.format,
      model: await engine.restoreModel(imported.spec, imported),
      // Read again on reload rather than holding a host copy of the weights meanwhile.
      reload: async () => {
        const again = await readTrainableArtifact(artifact, relativePath, imported.spec);
        return engine.restoreModel(again.spec, again);
      },
      metrics: {},
    }));
    return { session, warnings: imported.warnings };
  }

  private engineOf(sessionId: string): ComputeEngine {
    const device = this.sessions.get(sessionId)?.device;
    return device ? this.pool.device(device).engine : this.engine;
  }

  closeAll(): void {
    for (const session of this.sessions.values()) session.model.dispose();
    this.sessions.clear();
  }
}

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
