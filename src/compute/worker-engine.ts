// A compute engine whose models live in a device worker thread, so that TensorFlow work never
// blocks the RPC event loop. If the worker dies, its models answer UNAVAILABLE and the next model
// built starts a fresh worker. The worker itself is reached through worker/worker-client.ts.
import type { BackendChoice } from "./backend-choice.js";
import type {
  BatchRunResult,
  CapturedTensor,
  ComputeEngine,
  ComputeModel,
  ModelDescription,
  ModelSnapshot,
  NamedTensorData,
  PredictWait,
  StateCapture,
  Trainer,
} from "./engine.js";
import type { ModelSpec } from "./model-spec.js";
import type { TensorData } from "./tensor-data.js";
import { setTensorflowDefaults } from "./tensorflow-env.js";
import type { TrainerOptions } from "./trainer.js";
import type { PredictOrder, Request, WorkerInit } from "./worker/protocol.js";
import { DeviceWorker, type WorkerKind, type WorkerObserver } from "./worker/worker-client.js";

export type { WorkerKind, WorkerObserver } from "./worker/worker-client.js";

/** Buffers of at least 1 MiB under a snapshot's tensors: worth moving to the worker, not copying. */
function largeBuffers(snapshot: Pick<ModelSnapshot, "weights" | "optimizer">): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const t of [...snapshot.weights, ...snapshot.optimizer]) {
    const buffer = t.tensor.data.buffer;
    if (buffer instanceof ArrayBuffer && buffer.byteLength >= 2 ** 20) buffers.add(buffer);
  }
  return [...buffers];
}

class WorkerModel implements ComputeModel {
  private disposed = false;
  constructor(
    private readonly worker: DeviceWorker,
    private readonly handle: number,
    readonly description: ModelDescription,
  ) {}

  predict(inputs: readonly TensorData[], wait: PredictWait = {}): Promise<TensorData[]> {
    const { deadline, onCancel } = wait;
    return this.worker.call(
      {
        op: "predict",
        model: this.handle,
        inputs,
        ...(deadline === undefined ? {} : { deadline }),
        ...(onCancel ? { cancellable: true as const } : {}),
      },
      [],
      onCancel,
    );
  }
  getWeights(): Promise<NamedTensorData[]> {
    return this.worker.call({ op: "getWeights", model: this.handle });
  }
  async setWeights(weights: readonly NamedTensorData[]): Promise<void> {
    await this.worker.call({
      op: "setWeights",
      model: this.handle,
      weights: [...weights],
    });
  }
  async captureState(): Promise<StateCapture> {
    const worker = this.worker;
    const c = await worker.call<{ handle: number; topology: unknown; tensors: CapturedTensor[] }>({
      op: "captureState",
      model: this.handle,
    });
    let released = false;
    return {
      topology: c.topology,
      tensors: c.tensors,
      read: async (index, start, count, into) => {
        const req = { op: "readCapture", capture: c.handle, index, start, count } as const;
        // A process sends the bytes back; a thread fills shared memory in place (a buffer that is
        // not shared is filled through a shared one and copied over here).
        if (!worker.sharesMemory) {
          const bytes = await worker.call<Uint8Array>(req);
          into.set(bytes);
          return into.subarray(0, bytes.byteLength);
        }
        const shared =
          into.buffer instanceof SharedArrayBuffer ? into : new Uint8Array(new SharedArrayBuffer(into.byteLength));
        const n = await worker.call<number>({ ...req, into: shared });
        if (shared !== into) into.set(shared.subarray(0, n));
        return into.subarray(0, n);
      },
      release: () => {
        if (released) return;
        released = true;
        worker.call({ op: "releaseCapture", capture: c.handle }).catch(() => undefined);
      },
    };
  }
  async createTrainer(x: readonly TensorData[], y: readonly TensorData[], opts: TrainerOptions): Promise<Trainer> {
    const t = await this.worker.call<{
      handle: number;
      executor: Trainer["executor"];
      rows: number;
      batchesPerEpoch: number;
    }>({
      op: "createTrainer",
      model: this.handle,
      x,
      y,
      opts,
    });
    const worker = this.worker;
    let lastOrder: Int32Array | null | undefined;
    return {
      executor: t.executor,
      rows: t.rows,
      batchesPerEpoch: t.batchesPerEpoch,
      runBatches(order, firstBatch, count): Promise<BatchRunResult> {
        // The epoch's order goes over once; later chunks of the epoch refer to it.
        const send = order === lastOrder ? "same" : order;
        lastOrder = order;
        return worker.call({ op: "runBatches", trainer: t.handle, order: send, firstBatch, count });
      },
      evaluate(ex, ey) {
        return worker.call({ op: "evaluate", trainer: t.handle, x: ex, y: ey });
      },
      dispose() {
        worker.call({ op: "disposeTrainer", trainer: t.handle }).catch(() => undefined);
      },
    };
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.worker.call({ op: "disposeModel", model: this.handle }).catch(() => undefined);
  }
}

