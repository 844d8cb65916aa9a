// The order in which a device worker runs the requests waiting for it: arrival order, except when
// Predicts with deadlines pile up. Then the newest Predict goes first (adaptive LIFO): under
// overload every request otherwise reaches the device just before its caller gives up, and its
// answer is late however fast the device is. Newest first answers the callers still waiting, while
// the oldest ones' deadlines pass and they are dropped unrun.
import type { Envelope, PredictOrder } from "./protocol.js";

/** The device counts as congested once the oldest Predict has waited this share of its deadline. */
const CONGESTED_SHARE = 0.5;

export class RequestQueue {
  private readonly waiting: Envelope[] = [];

  constructor(private readonly order: PredictOrder = "adaptive") {}

  get size(): number {
    return this.waiting.length;
  }

  push(req: Envelope): void {
    this.waiting.push(req);
  }

  /** Takes request `id` out of the queue; undefined if it is not waiting (running or answered). */
  remove(id: number): Envelope | undefined {
    const at = this.waiting.findIndex((req) => req.id === id);
    return at < 0 ? undefined : this.waiting.splice(at, 1)[0];
  }

  /**
   * The next request to run (`now` in epoch milliseconds, as the requests' `sentAt`). Only Predicts
   * ahead of any other request are reordered: they only read a model, so their order among
   * themselves is free, while every other request (a training step, new weights, a state capture)
   * keeps its place relative to all requests around it. A Predict without a deadline is never
   * passed over while it is the oldest, so it cannot starve.
   */
  take(now: number): Envelope | undefined {
    const head = this.waiting[0];
    if (!head || this.order === "arrival" || head.op !== "predict" || head.deadline === undefined) {
      return this.waiting.shift();
    }
    // One whose deadline has passed goes first: it is answered at once, without running.
    const waited = now - head.sentAt;
    if (now >= head.deadline || waited <= CONGESTED_SHARE * (head.deadline - head.sentAt)) return this.waiting.shift();
    let predicts = 1;
    while (predicts < this.waiting.length && this.waiting[predicts]?.op === "predict") predicts++;
    return this.waiting.splice(predicts - 1, 1)[0];
  }
}
