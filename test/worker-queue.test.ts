// A device worker sees every request waiting for it, whether it is a thread (the CPU's) or a
// process (a GPU's): Predicts it cannot answer in time in arrival order are served newest first, one whose
// caller cancels is dropped unrun, and a large one already running stops between slices of rows.
// Checked on the engine, for both kinds of worker.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { specFromWire } from "../src/api/spec-codec.js";
import { type ComputeModel, type PredictWait, predictOne } from "../src/compute/engine.js";
import type { TensorData } from "../src/compute/tensor-data.js";
import { createWorkerEngine, type WorkerEngine, type WorkerKind } from "../src/compute/worker-engine.js";
import { Code } from "../src/errors.js";
import { answeredWhenBehind, assertNewestFirst } from "./helpers/backlog.js";
import { denseSpec, denseStackSpec } from "./helpers/specs.js";
import { seededFloats } from "./helpers/tensors.js";

// Two Dense(4096) layers over 4,000 rows: 0.7 s or more on this machine's two cores.
const SLOW_ROWS = 4000;
const rows = (n: number, seed: number): TensorData => ({
  dtype: "float32",
  shape: [n, 10],
  data: seededFloats(n * 10, seed),
});

for (const kind of ["thread", "process"] as WorkerKind[]) {
  describe(`a device worker that is a ${kind}`, () => {
    let engine: WorkerEngine;
    let slow: ComputeModel;
    let small: ComputeModel;
    let medium: ComputeModel;
    const ops = { computed: 0, cancelled: 0 };
    before(async () => {
      engine = await createWorkerEngine("auto", {
        kind,
        device: kind === "thread" ? "cpu:0" : "gpu:0",
        observer: {
          call: (op) => {
            if (op === "predict") ops.computed++;
          },
          expired: () => undefined,
          cancelled: () => {
            ops.cancelled++;
          },
          restart: () => undefined,
        },
      });
      slow = await engine.buildModel(specFromWire(denseStackSpec([4096, 4096])));
      small = await engine.buildModel(specFromWire(denseSpec(5)));
      medium = await engine.buildModel(specFromWire(denseStackSpec([1024, 1024])));
    });
    after(() => engine.close());

    /** Starts the slow predict and gives it 30 ms to reach the device (wrapped: awaiting a promise would wait for it). */
    async function occupy(): Promise<{ slowMs: Promise<number> }> {
      const started = performance.now();
      const slowMs = predictOne(slow, rows(SLOW_ROWS, 1)).then(() => performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 30));
      return { slowMs };
    }

    test("Predicts the device cannot answer in time in arrival order are answered newest first", async () => {
      const answered = await answeredWhenBehind({
        predict: (i, deadline) => predictOne(medium, rows(2000, i), deadline === undefined ? {} : { deadline }),
        count: 6,
      });
      assertNewestFirst(answered, 6);
    });

    test("a Predict whose caller cancels while it waits is dropped unrun", async () => {
      const before = { ...ops };
      const listeners: (() => void)[] = [];
      const cancellable: PredictWait = { onCancel: (listener) => void listeners.push(listener) };
      const { slowMs } = await occupy();
      const kept = predictOne(small, rows(1, 1));
      const dropped = predictOne(small, rows(1, 2), cancellable);
      const alsoKept = predictOne(small, rows(1, 3));
      for (const listener of listeners) listener();
      await assert.rejects(dropped, (err: { code?: number }) => err.code === Code.CANCELLED);
      await Promise.all([kept, alsoKept]);
      assert.ok((await slowMs) > 100, "the slow predict was too fast to queue anything");
      assert.equal(ops.cancelled - before.cancelled, 1);
      assert.equal(ops.computed - before.computed, 3, "the slow predict and the two kept");
    });

    test("a large Predict already running stops between slices once its deadline passes or its caller cancels", async () => {
      const ROWS = 65536; // eight slices of 8,192 rows, ~0.2-0.5 s each here
      const stoppedAfter = (code: number) => (err: { code?: number; message?: string }) => {
        const rowsDone = Number(/stopped after (\d+) of 65536 rows/.exec(err.message ?? "")?.[1]);
        return err.code === code && rowsDone > 0 && rowsDone < ROWS && rowsDone % 8192 === 0;
      };
      await assert.rejects(
        predictOne(medium, rows(ROWS, 4), { deadline: Date.now() + 300 }),
        stoppedAfter(Code.DEADLINE_EXCEEDED),
      );
      const listeners: (() => void)[] = [];
      const cancelled = predictOne(medium, rows(ROWS, 4), { onCancel: (listener) => void listeners.push(listener) });
      setTimeout(() => {
        for (const listener of listeners) listener();
      }, 300);
      await assert.rejects(cancelled, stoppedAfter(Code.CANCELLED));
      // The device is free again at once, and slices give the same outputs as one call.
      const input = rows(20_000, 5);
      const sliced = await predictOne(medium, input, { deadline: Date.now() + 60_000 });
      const whole = await predictOne(medium, input);
      assert.deepEqual(sliced.shape, [20_000, 1]);
      assert.deepEqual(Buffer.from(sliced.data.buffer), Buffer.from(whole.data.buffer), "bit for bit");
    });
  });
}
