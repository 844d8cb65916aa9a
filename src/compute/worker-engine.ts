// A compute engine whose models live in a device worker thread, so that TensorFlow work never
// blocks the RPC event loop. If the worker dies, its models answer UNAVAILABLE and the next model
// built starts a fresh worker.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { Code, ModelbayError } from "../errors.js";
import type { BackendChoice, BackendInfo } from "./backend-choice.js";
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
import {
  type Cancel,
  type Envelope,
  epochMs,
  type PredictOrder,
  type Ready,
  type Reply,
  type Request,
  type Wake,
  type WorkerInit,
} from "./worker/protocol.js";
import { createLaneMemory, LaneClient } from "./worker/shared-lane.js";

/**
 * postMessage clones a typed array's whole underlying buffer, so views into larger buffers (a slice
 * of a request's rows, rows held out for validation) are copied out before a request crosses: only
 * their own bytes go to the worker. Shared memory crosses to a thread as it is (both see the same
 * bytes), but a process cannot share it, so its bytes are copied for one. Applied to every request,
 * so no operation can forget it.
 */
function compactViews(
  value: unknown,
  sharesMemory: boolean,
  moving: ReadonlySet<ArrayBufferLike> = new Set(),
): unknown {
  if (ArrayBuffer.isView(value)) {
    const view = value as Float32Array | Int32Array | Uint8Array;
    if (view.buffer instanceof SharedArrayBuffer) return sharesMemory ? view : view.slice();
    // A view into a buffer that moves to the worker (transfer) crosses as it is, without a copy.
    return view.byteLength === view.buffer.byteLength || moving.has(view.buffer) ? view : view.slice();
  }
  if (Array.isArray(value)) return value.map((v) => compactViews(v, sharesMemory, moving));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, compactViews(v, sharesMemory, moving)]));
  }
  return value;
}

/** Buffers of at least 1 MiB under a snapshot's tensors: worth moving to the worker, not copying. */
function largeBuffers(snapshot: Pick<ModelSnapshot, "weights" | "optimizer">): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const t of [...snapshot.weights, ...snapshot.optimizer]) {
    const buffer = t.tensor.data.buffer;
    if (buffer instanceof ArrayBuffer && buffer.byteLength >= 2 ** 20) buffers.add(buffer);
  }
  return [...buffers];
}

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void; op: string; sent: number };

/** Observes the device worker, for metrics; compute/ knows nothing of telemetry. */
export interface WorkerObserver {
  /** A request finished: seconds waiting in the queue (and crossing threads), seconds computing. */
  call(op: string, queueSeconds: number, computeSeconds: number): void;
  /** A request was given up because its deadline passed: dropped unrun, or a large predict stopped between slices. */
  expired(op: string): void;
  /** A request was given up because its caller cancelled: dropped unrun, or a large predict stopped between slices. */
  cancelled(op: string): void;
  /** A dead worker was replaced. */
  restart(): void;
}

/** How a device worker runs: a thread (cheapest hop) or a process (its own environment). */
export type WorkerKind = "thread" | "process";

/** The few operations DeviceWorker needs from a thread or a child process. */
interface WorkerHandle {
  /** `transfer` moves buffers to a thread; a process gets copies whatever it says. */
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  /** Whether postMessage can move buffers (threads) rather than copy them (processes). */
  transfers: boolean;
  on(event: "message", listener: (message: Reply | Ready) => void): void;
  on(event: "exit", listener: (code: number | null) => void): void;
  once(event: "message", listener: (message: Ready) => void): void;
  once(event: "error", listener: (err: Error) => void): void;
  id: number;
  terminate(): Promise<unknown>;
}

