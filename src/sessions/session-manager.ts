// Holds the model sessions of the server: each a built model, its spec, its metadata and where its
// training stands; saves them to and restores them from the checkpoint store.

import {
  type CheckpointContent,
  decodeCheckpoint,
  encodeCheckpoint,
  summarizeState,
  type TrainingCursor,
} from "../checkpoints/checkpoint-codec.js";
import type { CheckpointStore, StoredCheckpoint } from "../checkpoints/checkpoint-store.js";
import type { RetentionPolicy } from "../checkpoints/retention.js";
import type { ComputeEngine, ComputeModel } from "../compute/engine.js";
import type { ModelSpec } from "../compute/model-spec.js";
import { sliceRows } from "../compute/tensor-data.js";
import { Code, ModelbayError, notFound } from "../errors.js";
import { type ArtifactFormat, defaultModelId, locateArtifact, readTrainableArtifact } from "../interop/artifact.js";
import { matchInputs, type NamedTensor } from "./input-check.js";
import { checkModelId, newModelId } from "./model-id.js";

/** How a session was opened; artifacts by their format. */
export type SessionSource = "spec" | "checkpoint" | ArtifactFormat;

export interface Session {
  readonly id: string;
  /** What the model was built from; undefined for predict-only models (SavedModels). */
  readonly spec: ModelSpec | undefined;
  readonly source: SessionSource;
  readonly model: ComputeModel;
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
  maxSessions: number;
}

export interface RestoredSession {
  session: Session;
  checkpoint: StoredCheckpoint;
  warnings: string[];
}

/** A checkpoint's files, captured in memory and not yet written. */
export interface CapturedCheckpoint {
  modelId: string;
  files: ReturnType<typeof encodeCheckpoint>;
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
    readonly engine: ComputeEngine,
    readonly store: CheckpointStore,
    private readonly limits: SessionLimits,
  ) {}

  /** Reserves an id, builds the model with `build`, and registers the session. */
  private async open(
    id: string,
    replace: boolean,
    build: () => Promise<Omit<Session, "id" | "lastUsed" | "createTime" | "device">>,
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
    if (!existing && this.sessions.size + this.reserved.size >= this.limits.maxSessions) {
      throw new ModelbayError(
        Code.RESOURCE_EXHAUSTED,
        `the server holds its maximum of ${this.limits.maxSessions} models; delete one first`,
      );
    }
    this.reserved.add(id);
    try {
      const built = await build();
      const session: Session = { ...built, id, createTime: new Date(), device: "cpu:0", lastUsed: Date.now() };
      this.sessions.get(id)?.model.dispose();
      this.sessions.set(id, session);
      return session;
    } finally {
      this.reserved.delete(id);
    }
  }

  create(requestedId: string, spec: ModelSpec): Promise<Session> {
    const id = requestedId === "" ? newModelId() : checkModelId(requestedId);
    return this.open(id, false, async () => ({
      spec,
      source: "spec",
      model: await this.engine.buildModel(spec),
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
    const output = await session.model.predict(input);
    return [{ name: outputs[0]?.name ?? "output", tensor: output }];
  }

  /**
   * Predicts `rows` chunk by chunk from `startOffset`, computing a chunk only when the caller asks
   * for it, so a slow reader holds back the compute and memory stays at one chunk.
   */
  async *predictChunks(
    id: string,
    rows: NamedTensor,
    chunkRows: number,
    startOffset: number,
    signal: AbortSignal,
  ): AsyncGenerator<{ offset: number; total: number; outputs: NamedTensor[] }> {
    const session = this.get(id);
    const [input] = matchInputs(session.model.description.inputs, [rows]);
    if (!input) throw new ModelbayError(Code.INTERNAL, "model has no input");
    const total = input.shape[0] ?? 0;
    if (startOffset > total)
      throw new ModelbayError(Code.OUT_OF_RANGE, `start_offset ${startOffset} is past the last row (${total} rows)`);
    const outputName = session.model.description.outputs[0]?.name ?? "output";
    for (let offset = startOffset; offset < total; offset += chunkRows) {
      signal.throwIfAborted();
      const chunk = sliceRows(input, offset, Math.min(total, offset + chunkRows));
      const output = await session.model.predict(chunk);
      session.lastUsed = Date.now();
      yield { offset, total, outputs: [{ name: outputName, tensor: output }] };
    }
  }

  /**
   * Copies the session's full state into memory, as the files of a checkpoint. Writing them is a
   * separate step, so that training can go on while they are written.
   */
  async captureCheckpoint(id: string): Promise<CapturedCheckpoint> {
    const session = this.get(id);
    const spec = trainableSpec(session, "checkpoint");
    const snapshot = await session.model.snapshot();
    const backend = this.engine.backend;
    const content: CheckpointContent = {
      modelId: session.id,
      spec,
      snapshot,
      metadata: {
        inputs: session.model.description.inputs,
        outputs: session.model.description.outputs,
        preprocessing: spec.preprocessing,
      },
      ...(session.training ? { training: session.training } : {}),
      metrics: session.metrics,
      backend: { name: backend.name, tensorflowVersion: backend.tensorflowVersion, tfjsVersion: backend.tfjsVersion },
      createTime: new Date(),
    };
    return { modelId: session.id, files: encodeCheckpoint(content) };
  }

  /** Commits captured files to the store (atomically; "latest" moves only once they are durable). */
  commitCheckpoint(captured: CapturedCheckpoint): Promise<StoredCheckpoint> {
    return this.store.commit(captured.modelId, captured.files);
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
    const read = await this.store.read(modelId, checkpointId);
    const content = decodeCheckpoint(read.files);
    const session = await this.open(id, true, async () => ({
      spec: content.spec,
      source: "checkpoint" as const,
      model: await this.engine.restoreModel(content.spec, content.snapshot),
      metrics: content.metrics,
      ...(content.training ? { training: content.training } : {}),
      ...(resume && content.training ? { resumeFrom: content.training } : {}),
    }));
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
      const session = await this.open(id, true, async () => ({
        spec: undefined,
        source: "saved_model" as const,
        model: await this.engine.loadSavedModel(artifact.dir),
        metrics: {},
      }));
      return { session, warnings: [] };
    }
    const targetSpec = spec ?? this.sessions.get(id)?.spec;
    const imported = await readTrainableArtifact(artifact, relativePath, targetSpec);
    const session = await this.open(id, true, async () => ({
      spec: imported.spec,
      source: artifact.format,
      model: await this.engine.restoreModel(imported.spec, imported),
      metrics: {},
    }));
    return { session, warnings: imported.warnings };
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
