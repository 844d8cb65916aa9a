// What crosses to a device worker: a view into a larger buffer goes as a copy of its own bytes, and
// that copy moves to a worker thread (transferred) instead of being cloned once more. The caller's
// memory is never moved: a Predict refused by a dead worker is sent again from the same input.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Worker } from "node:worker_threads";
import { specFromWire } from "../src/api/spec-codec.js";
import { tensorFromWire } from "../src/api/tensor-codec.js";
import { parseBackendChoice } from "../src/compute/backend-choice.js";
import { predictOne } from "../src/compute/engine.js";
import { compactViews } from "../src/compute/worker/worker-client.js";
import { createWorkerEngine, type WorkerEngine } from "../src/compute/worker-engine.js";
import { denseSpec } from "./helpers/specs.js";
import { firstMismatch, floatTensor, seededFloats } from "./helpers/tensors.js";

let engine: WorkerEngine;
before(async () => {
  engine = await createWorkerEngine(parseBackendChoice(process.env.MODELBAY_BACKEND));
});
after(() => engine.close());

test("views are copied out with their own bytes; whole buffers and shared memory a thread sees cross as they are", () => {
  const pool = Buffer.from(seededFloats(64, 1).buffer);
  const part = pool.subarray(8, 40); // a Buffer: its `slice` would share the pool's memory
  const floats = new Float32Array(pool.buffer, pool.byteOffset + 64, 8);
  const whole = new Int32Array(4);
  const shared = new Float32Array(new SharedArrayBuffer(16));
  const copies: ArrayBuffer[] = [];
  const out = compactViews({ part, nested: [floats, whole], shared }, true, new Set(), copies) as {
    part: Uint8Array;
    nested: [Float32Array, Int32Array];
    shared: Float32Array;
  };
  assert.ok(Buffer.from(out.part.buffer, out.part.byteOffset, out.part.byteLength).equals(part));
  assert.equal(out.part.buffer.byteLength, 32, "the Buffer's bytes were not copied out");
  assert.ok(out.nested[0] instanceof Float32Array);
  assert.deepEqual([...out.nested[0]], [...floats]);
  assert.equal(out.nested[0].buffer.byteLength, 32);
  assert.equal(out.nested[1], whole);
  assert.equal(out.shared, shared);
  assert.deepEqual(copies, [out.part.buffer, out.nested[0].buffer]);
  // For a process, shared memory is copied too.
  const forProcess: ArrayBuffer[] = [];
  assert.notEqual((compactViews({ shared }, false, new Set(), forProcess) as { shared: Float32Array }).shared, shared);
  assert.equal(forProcess.length, 1);
});

test("a Predict of rows inside a larger buffer moves their copy to the thread and leaves the caller's buffer as it was", async () => {
  const model = await engine.buildModel(specFromWire(denseSpec(3)));
  try {
    const rows = 1000;
    const values = seededFloats(rows * 10, 4);
    const buffer = new ArrayBuffer(values.byteLength + 128);
    const view = new Float32Array(buffer, 64, rows * 10);
    view.set(values);
    const transfers: (readonly unknown[] | undefined)[] = [];
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, message: unknown, transfer?: readonly unknown[]) {
      if ((message as { op?: string }).op === "predict") transfers.push(transfer);
      return post.call(this, message, transfer as never);
    };
    let fromView: Float32Array;
    try {
      fromView = (await predictOne(model, { dtype: "float32", shape: [rows, 10], data: view })).data as Float32Array;
    } finally {
      Worker.prototype.postMessage = post;
    }
    const moved = transfers[0] as ArrayBuffer[] | undefined;
    assert.equal(transfers.length, 1, "the Predict went by the worker's port");
    assert.equal(moved?.length, 1, "the rows' copy was cloned, not moved");
    assert.equal(moved?.[0]?.byteLength, 0, "the moved copy is detached here");
    assert.equal(buffer.byteLength, values.byteLength + 128, "the caller's buffer was moved");
    assert.deepEqual(view, values);
    const fromCopy = (await predictOne(model, { dtype: "float32", shape: [rows, 10], data: values.slice() })).data;
    assert.equal(firstMismatch(fromView, fromCopy as Float32Array, 0, 0), undefined);
  } finally {
    model.dispose();
  }
});

test("rows in shared memory (a large request's) stay in shared memory when they must be copied to be aligned", () => {
  const values = seededFloats(6, 2);
  for (const shared of [true, false]) {
    const memory = Buffer.from(shared ? new SharedArrayBuffer(25) : new ArrayBuffer(25));
    const unaligned = memory.subarray(1);
    unaligned.set(new Uint8Array(values.buffer));
    const wire = { ...floatTensor(values, [2, 3], true), rawContents: unaligned };
    const { data } = tensorFromWire(wire, "inputs[0]", { maxTensorBytes: 1 << 20 });
    assert.deepEqual([...data], [...values]);
    assert.equal(data.buffer instanceof SharedArrayBuffer, shared);
    // Aligned bytes are viewed where they are, in either kind of memory.
    const aligned = { ...wire, rawContents: memory.subarray(0, 24) };
    memory.set(new Uint8Array(values.buffer));
    assert.equal(tensorFromWire(aligned, "inputs[0]", { maxTensorBytes: 1 << 20 }).data.buffer, memory.buffer);
  }
});
