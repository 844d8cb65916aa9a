// The server's end of one device worker: starts it (a thread, or a process for a GPU), sends it
// requests (small Predicts through the shared lane, everything else by its port) and settles each
// request's promise with its reply. If the worker dies, every request waiting on it fails
// UNAVAILABLE.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Code, ModelbayError } from "../../errors.js";
import { moduleThread } from "../../threads.js";
import type { BackendInfo } from "../backend-choice.js";
import type { PredictWait } from "../engine.js";
import { IdTable } from "./id-table.js";
import {
  type Cancel,
  type Envelope,
  epochMs,
  type Ready,
  type Reply,
  type Request,
  type Wake,
  type WorkerInit,
} from "./protocol.js";
import { createLaneMemory, LaneClient } from "./shared-lane.js";

/**
 * postMessage clones a typed array's whole underlying buffer, so views into larger buffers (a slice
 * of a request's rows, rows held out for validation, a Predict's rows inside its gRPC message) are
 * copied out before a request crosses: only their own bytes go to the worker. Shared memory crosses
 * to a thread as it is (both see the same bytes), but a process cannot share it, so its bytes are
 * copied for one. Applied to every request, so no operation can forget it. Each copy made here is
 * pushed to `copies`: nothing else holds it, so it can move to a thread rather than be cloned again
 * (a 32 MB Predict's rows were copied twice on the RPC thread, and once more in the worker).
 * Exported for its tests.
 */
export function compactViews(
  value: unknown,
  sharesMemory: boolean,
  moving: ReadonlySet<ArrayBufferLike> = new Set(),
  copies: ArrayBuffer[] = [],
): unknown {
  if (ArrayBuffer.isView(value)) {
    const view = value as Float32Array | Int32Array | Uint8Array;
    // A view into a buffer that moves to the worker (transfer) crosses as it is, without a copy.
    const whole = view.byteLength === view.buffer.byteLength || moving.has(view.buffer);
    if (view.buffer instanceof SharedArrayBuffer ? sharesMemory : whole) return view;
    const copy = ownCopy(view);
    copies.push(copy.buffer as ArrayBuffer);
    return copy;
  }
  if (Array.isArray(value)) return value.map((v) => compactViews(v, sharesMemory, moving, copies));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, compactViews(v, sharesMemory, moving, copies)]),
    );
  }
  return value;
}

/** `view`'s bytes in a buffer of their own, as the same kind of view (a Buffer's `slice` would share them). */
function ownCopy<V extends ArrayBufferView>(view: V): V {
  const bytes = new Uint8Array(view.byteLength);
  bytes.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  if (Buffer.isBuffer(view)) return bytes as unknown as V;
  return new (view.constructor as new (buffer: ArrayBuffer) => V)(bytes.buffer);
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
  const url = new URL(`./device-worker${fromSource ? ".ts" : ".js"}`, import.meta.url);
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
  const worker = moduleThread(url, { workerData: init, env: workerEnv });
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
export class DeviceWorker {
  private readonly worker: WorkerHandle;
  cudaVisibleDevices: string | null = null;
  private readonly pending = new IdTable<Pending>();
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
          const copies: ArrayBuffer[] = [];
          const compact = compactViews(req, true, moving, copies) as Request;
          this.post({ ...compact, id, sentAt: epochMs() }, [...transfer, ...copies]);
          return;
        } catch (err) {
          // A buffer that cannot move (Node's Buffer pool, a WebAssembly memory): copy instead.
          if (!(err instanceof Error && err.name === "DataCloneError")) throw err;
        }
      }
      const copies: ArrayBuffer[] = [];
      const compact = compactViews(req, this.sharesMemory, undefined, copies) as Request;
      this.post({ ...compact, id, sentAt: epochMs() }, this.worker.transfers ? copies : undefined);
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
    const p = this.pending.take(m.id);
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