export interface WorkerEngine extends ComputeEngine {
  /** Thread id (or process id) of the current worker, so tests can stop it. */
  workerThreadId(): number;
  /** CUDA_VISIBLE_DEVICES as the worker's process sees it (null when unset). */
  cudaVisibleDevices(): string | null;
  /** Kills the current worker, as a crash would. */
  crashWorkerForTest(): Promise<void>;
  /** How many Predicts the current worker got through the shared lane and through its port. */
  predictWaysForTest(): { lane: number; port: number };
  close(): Promise<void>;
}

export interface WorkerEngineOptions {
  device?: string;
  observer?: WorkerObserver;
  kind?: WorkerKind;
  /** Extra environment of the worker, e.g. CUDA_VISIBLE_DEVICES for a GPU's process. */
  env?: Record<string, string>;
  /** The server's whole memory budget: the worker refuses to build a model over it. */
  maxModelBytes?: number;
  /** How the worker orders waiting Predicts (default "adaptive"). */
  predictOrder?: PredictOrder;
  /** Small Predicts go to a worker thread through shared memory (default true; false for benchmarks' baseline). */
  sharedLane?: boolean;
  /** Nice value of every thread of a worker process (thread-priority.ts); a worker thread ignores it (the server lowers it with its other threads). */
  processNice?: number;
}

export async function createWorkerEngine(
  choice: BackendChoice,
  options: WorkerEngineOptions = {},
): Promise<WorkerEngine> {
  const {
    device = "cpu:0",
    observer,
    kind = "thread",
    env = {},
    maxModelBytes,
    predictOrder,
    sharedLane = true,
    processNice,
  } = options;
  setTensorflowDefaults();
  const init: WorkerInit = {
    backend: choice,
    device,
    ...(maxModelBytes !== undefined && Number.isFinite(maxModelBytes) ? { maxModelBytes } : {}),
    ...(predictOrder ? { predictOrder } : {}),
    ...(processNice ? { processNice } : {}),
  };
  let current: DeviceWorker;
  const spawn = async () => {
    current = new DeviceWorker(init, () => undefined, observer, kind, env, sharedLane);
    return current.ready;
  };
  const backend = await spawn();
  // A dead worker is replaced lazily, by the next call that needs one.
  const live = async () => {
    if (current.dead) {
      await spawn();
      observer?.restart();
    }
    return current;
  };
  const open = async (req: Request, transfer: readonly ArrayBuffer[] = []): Promise<ComputeModel> => {
    const worker = await live();
    const r = await worker.call<{ handle: number; description: ModelDescription }>(req, transfer);
    return new WorkerModel(worker, r.handle, r.description);
  };
  return {
    backend,
    buildModel: (spec: ModelSpec) => open({ op: "build", spec }),
    restoreModel: (spec, snapshot) => open({ op: "restore", spec, snapshot }, largeBuffers(snapshot)),
    loadSavedModel: (dir) => open({ op: "loadSavedModel", dir }),
    memory: async () => (await live()).call({ op: "memory" }),
    workerThreadId: () => current.threadId,
    cudaVisibleDevices: () => current.cudaVisibleDevices,
    crashWorkerForTest: async () => {
      await current.terminate();
    },
    predictWaysForTest: () => ({ ...current.predictWays }),
    close: async () => {
      await current.terminate();
    },
  };
}
