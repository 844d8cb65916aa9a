// The open sessions and where each one lives: places a new model on the least loaded device, and
// keeps the models in memory within the session count and byte budget by evicting idle saved ones.
import type { TrainingCursor } from "../checkpoints/checkpoint-codec.js";
import type { DevicePool } from "../compute/device-pool.js";
import { chooseDevice } from "../compute/devices.js";
import type { ComputeEngine, ComputeModel } from "../compute/engine.js";
import type { ModelSpec } from "../compute/model-spec.js";
import { Code, ModelbayError } from "../errors.js";
import type { ArtifactFormat } from "../interop/artifact.js";
import { type Reloader, type ResidencyHooks, ResidentModel } from "./resident-model.js";

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

/** What a session is opened from: a built model, and how to rebuild it if it is saved. */
export type Opened = Omit<Session, "id" | "lastUsed" | "createTime" | "device" | "model"> & {
  model: ComputeModel;
  reload?: Reloader;
};

export interface RoomLimits {
  /** Most models held in device memory at once. */
  maxSessions: number;
  /** Device memory the models in it may take, in bytes (weights, and optimizer slots). */
  maxSessionBytes: number;
}

/** Device memory a session takes: its weights, and for a trainable model two optimizer slots per weight (Adam). */
export function sessionBytes(weightBytes: number, trainable: boolean): number {
  return weightBytes * (trainable ? 3 : 1);
}

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  // Ids being built, so that two concurrent calls cannot both take one id.
  private readonly reserved = new Set<string>();

  constructor(
    private readonly pool: DevicePool,
    private readonly limits: RoomLimits,
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

  /**
   * Reserves an id, builds the model with `build`, makes room for it, and registers the session.
   * `expectedBytes`, when the caller can tell before building, is made room for first.
   */
  async open(
    id: string,
    replace: boolean,
    build: (engine: ComputeEngine) => Promise<Opened>,
    expectedBytes = 0,
  ): Promise<Session> {
    const existing = this.sessions.get(id);
    if (this.reserved.has(id) && replace) {
      // Two restores into one id at once: a conflict of calls, not a model that exists.
      throw new ModelbayError(Code.ABORTED, `model "${id}" is being opened by another call; try again`);
    }
    if (this.reserved.has(id) || (existing && !replace))
      throw new ModelbayError(Code.ALREADY_EXISTS, `model "${id}" already exists`);
    const refuseWhileTraining = (session: Session | undefined) => {
      if (session?.trainingJob) {
        throw new ModelbayError(
          Code.FAILED_PRECONDITION,
          `model "${id}" is training (job ${session.trainingJob}); cancel the job first`,
        );
      }
    };
    refuseWhileTraining(existing);
    // Fail fast when even evicting everything evictable could not make room for this model.
    await this.makeRoom(expectedBytes, id);
    this.reserved.add(id);
    try {
      // Least loaded device by memory; a replaced session's memory is about to be freed.
      const used = (name: string) =>
        this.usedOn(name) - (existing?.device === name && existing.model.resident ? existing.model.residentBytes : 0);
      let device = chooseDevice(this.pool.devices, used, 0);
      let opened = await build(device.engine);
      const bytesOf = (o: Opened) => sessionBytes(o.model.description.weightBytes, o.spec !== undefined);
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
        // Again, in the same turn as the swap: a Train may have started on the old model meanwhile.
        refuseWhileTraining(this.sessions.get(id));
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

  find(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  all(): Session[] {
    return [...this.sessions.values()];
  }

  remove(id: string): void {
    this.sessions.delete(id);
  }

  disposeAll(): void {
    for (const session of this.sessions.values()) session.model.dispose();
    this.sessions.clear();
  }
}
