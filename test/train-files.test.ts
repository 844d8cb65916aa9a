// Train reading its examples from server-side files under the data root: a CSV split into feature
// and label columns, an .npz holding x and y, and the bad files refused before any step runs.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { zipSync } from "fflate";
import { writeNpy } from "../src/datasets/npy.js";
import type { FileData, TrainRequest } from "../src/gen/modelbay/v1/training.js";
import { startTestServer, type TestServer, tempDir } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { floatTensor } from "./helpers/tensors.js";
import { collect, ofKind, regressionData, trainRequest } from "./helpers/training.js";

const ROWS = 200;
let t: TestServer;
let dataDir: string;

before(async () => {
  dataDir = tempDir("modelbay-train-files-");
  const { x, y } = regressionData(ROWS);
  const header = [...Array.from({ length: 10 }, (_, i) => `f${i}`), "target"].join(",");
  const lines = Array.from({ length: ROWS }, (_, r) =>
    [...Array.from(x.subarray(r * 10, r * 10 + 10)), y[r]].join(","),
  );
  fs.writeFileSync(path.join(dataDir, "train.csv"), `${header}\n${lines.join("\n")}\n`);
  fs.writeFileSync(path.join(dataDir, "bad.csv"), `${header}\n${lines[0]}\n${lines[1]?.replace(/^[^,]+/, "oops")}\n`);
  const npz = zipSync({
    "x.npy": new Uint8Array(writeNpy({ dtype: "float32", shape: [ROWS, 10], data: x })),
    "y.npy": new Uint8Array(writeNpy({ dtype: "float32", shape: [ROWS, 1], data: y })),
  });
  fs.writeFileSync(path.join(dataDir, "train.npz"), npz);
  fs.mkdirSync(path.join(dataDir, "pair"));
  fs.writeFileSync(path.join(dataDir, "pair", "x.npy"), writeNpy({ dtype: "float32", shape: [ROWS, 10], data: x }));
  fs.writeFileSync(path.join(dataDir, "pair", "y.npy"), writeNpy({ dtype: "float32", shape: [ROWS, 1], data: y }));
  t = await startTestServer({ dataDir });
});
after(async () => {
  await t.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const fromFile = (modelId: string, file: Partial<FileData>, more: Partial<TrainRequest> = {}): TrainRequest =>
  trainRequest(modelId, ROWS, {
    data: { source: { $case: "file", file: { path: "", featureColumns: [], labelColumns: [], ...file } } },
    shuffle: false,
    epochs: 2,
    ...more,
  });

/** Final weights after training a fresh seeded model on `req`'s data. */
async function trainedWeights(modelId: string, req: TrainRequest): Promise<number[]> {
  await t.client.createModel({ modelId, spec: denseSpec() });
  const events = await collect(t.client, req);
  assert.equal(ofKind(events, "completed").length, 1, JSON.stringify(ofKind(events, "failed")));
  const res = await t.client.predict({
    modelId,
    inputs: [floatTensor(regressionData(5).x, [5, 10])],
    rawOutput: false,
  });
  return res.outputs[0]?.floatValues ?? [];
}

test("CSV (labels named, features the rest), .npz and an x.npy/y.npy pair train exactly like the same data inline", async () => {
  const inline = await trainedWeights("inline", trainRequest("inline", ROWS, { shuffle: false, epochs: 2 }));
  const csv = await trainedWeights("csv", fromFile("csv", { path: "train.csv", labelColumns: ["target"] }));
  const npz = await trainedWeights("npz", fromFile("npz", { path: "train.npz" }));
  const pair = await trainedWeights("pair", fromFile("pair", { path: "pair" }));
  assert.deepEqual(pair, inline);
  assert.equal(inline.length, 5);
  assert.deepEqual(npz, inline);
  // CSV text holds shortest round-trip decimals of the float32 values, which parse back exactly.
  assert.deepEqual(csv, inline);
});

test("bad data files are refused before any step, naming the field and the problem", async () => {
  await t.client.createModel({ modelId: "bad", spec: denseSpec() });
  const cases: Array<[Partial<FileData>, RegExp]> = [
    [{ path: "bad.csv", labelColumns: ["target"] }, /^data\.file\.path: line 3: column "f0" is not a number: "oops"/],
    [{ path: "train.csv" }, /^data\.file\.label_columns: is required/],
    [{ path: "train.csv", labelColumns: ["nope"] }, /no column "nope"/],
    [{ path: "missing.npz" }, /does not exist in the data root/],
    [{ path: "../etc/passwd" }, /without "\.\."/],
    [{ path: "/etc/passwd" }, /relative path/],
  ];
  for (const [file, message] of cases) {
    await assert.rejects(collect(t.client, fromFile("bad", file)), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
      assert.match(err.details, message);
      return true;
    });
  }
  const jobs = await t.client.listJobs({ modelId: "bad" });
  assert.equal(jobs.jobs.length, 0);
});
