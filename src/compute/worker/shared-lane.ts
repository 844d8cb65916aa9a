// A lane of shared memory between the server's thread and a device worker thread, for small
// Predicts. A MessagePort round trip costs ~20 us of CPU over the two threads (a structured clone
// each way, the port's locked queue, a libuv wake-up on each side) and 100-170 us of latency when
// the threads were idle; a request in a slot of shared memory with a futex wake-up costs ~2-3 us
// and ~65 us (probes of the fourteenth session; `bench/compute-hop.ts` compares the two ways).
//
// The server writes a request into a free slot and publishes the slot's number in a ring; the
// worker writes the reply into the same slot and publishes it in a second ring. A slot belongs to
// its request until the server has read the reply, so neither ring can hold more entries than
// there are slots. Requests that do not fit a slot, and every other operation, go by the port.
import { type DType, type TensorData, tensorBytes, typedView } from "../tensor-data.js";
import { IdTable } from "./id-table.js";
import type { Envelope, Reply } from "./protocol.js";

// Words of the control block: the first three only ever grow.
/** Bumped by the server for every message it sends the worker, by the lane or by the port. */
const BELL = 0;
/** Requests published in the request ring. */
const REQUESTS = 1;
/** Replies published in the reply ring. */
const REPLIES = 2;
/** 1 while the worker waits in its event loop rather than on BELL: a lane request must wake it. */
const PARKED = 3;

const CONTROL_BYTES = 64;
const SLOTS = 64;
const SLOT_BYTES = 16 * 1024;
/** Header of a slot: 16 float64 fields; the tensor's bytes follow on a 64-byte boundary. */
const HEADER_FIELDS = 16;
const HEADER_BYTES = HEADER_FIELDS * 8;
const MAX_RANK = 8;
const RINGS_BYTES = 2 * SLOTS * 4;
const SLOTS_OFFSET = 1024;

// Header fields. A request: id, model, deadline (NaN for none), sentAt, cancellable. A reply: id,
// ok, code, computeMs. Then both: dtype, rank, dims[MAX_RANK], byte length of the data that
// follows (a tensor, or an error's message in UTF-8).
const ID = 0;
const MODEL = 1;
const OK = 1;
const DEADLINE = 2;
const CODE = 2;
const SENT_AT = 3;
const COMPUTE_MS = 3;
const CANCELLABLE = 4;
const DTYPE = 5;
const RANK = 6;
const DIMS = 7;
const DATA_BYTES = DIMS + MAX_RANK;

const DTYPES: readonly DType[] = ["float32", "int32", "bool"];

/** The largest tensor, in bytes, a slot carries. */
const LANE_MAX_DATA_BYTES = SLOT_BYTES - HEADER_BYTES;

export function createLaneMemory(): SharedArrayBuffer {
  if (CONTROL_BYTES + RINGS_BYTES > SLOTS_OFFSET) throw new Error("lane layout overlaps");
  const memory = new SharedArrayBuffer(SLOTS_OFFSET + SLOTS * SLOT_BYTES);
  // The worker starts in its event loop: the first lane request must wake it.
  new Int32Array(memory, 0, CONTROL_BYTES / 4)[PARKED] = 1;
  return memory;
}

/** The views both sides read the shared memory through. */
class LaneViews {
  readonly control: Int32Array;
  readonly requestRing: Int32Array;
  readonly replyRing: Int32Array;
  private readonly headers: Float64Array[] = [];
  private readonly bodies: Uint8Array[] = [];

  constructor(readonly memory: SharedArrayBuffer) {
    this.control = new Int32Array(memory, 0, CONTROL_BYTES / 4);
    this.requestRing = new Int32Array(memory, CONTROL_BYTES, SLOTS);
    this.replyRing = new Int32Array(memory, CONTROL_BYTES + SLOTS * 4, SLOTS);
    for (let s = 0; s < SLOTS; s++) {
      const at = SLOTS_OFFSET + s * SLOT_BYTES;
      this.headers.push(new Float64Array(memory, at, HEADER_FIELDS));
      this.bodies.push(new Uint8Array(memory, at + HEADER_BYTES, LANE_MAX_DATA_BYTES));
    }
  }

  header(slot: number): Float64Array {
    return this.headers[slot] as Float64Array;
  }

  /** Writes a tensor's dtype, shape and bytes into a slot; false if it does not fit. */
  writeTensor(slot: number, t: TensorData): boolean {
    const bytes = tensorBytes(t);
    if (t.shape.length > MAX_RANK || bytes.byteLength > LANE_MAX_DATA_BYTES) return false;
    const h = this.header(slot);
    h[DTYPE] = DTYPES.indexOf(t.dtype);
    h[RANK] = t.shape.length;
    t.shape.forEach((d, i) => {
      h[DIMS + i] = d;
    });
    h[DATA_BYTES] = bytes.byteLength;
    (this.bodies[slot] as Uint8Array).set(bytes);
    return true;
  }

