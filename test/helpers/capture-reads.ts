// The check both capture-read tests run: every tensor of a captured state, read in slices into
// reused shared memory, gives back the model's values (twice, and right after a restore from values
// made in JavaScript), and the model still predicts afterwards.
import assert from "node:assert/strict";
import { type ComputeEngine, type ComputeModel, predictOne, type StateCapture } from "../../src/compute/engine.js";
import type { ModelSpec } from "../../src/compute/model-spec.js";
import { BYTES_PER_ELEMENT, elementCount } from "../../src/compute/tensor-data.js";
import { seededFloats } from "./tensors.js";

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

/** Runs the check on `engine` (whichever backend it runs on). */
export async function checkCaptureReads(engine: ComputeEngine): Promise<void> {
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
      // Before the model first runs, tfjs-node may still hold the values in JavaScript; once it
      // has run they are TensorFlow's (read natively where the addon allows).
      for (const phase of ["before it runs", "after it ran"]) {
        for (const slice of [1000, 1 << 20]) {
          const capture = await m.captureState();
          try {
            const first = await readAll(capture, slice);
            const second = await readAll(capture, slice);
            for (const [i, bytes] of expected.entries()) {
              assert.deepEqual(first[i], bytes, `tensor ${i}, slices of ${slice}, ${phase}`);
              assert.deepEqual(second[i], bytes, `tensor ${i} read again, slices of ${slice}, ${phase}`);
            }
          } finally {
            capture.release();
          }
        }
        // The model predicts from intact weights after all those reads.
        const out = await predictOne(m, { dtype: "float32", shape: [2, 10], data: seededFloats(20, 9) });
        assert.ok(Array.from(out.data).every(Number.isFinite));
      }
    }
    for (const [i, w] of (await restored.getWeights()).entries()) {
      assert.deepEqual(w.tensor.data, given[i]?.tensor.data, `restored weight ${i} unchanged`);
    }
  } finally {
    model.dispose();
    restored?.dispose();
  }
}
