// A session's model that can leave device memory and come back. The session manager evicts idle
// models whose current state is saved (a checkpoint, or the artifact they were loaded from) when
// the memory budget needs room; the next call on an evicted model reloads it first. A model lost
// with a crashed device worker reloads the same way, from its latest checkpoint.
import type {
  ComputeModel,
  ModelDescription,
  NamedTensorData,
  PredictWait,
  StateCapture,
  Trainer,
  TrainerOptions,
} from "../compute/engine.js";
import type { TensorData } from "../compute/tensor-data.js";
import { Code, ModelbayError } from "../errors.js";

/** Builds the model again from where its state is saved. */
export type Reloader = () => Promise<ComputeModel>;

export interface ResidencyHooks {
  /** Makes room in the memory budget before `model` loads again; throws RESOURCE_EXHAUSTED. */
  beforeReload(model: ResidentModel): Promise<void>;
}

const workerLost = (err: unknown) =>
  err instanceof ModelbayError && err.code === Code.UNAVAILABLE && /device worker stopped/.test(err.message);

export class ResidentModel implements ComputeModel {
  private inner: ComputeModel | undefined;
  private loading: Promise<ComputeModel> | undefined;
  private calls = 0;
  private trainers = 0;
  /** Bumped by every change of the weights (at dispatch, so a later snapshot includes it). */
  private changes = 0;
  /** `changes` when the state last matched `reload`'s; -1 when it never did. */
  private savedAt = -1;
  private reload: Reloader | undefined;
  /** Deleted or replaced: freed once the calls and holds still using it are done. */
  private retired = false;

  constructor(
    inner: ComputeModel,
    readonly description: ModelDescription,
    /** Estimated device memory while loaded: weights, plus optimizer slots for trainable models. */
    readonly residentBytes: number,
    private readonly hooks: ResidencyHooks,
    reload?: Reloader,
  ) {
    this.inner = inner;
    if (reload) this.markSaved(0, reload);
  }

  get resident(): boolean {
    return this.inner !== undefined;
  }

  /** Loaded, idle, and its state can be rebuilt exactly from where it is saved. */
  get evictable(): boolean {
    return (
      this.resident &&
      this.calls === 0 &&
      this.trainers === 0 &&
      this.reload !== undefined &&
      this.savedAt === this.changes
    );
  }

  /** The change count a snapshot taken now will reflect. */
  get version(): number {
    return this.changes;
  }

  /** A checkpoint of the state at `version` was committed; `reload` rebuilds it. */
  markSaved(version: number, reload: Reloader): void {
    this.reload = reload;
    if (version === this.changes) this.savedAt = version;
  }

  evict(): void {
    if (!this.evictable) throw new ModelbayError(Code.INTERNAL, "evicting a model that is in use or unsaved");
    this.free();
  }

  /**
   * Keeps the model loaded until the returned release is called, as a call in progress does: a
   * stream is served to its end by the model it started on, even if its session is deleted or
   * replaced meanwhile (the old model's memory then outlives the session until the stream ends).
   */
  hold(): () => void {
    this.calls++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.leave();
    };
  }

  private leave(): void {
    this.calls--;
    if (this.calls === 0 && this.retired) this.free();
  }

  private free(): void {
    this.inner?.dispose();
    this.inner = undefined;
  }

  private async load(): Promise<ComputeModel> {
    if (this.inner) return this.inner;
    const reload = this.reload;
    if (!reload && this.retired) {
      throw new ModelbayError(Code.ABORTED, "the model was deleted or replaced while this call was waiting for it");
    }
    if (!reload) {
      throw new ModelbayError(
        Code.UNAVAILABLE,
        "the model was lost with its device worker and has no checkpoint to reload from; create or restore it again",
      );
    }
    this.loading ??= (async () => {
      try {
        await this.hooks.beforeReload(this);
        const model = await reload();
        this.inner = model;
        this.savedAt = this.changes;
        return model;
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  /** Runs `fn` on the loaded model; a call refused by a dead worker reloads and runs once more. */
  private async use<T>(fn: (m: ComputeModel) => Promise<T>): Promise<T> {
    this.calls++;
    try {
      const model = await this.load();
      try {
        return await fn(model);
      } catch (err) {
        if (!workerLost(err) || this.inner !== model) throw err;
        // The worker died: this model's memory is gone. Reload it if its state is saved.
        this.inner = undefined;
        if (!this.reload) throw err;
        return await fn(await this.load());
      }
    } finally {
      this.leave();
    }
  }

  predict(inputs: readonly TensorData[], wait?: PredictWait): Promise<TensorData[]> {
    return this.use((m) => m.predict(inputs, wait));
  }

  getWeights(): Promise<NamedTensorData[]> {
    return this.use((m) => m.getWeights());
  }

  setWeights(weights: readonly NamedTensorData[]): Promise<void> {
    this.changes++;
    return this.use((m) => m.setWeights(weights));
  }

  captureState(): Promise<StateCapture> {
    return this.use((m) => m.captureState());
  }

  async createTrainer(x: readonly TensorData[], y: readonly TensorData[], opts: TrainerOptions): Promise<Trainer> {
    const trainer = await this.use((m) => m.createTrainer(x, y, opts));
    this.trainers++;
    let disposed = false;
    return {
      executor: trainer.executor,
      rows: trainer.rows,
      batchesPerEpoch: trainer.batchesPerEpoch,
      runBatches: (order, firstBatch, count) => {
        this.changes++;
        return trainer.runBatches(order, firstBatch, count);
      },
      evaluate: (ex, ey) => trainer.evaluate(ex, ey),
      dispose: () => {
        if (disposed) return;
        disposed = true;
        this.trainers--;
        trainer.dispose();
      },
    };
  }

  /** Frees the model now, or when the last call or hold still using it is done. */
  dispose(): void {
    this.retired = true;
    this.reload = undefined;
    if (this.calls === 0) this.free();
  }
}
