// Small Predicts reach a device worker thread through shared memory (the lane), every other request
// through its message port. Checked on the engine: answers equal those that came by the port, the
// two ways keep the order the server sent in, and what does not fit a slot (a large input, a large
// output, more requests than slots) still comes back right, by the port.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { specFromWire } from "../src/api/spec-codec.js";
import { type ComputeModel, type NamedTensorData, predictOne } from "../src/compute/engine.js";
import type { TensorData } from "../src/compute/tensor-data.js";
import { createWorkerEngine, type WorkerEngine } from "../src/compute/worker-engine.js";
import type { ModelSpec } from "../src/gen/modelbay/v1/model.js";
import { denseSpec, denseStackSpec } from "./helpers/specs.js";
import { firstMismatch, seededFloats } from "./helpers/tensors.js";

const rows = (n: number, seed: number): TensorData => ({
  dtype: "float32",
  shape: [n, 10],
  data: seededFloats(n * 10, seed),
});

/** Input 10 -> Dense(64, relu) -> Dense(units): one row's output is 4 x units bytes. */
function wideOutputSpec(units: number): ModelSpec {
  const spec = denseStackSpec([64], 3);
  if (spec.topology?.$case !== "sequential") throw new Error("a sequential spec");
  const last = spec.topology.sequential.layers[1];
  if (last?.kind?.$case !== "dense") throw new Error("a dense output layer");
  last.kind.dense.units = units;
  return spec;
}

function assertClose(actual: TensorData, golden: TensorData, what: string): void {
  assert.deepEqual(actual.shape, golden.shape, `${what}: shape`);
  const mismatch = firstMismatch(actual.data, golden.data, 1e-6, 1e-6);
  assert.equal(mismatch, undefined, `${what}: ${mismatch}`);
}

