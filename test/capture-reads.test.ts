// A checkpoint's tensors leave the device in slices. With native TensorFlow each slice is copied
// straight into the caller's shared memory (tensorDataInto, added to the addon at provisioning);
// elsewhere through a read whose copy is freed at once (releaseHostCopy), which must only ever free
// a copy the reader owns, never values a model still holds. test/capture-reads-cpu.test.ts runs the
// same capture check where the native read is not there.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import type { ComputeEngine } from "../src/compute/engine.js";
import { createInProcessEngine } from "../src/compute/in-process-engine.js";
import { canReadTensorBytesInto, readTensorBytesInto } from "../src/compute/tensor-bytes-into.js";
import { releaseHostCopy } from "../src/compute/tensor-conversion.js";
import { checkCaptureReads } from "./helpers/capture-reads.js";

const nativeExpected = process.env.MODELBAY_EXPECT_BACKEND === "tensorflow";
let engine: ComputeEngine;
before(async () => {
  engine = await createInProcessEngine("auto");
});

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

test("slices of a captured state read back the model's values, twice, also right after a restore", async () => {
  await checkCaptureReads(engine);
});

test("native TensorFlow copies any range of a tensor's bytes into given memory", (t) => {
  if (!canReadTensorBytesInto() && !nativeExpected) return t.skip("the backend has no tensorDataInto");
  assert.ok(canReadTensorBytesInto(), "the provisioned addon lacks tensorDataInto (scripts/provision-native.mjs)");
  const bytesOf = (tensor: tf.Tensor) => {
    const d = tensor.dataSync() as Float32Array | Int32Array | Uint8Array;
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice();
  };
  // Computed by TensorFlow (held as a TensorFlow tensor), and made in JavaScript and never used
  // (tfjs-node still holds the values), in each dtype a checkpoint stores.
  const computed = [
    tf.range(0, 1000, 1, "float32").mul(1.5),
    tf.range(0, 999, 1, "int32").add(7),
    tf.range(0, 77).less(30),
  ];
  const given = [
    tf.tensor1d([1.25, -2, 3e9, Number.NaN], "float32"),
    tf.tensor1d([5, -6, 7], "int32"),
    tf.tensor1d([1, 0, 1], "bool"),
  ];
  try {
    for (const x of [...computed, ...given]) {
      const expected = bytesOf(x);
      for (const [from, to] of [
        [0, expected.length],
        [0, 1],
        [1, expected.length - 1],
        [expected.length - 1, expected.length],
        [1, 1],
      ] as const) {
        const into = new Uint8Array(new SharedArrayBuffer(64 + to - from)).fill(0xee);
        assert.equal(readTensorBytesInto(x, from, into.subarray(32, 32 + to - from)), true);
        assert.deepEqual(into.subarray(32, 32 + to - from), expected.subarray(from, to), `${x.dtype} [${from}, ${to})`);
        assert.ok(
          into.subarray(0, 32).every((b) => b === 0xee) && into.subarray(32 + to - from).every((b) => b === 0xee),
          "nothing written outside",
        );
      }
      assert.throws(() => readTensorBytesInto(x, expected.length - 1, new Uint8Array(2)), /outside the tensor/);
      assert.deepEqual(bytesOf(x), expected, "the tensor is unchanged");
    }
  } finally {
    for (const x of [...computed, ...given]) x.dispose();
  }
});
