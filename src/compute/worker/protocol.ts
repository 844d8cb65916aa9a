// Messages between the server's event loop and a device worker. Every request carries an id; the
// worker answers each with exactly one reply of the same id.
import type { BackendChoice, BackendInfo } from "../backend-choice.js";
import type { ModelSnapshot } from "../engine.js";
import type { ModelSpec } from "../model-spec.js";
import type { TensorData } from "../tensor-data.js";
import type { TrainerOptions } from "../trainer.js";

export interface WorkerInit {
  backend: BackendChoice;
  /** Device this worker owns, e.g. "cpu:0" or "gpu:1". */
  device: string;
  /** The server's whole memory budget in bytes; absent for none (JSON has no Infinity). */
  maxModelBytes?: number;
  /** How waiting Predicts are ordered (request-queue.ts); absent: "adaptive". */
  predictOrder?: PredictOrder;
  /** Shared memory of the lane that carries small Predicts to a worker thread (shared-lane.ts). */
  lane?: SharedArrayBuffer;
  /** A worker process sets every thread of its own to this nice value at start (thread-priority.ts). */
  processNice?: number;
}

/** "adaptive": newest first when the device is behind the waiting Predicts' deadlines; "arrival": always in arrival order. */
export type PredictOrder = "adaptive" | "arrival";

export type Request =
  | { op: "build"; spec: ModelSpec }
  | { op: "restore"; spec: ModelSpec; snapshot: Pick<ModelSnapshot, "weights" | "optimizer"> }
  | { op: "loadSavedModel"; dir: string }
  // `deadline` (epoch ms): a predict still queued then is dropped, not run; a large one already
  // running stops between slices. So does one with `cancellable` set whose caller cancels.
  | { op: "predict"; model: number; inputs: readonly TensorData[]; deadline?: number; cancellable?: true }
  | { op: "getWeights"; model: number }
  | { op: "setWeights"; model: number; weights: ModelSnapshot["weights"] }
  | { op: "captureState"; model: number }
  // `into`, from a thread, is shared memory the worker fills: the reply is the number of bytes
  // written. Without it (a process) the reply is the bytes.
  | { op: "readCapture"; capture: number; index: number; start: number; count: number; into?: Uint8Array }
  | { op: "releaseCapture"; capture: number }
  | { op: "disposeModel"; model: number }
  | { op: "createTrainer"; model: number; x: readonly TensorData[]; y: readonly TensorData[]; opts: TrainerOptions }
  | { op: "runBatches"; trainer: number; order: Int32Array | null | "same"; firstBatch: number; count: number }
  | { op: "evaluate"; trainer: number; x: readonly TensorData[]; y: readonly TensorData[] }
  | { op: "disposeTrainer"; trainer: number }
  | { op: "memory" };

/** `sentAt`: when the request left the server's thread, in epoch milliseconds (`epochMs()`). */
export type Envelope = Request & { id: number; sentAt: number };

/**
 * The caller of request `cancel` stopped waiting: if it is still queued, the worker drops it and
 * answers it CANCELLED; if it has started or finished, nothing changes. Cancels get no reply.
 */
export type Cancel = { cancel: number };

/** Wakes a worker parked in its event loop to read the shared lane (shared-lane.ts). */
export type Wake = { wake: true };

/** Epoch milliseconds with sub-millisecond precision, comparable between threads and processes. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** Every reply says how long the worker spent on the request, for queue-time metrics. */
export type Reply =
  | { id: number; ok: true; result: unknown; computeMs: number }
  | { id: number; ok: false; code: number; message: string; computeMs: number };

/** The worker's first message: its backend, and the CUDA_VISIBLE_DEVICES its process sees. */
export type Ready =
  | { ready: true; backend: BackendInfo; cudaVisibleDevices: string | null }
  | { ready: false; message: string };
