// Dynamic batching of concurrent small Predicts on one model: requests that arrive while a batch
// is running (or within `maxDelayMs` of each other when the model is idle) are concatenated along
// the batch dimension, predicted in one call, and their rows handed back to each caller. An idle
// model with maxDelayMs 0 answers a lone request at once, so batching costs nothing at low load; a
// busy one serves many callers per model call. Off unless configured.
import { cancelIsDeadline, type PredictWait } from "../compute/engine.js";
import { elementCount, type TensorData } from "../compute/tensor-data.js";
import { callerGone } from "../errors.js";

export interface BatchingOptions {
  /** Most rows in one batch; 0 or 1 turns batching off. */
  maxBatchRows: number;
  /** When the model is idle, how long a request waits for others to join it (0: not at all). */
  maxDelayMs: number;
}

interface Waiting {
  /** One tensor per model input, the same rows in each. */
  inputs: readonly TensorData[];
  rows: number;
  wait: PredictWait;
  resolve(outputs: TensorData[]): void;
  reject(err: unknown): void;
}

/** Why a request was dropped unrun. */
export type DropReason = "expired" | "cancelled";

/** Each model input of the batch: that input of every member, their rows one after another. */
function concatInputs(batch: readonly Waiting[]): TensorData[] {
  const first = batch[0] as Waiting;
  return first.inputs.map((_, i) => concatRows(batch.map((w) => w.inputs[i] as TensorData)));
}

function concatRows(inputs: readonly TensorData[]): TensorData {
  const first = inputs[0] as TensorData;
  const rows = inputs.reduce((n, t) => n + (t.shape[0] ?? 0), 0);
  const total = inputs.reduce((n, t) => n + t.data.length, 0);
  const data = new (first.data.constructor as new (n: number) => TensorData["data"])(total);
  let offset = 0;
  for (const t of inputs) {
    data.set(t.data, offset);
    offset += t.data.length;
  }
  return { dtype: first.dtype, shape: [rows, ...first.shape.slice(1)], data };
}

/** The batch is still wanted until its last member's deadline; a member without one wants it always. */
function latestDeadline(batch: readonly Waiting[]): number | undefined {
  let latest = Number.NEGATIVE_INFINITY;
  for (const w of batch) {
    if (w.wait.deadline === undefined) return undefined;
    latest = Math.max(latest, w.wait.deadline);
  }
  return latest;
}

/** A batch's caller waits as long as any member's does: it cancels once every member has. */
function batchWait(batch: readonly Waiting[]): PredictWait {
  const deadline = latestDeadline(batch);
  if (!batch.every((w) => w.wait.onCancel)) return { deadline };
  let waiting = batch.length;
  const listeners: (() => void)[] = [];
  for (const w of batch) {
    w.wait.onCancel?.(() => {
      waiting--;
      if (waiting === 0) for (const listener of listeners) listener();
    });
  }
  return {
    deadline,
    onCancel: (listener) => (waiting === 0 ? listener() : listeners.push(listener)),
  };
}

function splitRows(output: TensorData, rowCounts: readonly number[]): TensorData[] {
  const stride = elementCount(output.shape.slice(1));
  let row = 0;
  return rowCounts.map((n) => {
    const part = output.data.slice(row * stride, (row + n) * stride);
    row += n;
    return { dtype: output.dtype, shape: [n, ...output.shape.slice(1)], data: part };
  });
}

export class PredictBatcher {
  private queue: Waiting[] = [];
  private queuedRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = 0;

  constructor(
    private readonly predict: (inputs: readonly TensorData[], wait: PredictWait) => Promise<TensorData[]>,
    private readonly options: BatchingOptions,
    /** Called for each request dropped unrun because its caller stopped waiting before its turn. */
    private readonly onDropped: (reason: DropReason) => void = () => undefined,
  ) {}

  /**
   * Predicts `inputs` (already checked against the model), batched with concurrent requests. A
   * request still waiting here when its caller's `wait` ends is answered DEADLINE_EXCEEDED or
   * CANCELLED and not run.
   */
  submit(inputs: readonly TensorData[], wait: PredictWait = {}): Promise<TensorData[]> {
    const rows = inputs[0]?.shape[0] ?? 0;
    if (rows >= this.options.maxBatchRows) return this.predict(inputs, wait);
    return new Promise<TensorData[]>((resolve, reject) => {
      const waiting: Waiting = { inputs, rows, wait, resolve, reject };
      this.queue.push(waiting);
      this.queuedRows += rows;
      wait.onCancel?.(() => this.dropCancelled(waiting));
      // While a batch runs, requests gather and go when it ends (or when they fill a batch).
      if (this.queuedRows >= this.options.maxBatchRows) this.flush();
      else if (this.running > 0) return;
      else if (this.options.maxDelayMs <= 0) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.maxDelayMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.dropExpired();
    // Take whole requests up to the row limit; the rest wait for the next batch.
    const batch: Waiting[] = [];
    let rows = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0] as Waiting;
      const n = next.rows;
      if (batch.length > 0 && rows + n > this.options.maxBatchRows) break;
      batch.push(this.queue.shift() as Waiting);
      rows += n;
    }
    this.queuedRows -= rows;
    if (batch.length === 0) return;
    const counts = batch.map((w) => w.rows);
    this.running++;
    const inputs = batch.length === 1 ? (batch[0] as Waiting).inputs : concatInputs(batch);
    this.predict(inputs, batchWait(batch))
      .then(
        (outputs) => {
          if (batch.length === 1) return (batch[0] as Waiting).resolve(outputs);
          const parts = outputs.map((output) => splitRows(output, counts));
          for (const [i, w] of batch.entries()) w.resolve(parts.map((part) => part[i] as TensorData));
        },
        (err: unknown) => {
          for (const w of batch) w.reject(err);
        },
      )
      .finally(() => {
        this.running--;
        // What gathered meanwhile goes next.
        if (this.queue.length > 0 && this.running === 0) this.flush();
      });
  }

  /** A request whose caller cancelled is answered at once if it still waits here. */
  private dropCancelled(w: Waiting): void {
    const at = this.queue.indexOf(w);
    if (at < 0) return;
    this.queue.splice(at, 1);
    this.queuedRows -= w.rows;
    this.reject(w, cancelIsDeadline(w.wait.deadline) ? "expired" : "cancelled");
  }

  private reject(w: Waiting, reason: DropReason): void {
    this.onDropped(reason);
    w.reject(callerGone(reason === "expired", " while the request waited for a batch; it was not run"));
  }

  /** Answers the requests whose deadlines passed before their turn came. */
  private dropExpired(): void {
    const now = Date.now();
    const expired = (w: Waiting) => w.wait.deadline !== undefined && w.wait.deadline <= now;
    if (!this.queue.some(expired)) return;
    const live: Waiting[] = [];
    for (const w of this.queue) {
      if (!expired(w)) {
        live.push(w);
        continue;
      }
      this.queuedRows -= w.rows;
      this.reject(w, "expired");
    }
    this.queue = live;
  }
}