  /** A copy of the tensor in a slot: the slot is reused once its request is answered. */
  readTensor(slot: number): TensorData {
    const h = this.header(slot);
    const dtype = DTYPES[h[DTYPE] as number] as DType;
    const shape = Array.from(h.subarray(DIMS, DIMS + (h[RANK] as number)));
    const bytes = (this.bodies[slot] as Uint8Array).slice(0, h[DATA_BYTES]);
    return { dtype, shape, data: typedView(dtype, bytes) };
  }

  writeText(slot: number, text: string): boolean {
    const body = this.bodies[slot] as Uint8Array;
    const { read, written } = new TextEncoder().encodeInto(text, body);
    if (read < text.length) return false;
    this.header(slot)[DATA_BYTES] = written;
    return true;
  }

  readText(slot: number): string {
    return new TextDecoder().decode((this.bodies[slot] as Uint8Array).subarray(0, this.header(slot)[DATA_BYTES]));
  }
}

/** A Predict the lane can carry. */
export interface LanePredict {
  id: number;
  model: number;
  inputs: readonly TensorData[];
  deadline?: number | undefined;
  cancellable?: true | undefined;
  sentAt: number;
}

/** The server's end: sends Predicts through free slots and hands their replies to `onReply`. */
export class LaneClient {
  private readonly views: LaneViews;
  private readonly free: number[] = [];
  /** Slot of each request in flight by id (its reply may come by the port if it did not fit). */
  private readonly slotOf = new IdTable<number>();
  private published = 0;
  private repliesRead = 0;
  private collecting = false;
  private closed = false;

  constructor(
    memory: SharedArrayBuffer,
    /** Wakes a worker parked in its event loop (a message by the port). */
    private readonly wake: () => void,
    private readonly onReply: (reply: Reply) => void,
  ) {
    this.views = new LaneViews(memory);
    for (let s = SLOTS - 1; s >= 0; s--) this.free.push(s);
  }

  /** Sends a Predict through the lane; false if it cannot go this way (no free slot, too large). */
  trySend(req: LanePredict): boolean {
    // A slot holds one tensor: a model of several inputs goes by the port.
    const input = req.inputs.length === 1 ? req.inputs[0] : undefined;
    const slot = this.closed || !input ? undefined : this.free.pop();
    if (slot === undefined || !input) return false;
    if (!this.views.writeTensor(slot, input)) {
      this.free.push(slot);
      return false;
    }
    const h = this.views.header(slot);
    h[ID] = req.id;
    h[MODEL] = req.model;
    h[DEADLINE] = req.deadline ?? Number.NaN;
    h[SENT_AT] = req.sentAt;
    h[CANCELLABLE] = req.cancellable ? 1 : 0;
    this.slotOf.set(req.id, slot);
    this.views.requestRing[this.published % SLOTS] = slot;
    this.published++;
    Atomics.store(this.views.control, REQUESTS, this.published);
    this.ring();
    void this.collectReplies();
    return true;
  }

  /**
   * Tells the worker a message was sent (call it after every postMessage too): a worker lingering
   * on the bell reads its port when it rings, and one parked in its event loop is woken.
   */
  ring(): void {
    const { control } = this.views;
    Atomics.add(control, BELL, 1);
    Atomics.notify(control, BELL);
    // The worker sets PARKED before it checks the bell one last time, so either it sees this ring
    // or this sees it parked (both is a spare wake-up, which costs nothing).
    if (Atomics.load(control, PARKED) === 1) this.wake();
  }

  /** A reply of request `id` came by the port (it did not fit its slot): the slot is free again. */
  answeredByPort(id: number): void {
    const slot = this.slotOf.take(id);
    if (slot !== undefined) this.free.push(slot);
  }

  /** The worker is gone: no reply will come, and the pending requests are failed by the caller. */
  close(): void {
    this.closed = true;
    Atomics.notify(this.views.control, REPLIES);
  }

  private async collectReplies(): Promise<void> {
    if (this.collecting) return;
    this.collecting = true;
    const { control, replyRing } = this.views;
    while (this.slotOf.size > 0 && !this.closed) {
      const waited = Atomics.waitAsync(control, REPLIES, this.repliesRead);
      if (waited.async) await waited.value;
      const published = Atomics.load(control, REPLIES);
      for (; this.repliesRead < published; this.repliesRead++) {
        const slot = replyRing[this.repliesRead % SLOTS] as number;
        const reply = this.readReply(slot);
        this.slotOf.take(reply.id);
        this.free.push(slot);
        this.onReply(reply);
      }
    }
    this.collecting = false;
  }

