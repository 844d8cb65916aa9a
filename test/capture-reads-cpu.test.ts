// The capture check of test/capture-reads.test.ts on TensorFlow.js's plain JavaScript backend, which
// has no native read into given memory: slices go through a read whose copy is freed at once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createInProcessEngine } from "../src/compute/in-process-engine.js";
import { canReadTensorBytesInto } from "../src/compute/tensor-bytes-into.js";
import { checkCaptureReads } from "./helpers/capture-reads.js";

test("without a native read, slices of a captured state still read back the model's values", async () => {
  const engine = await createInProcessEngine("cpu");
  assert.equal(engine.backend.name, "cpu");
  assert.equal(canReadTensorBytesInto(), false);
  await checkCaptureReads(engine);
});