function startWorker(init: WorkerInit, kind: WorkerKind, env: Record<string, string>): WorkerHandle {
  const fromSource = import.meta.url.endsWith(".ts");
  const url = new URL(`./worker/device-worker${fromSource ? ".ts" : ".js"}`, import.meta.url);
  const workerEnv = { ...process.env, ...env };
  if (kind === "process") {
    const child = fork(fileURLToPath(url), [], {
      serialization: "advanced",
      env: { ...workerEnv, MODELBAY_WORKER_INIT: JSON.stringify(init) },
      execArgv: fromSource ? ["--import", "tsx"] : [],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return {
      postMessage: (m) => child.send(m as never),
      transfers: false,
      on: (event: string, listener: (...args: unknown[]) => void) => child.on(event, listener),
      once: (event: string, listener: (...args: unknown[]) => void) => child.once(event, listener),
      id: child.pid ?? -1,
      terminate: () =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve(undefined);
          child.once("exit", resolve);
          child.kill("SIGKILL");
        }),
    } as WorkerHandle;
  }
  // Run from TypeScript sources (tests, the CLI through tsx), the worker registers tsx's loader
  // in its own thread before it imports the entry point.
  const bootstrap = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`;
  const worker = fromSource
    ? new Worker(bootstrap, { eval: true, workerData: init, env: workerEnv })
    : new Worker(url, { workerData: init, env: workerEnv });
  return {
    postMessage: (m, transfer) => worker.postMessage(m, transfer),
    transfers: true,
    on: (event: string, listener: (...args: unknown[]) => void) => worker.on(event, listener),
    once: (event: string, listener: (...args: unknown[]) => void) => worker.once(event, listener),
    id: worker.threadId,
    terminate: () => worker.terminate(),
  } as WorkerHandle;
}

/** One device worker and the requests waiting on it. */
class DeviceWorker {
  private readonly worker: WorkerHandle;
  cudaVisibleDevices: string | null = null;
  private readonly pending = new Map<number, Pending>();
  /** Carries small Predicts to a worker thread through shared memory (shared-lane.ts). */
  private readonly lane: LaneClient | undefined;
  private nextId = 1;
  /** Predicts sent each way, for tests. */
  readonly predictWays = { lane: 0, port: 0 };
  dead: ModelbayError | undefined;
  readonly ready: Promise<BackendInfo>;

  constructor(
    init: WorkerInit,
    onExit: (w: DeviceWorker) => void,
    private readonly observer: WorkerObserver | undefined,
    kind: WorkerKind,
    env: Record<string, string>,
    sharedLane: boolean,
  ) {
    // Only a thread can share memory with this one; a process's requests all go by its channel.
    const laneMemory = kind === "thread" && sharedLane ? createLaneMemory() : undefined;
    this.worker = startWorker(laneMemory ? { ...init, lane: laneMemory } : init, kind, env);
    this.lane =
      laneMemory &&
      new LaneClient(
        laneMemory,
        () => this.worker.postMessage({ wake: true } satisfies Wake),
        (reply) => this.settle(reply),
      );
    this.ready = new Promise((resolve, reject) => {
      this.worker.once("message", (m: Ready) => {
        if (!m.ready) return reject(new Error(m.message));
        this.cudaVisibleDevices = m.cudaVisibleDevices;
        resolve(m.backend);
      });
      this.worker.once("error", reject);
    });
    this.worker.on("message", (m: Reply | Ready) => {
      if (!("id" in m)) return;
      this.lane?.answeredByPort(m.id);
      this.settle(m);
    });
    this.worker.on("exit", (exitCode) => {
      this.dead = new ModelbayError(
        Code.UNAVAILABLE,
        `the device worker stopped (exit ${exitCode}); models on it must be restored`,
      );
      this.lane?.close();
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
      onExit(this);
    });
  }

  /** A worker thread sees this thread's shared memory; a worker process does not. */
  get sharesMemory(): boolean {
    return this.worker.transfers;
  }

  /** Thread id, or process id for a process worker. */
  get threadId(): number {
    return this.worker.id;
  }

  /**
   * Sends a request; buffers in `transfer` move to a worker thread (detached here) instead of being
   * copied. If `onCancel` reports the caller gone, the worker drops the request if it still waits.
   */
  call<T>(req: Request, transfer: readonly ArrayBuffer[] = [], onCancel?: PredictWait["onCancel"]): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    const answer = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, op: req.op, sent: performance.now() });
      if (req.op === "predict") {
        const byLane = this.lane?.trySend({ ...req, id, sentAt: epochMs() }) ?? false;
        this.predictWays[byLane ? "lane" : "port"]++;
        if (byLane) return;
      }
      if (this.worker.transfers && transfer.length > 0) {
        try {
          const moving = new Set<ArrayBufferLike>(transfer);
          this.post({ ...(compactViews(req, true, moving) as Request), id, sentAt: epochMs() }, [...transfer]);
          return;
        } catch (err) {
          // A buffer that cannot move (Node's Buffer pool, a WebAssembly memory): copy instead.
          if (!(err instanceof Error && err.name === "DataCloneError")) throw err;
        }
      }
      this.post({ ...(compactViews(req, this.sharesMemory) as Request), id, sentAt: epochMs() });
    });
    // Registered once the request is on its way, so that a caller already gone cancels it at once.
    onCancel?.(() => {
      if (this.pending.has(id)) this.post({ cancel: id });
    });
    return answer;
  }

  terminate(): Promise<unknown> {
    return this.worker.terminate();
  }

  private settle(m: Reply): void {
    const p = this.pending.get(m.id);
    this.pending.delete(m.id);
    if (!p) return;
    const total = (performance.now() - p.sent) / 1000;
    if (!m.ok && m.code === Code.DEADLINE_EXCEEDED) this.observer?.expired(p.op);
    else if (!m.ok && m.code === Code.CANCELLED) this.observer?.cancelled(p.op);
    else this.observer?.call(p.op, Math.max(0, total - m.computeMs / 1000), m.computeMs / 1000);
    if (m.ok) p.resolve(m.result);
    else p.reject(m.code === Code.INTERNAL ? new Error(m.message) : new ModelbayError(m.code as Code, m.message));
  }

  /** Posts to the worker by its channel, and rings the lane's bell for a worker lingering on it. */
  private post(message: Envelope | Cancel, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(message, transfer);
    this.lane?.ring();
  }
}

class WorkerModel implements ComputeModel {
  private disposed = false;
  constructor(
    private readonly worker: DeviceWorker,
    private readonly handle: number,
    readonly description: ModelDescription,
  ) {}

  predict(input: TensorData, wait: PredictWait = {}): Promise<TensorData> {
    const { deadline, onCancel } = wait;
    return this.worker.call(
      {
        op: "predict",
        model: this.handle,
        input,
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
  async createTrainer(x: TensorData, y: TensorData, opts: TrainerOptions): Promise<Trainer> {
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
  } = options;
  setTensorflowDefaults();
  const init: WorkerInit = {
    backend: choice,
    device,
    ...(maxModelBytes !== undefined && Number.isFinite(maxModelBytes) ? { maxModelBytes } : {}),
    ...(predictOrder ? { predictOrder } : {}),
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
