// The order in which a device worker runs the requests waiting for it. In arrival order, except
// when Predicts pile up: then the newest Predict goes first (adaptive LIFO). Under overload every
// request otherwise reaches the device just before its caller gives up, and its answer is late
// however fast the device is; newest first answers the callers still waiting, while the oldest
// ones' deadlines pass and they are dropped unrun.
import type { Envelope, PredictOrder } from "./protocol.js";

/** Predicts waiting longer than this at the head of the queue mean the device is congested. */
export const CONGESTED_AFTER_MS = 10;
/** A Predict without a deadline is not passed over for longer than this. */
export const MAX_PASSED_OVER_MS = 1000;

export class RequestQueue {
  private readonly waiting: Envelope[] = [];

  constructor(private readonly order: PredictOrder = "adaptive") {}

  get length(): number {
    return this.waiting.length;
  }

  push(req: Envelope): void {
    this.waiting.push(req);
  }

  /**
   * The next request to run. Only Predicts ahead of any other request are reordered: they only read
   * a model, so their order among themselves is free, while every other request (a training step,
   * new weights, a state capture) keeps its place relative to all requests around it.
   */
  /** `now` in epoch milliseconds, as the requests' `sentAt`. */
  take(now: number): Envelope | undefined {
    const head = this.waiting[0];
    if (!head || this.order === "arrival") return this.waiting.shift();
    let predicts = 0;
    while (predicts < this.waiting.length && this.waiting[predicts]?.op === "predict") predicts++;
    const waited = now - head.sentAt;
    const headMayWait = head.op === "predict" && (head.deadline !== undefined || waited <= MAX_PASSED_OVER_MS);
    const index = predicts > 1 && waited > CONGESTED_AFTER_MS && headMayWait ? predicts - 1 : 0;
    return this.waiting.splice(index, 1)[0];
  }
}
