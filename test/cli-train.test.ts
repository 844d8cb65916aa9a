// `modelbay train` shows progress and exits 0 when the job completes; --detach prints the job id,
// and `modelbay watch` replays and follows that job.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { writeNpy } from "../src/datasets/npy.js";
import { modelbay } from "./helpers/cli.js";
import { startTestServer, type TestServer, tempDir } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { regressionData } from "./helpers/training.js";

let t: TestServer;
let work: string;
before(async () => {
  work = tempDir();
  t = await startTestServer();
  const { x, y } = regressionData(500);
  fs.writeFileSync(path.join(work, "x.npy"), writeNpy({ dtype: "float32", shape: [500, 10], data: x }));
  fs.writeFileSync(path.join(work, "y.npy"), writeNpy({ dtype: "float32", shape: [500, 1], data: y }));
});
after(async () => {
  await t.close();
  fs.rmSync(work, { recursive: true, force: true });
});

const data = () => ["--x", path.join(work, "x.npy"), "--y", path.join(work, "y.npy")];

test("train follows the job to completion", async () => {
  await t.client.createModel({ modelId: "cli", spec: denseSpec(1) });
  const r = await modelbay(
    "train",
    "--server",
    t.server.address,
    "--model",
    "cli",
    ...data(),
    "--epochs",
    "2",
    "--checkpoint-every",
    "1",
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^job job-[0-9a-f]{8}: 32 steps over 500 examples$/m);
  assert.match(r.stdout, /^epoch 2: loss \d+\.\d+$/m);
  assert.match(r.stdout, /checkpoint ckpt-000002 \(epoch\)/);
  assert.match(r.stdout, /^completed 2 epochs in/m);
});

test("train --detach prints the job id, and watch follows it to the end", async () => {
  await t.client.createModel({ modelId: "cli-detached", spec: denseSpec(1) });
  const started = await modelbay(
    "train",
    "--server",
    t.server.address,
    "--model",
    "cli-detached",
    ...data(),
    "--epochs",
    "3",
    "--detach",
  );
  assert.equal(started.status, 0, started.stderr);
  const jobId = started.stdout.trim();
  assert.match(jobId, /^job-[0-9a-f]{8}$/);
  const watched = await modelbay("watch", jobId, "--server", t.server.address);
  assert.equal(watched.status, 0, watched.stderr);
  assert.match(watched.stdout, /^epoch 3: loss/m);
  assert.match(watched.stdout, /^completed 3 epochs/m);
});

test("a job that fails makes train exit 1 with the reason", async () => {
  const r = await modelbay("train", "--server", t.server.address, "--model", "nobody", ...data(), "--epochs", "1");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /model "nobody" not found/);
});
