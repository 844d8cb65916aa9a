// A checkpoint's tensors leave the device in slices, each read freed at once (releaseHostCopy): what
// is freed must only ever be a copy the reader owns, never values a model still holds.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import type { ComputeEngine, ComputeModel, StateCapture } from "../src/compute/engine.js";
import { createInProcessEngine } from "../src/compute/in-process-engine.js";
import type { ModelSpec } from "../src/compute/model-spec.js";
import { releaseHostCopy } from "../src/compute/tensor-conversion.js";
import { BYTES_PER_ELEMENT, elementCount } from "../src/compute/tensor-data.js";
import { seededFloats } from "./helpers/tensors.js";

let engine: ComputeEngine;
before(async () => {
  engine = await createInProcessEngine("auto");
});

const spec: ModelSpec = {
  topology: {
    kind: "sequential",
    inputShape: [10],
    layers: [
      { kind: "dense", units: 300, activation: "relu", useBias: true },
      { kind: "dense", units: 1, activation: "linear", useBias: true },
    ],
  },
  blocks: [],
  compile: { optimizer: { kind: "adam" }, loss: "mean_squared_error", metrics: [] },
  inputName: "input",
  outputName: "output",
  preprocessing: "",
  seed: 3,
};

test("a released copy is freed; views it does not own whole and shared memory are left alone", () => {
  const owned = new Float32Array(1024);
  releaseHostCopy(owned);
  assert.equal(owned.buffer.byteLength, 0, "the owned buffer is detached (freed)");

  const whole = new Float32Array(1024).fill(7);
  const part = whole.subarray(8);
  releaseHostCopy(part);
  assert.equal(whole.buffer.byteLength, 4096);
  assert.equal(whole[100], 7);

  const shared = new Float32Array(new SharedArrayBuffer(4096)).fill(5);
  releaseHostCopy(shared);
  assert.equal(shared.buffer.byteLength, 4096);
  assert.equal(shared[3], 5);
});

/** Every tensor of the capture read in slices of `slice` elements into one reused buffer. */
async function readAll(capture: StateCapture, slice: number): Promise<Uint8Array[]> {
  const into = new Uint8Array(new SharedArrayBuffer(slice * 4));
  const out: Uint8Array[] = [];
  for (const [index, t] of capture.tensors.entries()) {
    const count = elementCount(t.shape);
    const whole = new Uint8Array(count * BYTES_PER_ELEMENT[t.dtype]);
    for (let start = 0; start < count; start += slice) {
      const got = await capture.read(index, start, Math.min(slice, count - start), into);
      whole.set(got, start * BYTES_PER_ELEMENT[t.dtype]);
    }
    out.push(whole);
  }
  return out;
}

test("slices of a captured state read back the model's values, twice, also right after a restore", async () => {
  const model: ComputeModel = await engine.buildModel(spec);
  let restored: ComputeModel | undefined;
  try {
    const weights = await model.getWeights();
    // Values made in JavaScript: TensorFlow.js holds these very arrays until the model first runs,
    // so a read of a whole tensor (a slice covering it) must not free them.
    const given = weights.map((w, i) => ({
      name: w.name,
      tensor: { ...w.tensor, data: seededFloats(elementCount(w.tensor.shape), 100 + i) },
    }));
    restored = await engine.restoreModel(spec, { weights: given, optimizer: [] });
    for (const m of [model, restored]) {
      const expected = (m === model ? weights : given).map((w) => new Uint8Array(w.tensor.data.buffer.slice(0)));
      for (const slice of [1000, 1 << 20]) {
        const capture = await m.captureState();
        try {
          const first = await readAll(capture, slice);
          const second = await readAll(capture, slice);
          for (const [i, bytes] of expected.entries()) {
            assert.deepEqual(first[i], bytes, `tensor ${i}, slices of ${slice}`);
            assert.deepEqual(second[i], bytes, `tensor ${i} read again, slices of ${slice}`);
          }
        } finally {
          capture.release();
        }
      }
      // The model still predicts from intact weights after all those reads.
      const out = await m.predict({ dtype: "float32", shape: [2, 10], data: seededFloats(20, 9) });
      assert.ok(Array.from(out.data).every(Number.isFinite));
    }
    for (const [i, w] of (await restored.getWeights()).entries()) {
      assert.deepEqual(w.tensor.data, given[i]?.tensor.data, `restored weight ${i} unchanged`);
    }
  } finally {
    model.dispose();
    restored?.dispose();
  }
});