describe("the shared lane to a device worker thread", () => {
  let lane: WorkerEngine;
  let port: WorkerEngine;
  before(async () => {
    lane = await createWorkerEngine("auto");
    port = await createWorkerEngine("auto", { sharedLane: false });
  });
  after(async () => {
    await lane.close();
    await port.close();
  });

  /** The same model (same weights) in both engines. */
  async function twin(spec: ModelSpec): Promise<{ byLane: ComputeModel; byPort: ComputeModel }> {
    const byLane = await lane.buildModel(specFromWire(spec));
    const byPort = await port.buildModel(specFromWire(spec));
    await byPort.setWeights(await byLane.getWeights());
    return { byLane, byPort };
  }

  test("small Predicts go by the lane and answer what the port answers; large ones go by the port", async () => {
    const { byLane, byPort } = await twin(denseSpec(5));
    const before = lane.predictWaysForTest();
    for (const n of [1, 3, 64]) {
      assertClose(await predictOne(byLane, rows(n, n)), await predictOne(byPort, rows(n, n)), `${n} rows`);
    }
    const afterSmall = lane.predictWaysForTest();
    assert.equal(afterSmall.lane - before.lane, 3, "three small Predicts by the lane");
    // 1,000 rows are 40,000 bytes, over a slot's 16 KiB.
    assertClose(await predictOne(byLane, rows(1000, 9)), await predictOne(byPort, rows(1000, 9)), "1000 rows");
    const afterLarge = lane.predictWaysForTest();
    assert.equal(afterLarge.port - afterSmall.port, 1, "the large Predict by the port");
    assert.equal(port.predictWaysForTest().lane, 0, "an engine without the lane sends nothing by it");
  });

  test("an output too large for its slot comes back by the port", async () => {
    // 5,000 floats are 20,000 bytes: the request fits a slot, its answer does not.
    const { byLane, byPort } = await twin(wideOutputSpec(5000));
    const before = lane.predictWaysForTest();
    assertClose(await predictOne(byLane, rows(1, 4)), await predictOne(byPort, rows(1, 4)), "wide output");
    assert.equal(lane.predictWaysForTest().lane - before.lane, 1, "sent by the lane");
    // The slot was given back: more Predicts than there are slots still go by the lane afterwards.
    for (let i = 0; i < 100; i++) await predictOne(byLane, rows(1, i));
    assert.equal(lane.predictWaysForTest().lane - before.lane, 101);
  });

  test("more Predicts at once than the lane has slots: the rest go by the port, every answer right", async () => {
    const { byLane, byPort } = await twin(denseSpec(6));
    const before = lane.predictWaysForTest();
    const count = 150;
    const answers = await Promise.all(Array.from({ length: count }, (_, i) => predictOne(byLane, rows(1, 100 + i))));
    const ways = lane.predictWaysForTest();
    assert.ok(ways.lane - before.lane >= 32, `lane ${ways.lane - before.lane}`);
    assert.ok(ways.port - before.port >= count - 64, `port ${ways.port - before.port}`);
    for (let i = 0; i < count; i++) {
      assertClose(answers[i] as TensorData, await predictOne(byPort, rows(1, 100 + i)), `call ${i}`);
    }
  });

  test("a Predict by the lane sees the weights set by the port just before it, and runs before a dispose sent after it", async () => {
    const { byLane } = await twin(denseSpec(7));
    const original = await byLane.getWeights();
    const zeroed: NamedTensorData[] = original.map((w) => ({
      name: w.name,
      tensor: { ...w.tensor, data: new Float32Array(w.tensor.data.length) },
    }));
    const input = rows(1, 5);
    const first = await predictOne(byLane, input);
    assert.notEqual((first.data as Float32Array)[0], 0, "the model's answer is not 0 to begin with");
    // Not awaited: the two requests leave one after the other, by different ways, while the device
    // is busy, so that the worker finds both waiting.
    const busy = predictOne(await lane.buildModel(specFromWire(denseStackSpec([2048, 2048]))), rows(2000, 1));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const set = byLane.setWeights(zeroed);
    const afterSet = predictOne(byLane, input);
    await set;
    assert.equal((await afterSet).data[0], 0, "the Predict ran after the new weights");
    await busy;
    const last = predictOne(byLane, input);
    byLane.dispose();
    assert.equal((await last).data[0], 0, "the Predict ran before the dispose");
    await assert.rejects(predictOne(byLane, input), /unknown model handle/, "an error comes back by the lane");
  });

  test("a worker parked after a quiet spell is woken by a Predict through the lane", async () => {
    const { byLane, byPort } = await twin(denseSpec(8));
    await predictOne(byLane, rows(1, 1));
    // Longer than the worker waits on the lane before it parks in its event loop.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const before = lane.predictWaysForTest();
    assertClose(await predictOne(byLane, rows(2, 2)), await predictOne(byPort, rows(2, 2)), "after a quiet spell");
    assert.equal(lane.predictWaysForTest().lane - before.lane, 1);
  });

  test("a worker that dies with Predicts in the lane fails them UNAVAILABLE, and its successor takes the lane", async () => {
    const engine = await createWorkerEngine("auto");
    try {
      const model = await engine.buildModel(specFromWire(denseStackSpec([2048, 2048])));
      const slow = predictOne(model, rows(4000, 1));
      const queued = Array.from({ length: 5 }, (_, i) => predictOne(model, rows(1, i)));
      assert.equal(engine.predictWaysForTest().lane, 5);
      await engine.crashWorkerForTest();
      for (const p of [slow, ...queued]) await assert.rejects(p, (err: { code?: number }) => err.code === 14);
      const next = await engine.buildModel(specFromWire(denseSpec(9)));
      const answer = await predictOne(next, rows(1, 3));
      assert.deepEqual(answer.shape, [1, 1]);
      assert.equal(engine.predictWaysForTest().lane, 1, "the new worker's Predict by its own lane");
    } finally {
      await engine.close();
    }
  });
});