  private readReply(slot: number): Reply {
    const h = this.views.header(slot);
    const id = h[ID] as number;
    const computeMs = h[COMPUTE_MS] as number;
    if (h[OK] === 1) return { id, ok: true, result: [this.views.readTensor(slot)], computeMs };
    return { id, ok: false, code: h[CODE] as number, message: this.views.readText(slot), computeMs };
  }
}

/** How long an idle worker waits on the bell before it parks in its event loop. */
const LINGER_MS = 200;
/** While lingering, the worker's event loop gets a turn this often (timers, port messages). */
const LINGER_SLICE_MS = 5;

/** The worker's end: takes Predicts out of the lane and answers them in their slots. */
export class LaneServer {
  private readonly views: LaneViews;
  private taken = 0;
  private answered = 0;
  private bellSeen = 0;
  /** When the worker's event loop last had a turn while it lingered. */
  private lastTurn = performance.now();
  private readonly slotOf = new IdTable<number>();

  constructor(memory: SharedArrayBuffer) {
    this.views = new LaneViews(memory);
  }

  /** Notes the bell before the worker reads its port and the lane, so a later ring is not missed. */
  noteBell(): void {
    this.bellSeen = Atomics.load(this.views.control, BELL);
  }

  /** The Predicts published since the last call, as envelopes (their inputs copied out). */
  take(): Envelope[] {
    const { control, requestRing } = this.views;
    const published = Atomics.load(control, REQUESTS);
    const taken: Envelope[] = [];
    for (; this.taken < published; this.taken++) {
      const slot = requestRing[this.taken % SLOTS] as number;
      const h = this.views.header(slot);
      const id = h[ID] as number;
      const deadline = h[DEADLINE] as number;
      this.slotOf.set(id, slot);
      taken.push({
        op: "predict",
        id,
        model: h[MODEL] as number,
        inputs: [this.views.readTensor(slot)],
        sentAt: h[SENT_AT] as number,
        ...(Number.isNaN(deadline) ? {} : { deadline }),
        ...(h[CANCELLABLE] === 1 ? { cancellable: true as const } : {}),
      });
    }
    return taken;
  }

  /**
   * Answers a request that came by the lane in its slot. False if it came by the port, or if its
   * reply does not fit the slot: then it goes by the port (which frees the slot on the server).
   */
  answer(reply: Reply): boolean {
    const slot = this.slotOf.take(reply.id);
    if (slot === undefined) return false;
    const h = this.views.header(slot);
    // Only Predicts come by the lane, and a Predict's result is a list of tensors: one fits a slot.
    const outputs = reply.ok ? (reply.result as TensorData[]) : [];
    const fits = reply.ok
      ? outputs.length === 1 && this.views.writeTensor(slot, outputs[0] as TensorData)
      : this.views.writeText(slot, reply.message);
    if (!fits) return false;
    h[ID] = reply.id;
    h[OK] = reply.ok ? 1 : 0;
    h[CODE] = reply.ok ? 0 : reply.code;
    h[COMPUTE_MS] = reply.computeMs;
    const { control, replyRing } = this.views;
    replyRing[this.answered % SLOTS] = slot;
    this.answered++;
    Atomics.store(control, REPLIES, this.answered);
    Atomics.notify(control, REPLIES);
    return true;
  }

  /**
   * Waits, with the thread blocked, for the bell to ring, so that the next request wakes this
   * thread through a futex rather than through its event loop. Every few milliseconds the event
   * loop gets a turn (for timers, and for messages `hasWork` then reports). After LINGER_MS with
   * no work the worker parks: false, and its port wakes it again.
   */
  async linger(hasWork: () => boolean): Promise<boolean> {
    const { control } = this.views;
    const until = performance.now() + LINGER_MS;
    for (;;) {
      // Requests that keep coming would otherwise keep the event loop from ever running.
      if (performance.now() - this.lastTurn >= LINGER_SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        this.lastTurn = performance.now();
        if (hasWork()) return true;
      }
      if (Atomics.wait(control, BELL, this.bellSeen, LINGER_SLICE_MS) !== "timed-out") return true;
      if (performance.now() < until) continue;
      Atomics.store(control, PARKED, 1);
      if (Atomics.load(control, BELL) === this.bellSeen) return false;
      Atomics.store(control, PARKED, 0);
      return true;
    }
  }

  /** The worker is running again: lane requests need no wake-up message. */
  unpark(): void {
    Atomics.store(this.views.control, PARKED, 0);
  }
}
