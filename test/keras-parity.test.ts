// Parity with Keras: the classic example (Dense(128, relu, input 10) -> Dense(1), adam, mse,
// 10 epochs, batch 32) trained through the API and by Keras from the same initial weights on the same
// data in the same order gives per-epoch losses within rtol 1e-3. Measured here: within 6e-5
// (float32 round-off, and Adam's epsilon, which Keras adds after folding the bias corrections into
// the step size and tfjs after correcting v).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { writeNpy } from "../src/datasets/npy.js";
import { startTestServer, type TestServer, tempDir } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { collect, regressionData, trainRequest } from "./helpers/training.js";

const python = process.env.MODELBAY_PARITY_PYTHON;
const unavailable = !python || python === "skip";
const RTOL = 1e-3;
const EPOCHS = 10;
const ROWS = 1000;

let t: TestServer;
let dir: string;
before(async () => {
  dir = tempDir();
  t = await startTestServer();
});
after(async () => {
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function runPython(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(python as string, args, { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" } });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`python exited ${code}: ${err}`))));
  });
}

test("under CI the parity test runs", { skip: process.env.CI !== "true" && "not under CI" }, () => {
  assert.ok(!unavailable, "MODELBAY_PARITY_PYTHON must point at a Python with TensorFlow under CI");
});

/** Keras' per-epoch losses for the model `kind` from the weights of model `modelId`, against ours. */
async function compareWithKeras(modelId: string, kind: "classic" | "regularized"): Promise<void> {
  const weights = await t.server.sessions.get(modelId).model.getWeights();
  for (const [i, w] of weights.entries()) fs.writeFileSync(path.join(dir, `w${i}.npy`), writeNpy(w.tensor));
  // The same rows trainRequest() sends.
  const { x, y } = regressionData(ROWS);
  fs.writeFileSync(path.join(dir, "x.npy"), writeNpy({ dtype: "float32", shape: [ROWS, 10], data: x }));
  fs.writeFileSync(path.join(dir, "y.npy"), writeNpy({ dtype: "float32", shape: [ROWS, 1], data: y }));

  const script = path.join(import.meta.dirname, "parity", "keras_classic.py");
  const keras = runPython([script, dir, String(EPOCHS), "32", kind]);
  const events = await collect(
    t.client,
    trainRequest(modelId, ROWS, { epochs: EPOCHS, batchSize: 32, shuffle: false }),
  );
  const ours = events.flatMap((e) => (e.event?.$case === "epochEnd" ? [e.event.epochEnd.loss] : []));
  const theirs = (JSON.parse((await keras).trim().split("\n").pop() ?? "{}") as { losses: number[] }).losses;
  assert.equal(ours.length, EPOCHS);
  assert.equal(theirs.length, EPOCHS);
  const report = ours.map((o, i) => `${i + 1}: ${o.toPrecision(6)} vs ${theirs[i]?.toPrecision(6)}`).join("; ");
  process.stderr.write(`keras parity per epoch, ${kind} (modelbay vs Keras): ${report}\n`);
  ours.forEach((o, i) => {
    const k = theirs[i] as number;
    assert.ok(Math.abs(o - k) <= RTOL * Math.abs(k), `epoch ${i + 1}: ${o} vs ${k} (${report})`);
  });
}

const skip = unavailable && "no Python TensorFlow (MODELBAY_PARITY_PYTHON)";

test("per-epoch losses match Keras from the same weights and data order", { skip }, async () => {
  await t.client.createModel({ modelId: "parity", spec: denseSpec(123) });
  await compareWithKeras("parity", "classic");
});

test("regularizers and constraints of a Keras JSON model train as in Keras", { skip }, async () => {
  // TensorFlow.js alone would leave the penalties out of the loss and never apply the constraint;
  // max-norm 0.5 binds from the first update (the initial kernel's columns have norms of ~0.7).
  const penalty = (l1: number, l2: number) => ({ class_name: "L1L2", config: { l1, l2 } });
  const layers = [
    {
      class_name: "Dense",
      config: {
        units: 32,
        activation: "relu",
        batch_input_shape: [null, 10],
        kernel_regularizer: penalty(0, 0.01),
        bias_regularizer: penalty(0.001, 0),
        kernel_constraint: { class_name: "MaxNorm", config: { max_value: 0.5, axis: 0 } },
      },
    },
    { class_name: "Dense", config: { units: 1, kernel_regularizer: penalty(0.01, 0) } },
  ];
  const kerasJson = JSON.stringify({ class_name: "Sequential", config: { name: "regularized", layers } });
  await t.client.createModel({
    modelId: "regularized",
    spec: { ...denseSpec(7), topology: { $case: "kerasJson", kerasJson } },
  });
  await compareWithKeras("regularized", "regularized");
});
