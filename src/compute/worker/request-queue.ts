// The order in which a device worker runs the requests waiting for it: arrival order, except when
// the device has fallen clearly behind the deadlines of the Predicts waiting for it. Then the newest
// Predict goes first (adaptive LIFO): under overload every request otherwise reaches the device
// just before its caller gives up, and its answer is late however fast the device is. Newest first
// answers the callers still waiting, while the oldest ones' deadlines pass and they are dropped
// unrun. Behind means: served in arrival order at its models' recent paces, the newest waiting
// Predict would be answered more than an eighth of its deadline after that deadline. Arrival order
// answers the newest last; while even it would be about in time, newest first would only answer
// it sooner at the oldest's expense. A device at its capacity hovers around that line, and there a
// rule that turned to newest first whenever any waiting Predict looked late left the oldest to
// expire (4-5x the calls given up of this rule near capacity in bench/deadline-overload.ts); the
// eighth keeps arrival order through the pace's noise. The pace is kept per model (a device may
// serve a 1 ms model beside a 100 ms one); a model not yet measured counts at the device's pace
// over all models.
import type { Envelope, PredictOrder } from "./protocol.js";

/**
 * How late, as a share of its deadline, arrival order may answer the newest waiting Predict (at
 * the models' paces) before the device turns to newest first.
 */
const LATE_SHARE = 0.125;
/** Weight of the newest sample in the device's pace (an exponential moving average). */
const PACE_WEIGHT = 0.1;

export class RequestQueue {
  private readonly waiting: Envelope[] = [];
  /** Each model's recent time per Predict while others waited, in ms (NaN after its first turn). */
  private readonly paces = new Map<number, number>();
  /** The same over every model's Predicts (0 until measured): for a model not yet measured. */
  private devicePaceMs = 0;
  /** When the last Predict was taken with others waiting behind it (NaN otherwise), and its model. */
  private busySince = Number.NaN;
  private busyModel = 0;

  constructor(private readonly order: PredictOrder = "adaptive") {}

  get size(): number {
    return this.waiting.length;
  }

  /** The recent time per Predict of `model` while others waited, in ms (the device's until measured). */
  paceOf(model: number): number {
    const pace = this.paces.get(model);
    return pace === undefined || Number.isNaN(pace) ? this.devicePaceMs : pace;
  }

  push(req: Envelope): void {
    this.waiting.push(req);
  }

  /** Takes request `id` out of the queue; undefined if it is not waiting (running or answered). */
  remove(id: number): Envelope | undefined {
    const at = this.waiting.findIndex((req) => req.id === id);
    if (at < 0) return undefined;
    const [removed] = this.waiting.splice(at, 1);
    // Nothing waits behind the running Predict any more: the next take may come after an idle gap.
    if (this.waiting.length === 0) this.busySince = Number.NaN;
    return removed;
  }

  /**
   * The next request to run (`now` in epoch milliseconds, as the requests' `sentAt`). Only Predicts
   * ahead of any other request are reordered: they only read a model, so their order among
   * themselves is free, while every other request (a training step, new weights, a state capture)
   * keeps its place relative to all requests around it. A Predict without a deadline is never
   * passed over while it is the oldest, so it cannot starve.
   */
  take(now: number): Envelope | undefined {
    const next = this.choose(now);
    this.notePace(next, now);
    return next;
  }

  private choose(now: number): Envelope | undefined {
    const head = this.waiting[0];
    if (!head || this.order === "arrival" || head.op !== "predict" || head.deadline === undefined) {
      return this.waiting.shift();
    }
    // One whose deadline has passed goes first: it is answered at once, without running.
    if (now >= head.deadline) return this.waiting.shift();
    let predicts = 0;
    let finish = now;
    let behind = false;
    for (; predicts < this.waiting.length; predicts++) {
      const req = this.waiting[predicts] as Envelope;
      if (req.op !== "predict") break;
      finish += this.paceOf(req.model);
      // Arrival order answers the newest last: whether it would be in time decides.
      if (req.deadline !== undefined) behind = finish > req.deadline + LATE_SHARE * (req.deadline - req.sentAt);
    }
    return behind ? this.waiting.splice(predicts - 1, 1)[0] : this.waiting.shift();
  }

  /**
   * The pace: the time from taking one Predict to taking the next while requests waited, which is
   * what the device spends per Predict when it is busy (its compute, answers, and the cores it
   * shares). Only a Predict's turn counts; a training step in between says nothing about them.
   */
  private notePace(next: Envelope | undefined, now: number): void {
    if (!Number.isNaN(this.busySince) && next) {
      const sample = now - this.busySince;
      const pace = this.paces.get(this.busyModel);
      if (pace === undefined) {
        // A model's first turn may be a cold one (its graph built, its weights uploaded on first
        // use: tens of ms for a model that then takes 1): it only marks the model as seen (NaN).
        this.paces.set(this.busyModel, Number.NaN);
      } else {
        this.paces.set(this.busyModel, Number.isNaN(pace) ? sample : movingAverage(pace, sample));
        this.devicePaceMs = movingAverage(this.devicePaceMs, sample);
      }
    }
    // A model gone takes its pace along (ids are not reused).
    if (next?.op === "disposeModel") this.paces.delete(next.model);
    // A Predict whose deadline has passed is answered without running: its turn is no sample.
    const runs = next?.op === "predict" && (next.deadline === undefined || now < next.deadline);
    this.busySince = runs && this.waiting.length > 0 ? now : Number.NaN;
    if (runs) this.busyModel = next.model;
  }
}

/** `average` moved toward `sample` (0: nothing measured yet, the sample is taken as it is). */
function movingAverage(average: number, sample: number): number {
  return average === 0 ? sample : (1 - PACE_WEIGHT) * average + PACE_WEIGHT * sample;
}
