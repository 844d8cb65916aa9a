// `modelbay model create|ls|show|rm`, `modelbay predict` and `modelbay restore` against a server in
// this process: a user can open, use and drop models from the command line alone.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { readNpy, writeNpy } from "../src/datasets/npy.js";
import { modelbay } from "./helpers/cli.js";
import { startTestServer, type TestServer, tempDir } from "./helpers/server.js";
import { firstMismatch, floatTensor, predictFloats, seededFloats } from "./helpers/tensors.js";

const ROWS = 50;
let t: TestServer;
let work: string;
let server: string[];
const rows = seededFloats(ROWS * 10, 3);

before(async () => {
  work = tempDir();
  t = await startTestServer({ dataDir: work });
  server = ["--server", t.server.address];
  fs.writeFileSync(path.join(work, "x.npy"), writeNpy({ dtype: "float32", shape: [ROWS, 10], data: rows }));
});
after(async () => {
  await t.close();
  fs.rmSync(work, { recursive: true, force: true });
});

/** What the Predict RPC answers for the rows, to hold the CLI's answers against. */
const viaPredict = (modelId: string) => predictFloats(t.client, modelId, [floatTensor(rows, [ROWS, 10], true)]);

test("model create --example, ls and show describe the model; show's output creates a copy", async () => {
  const created = await modelbay("model", "create", ...server, "--model", "cli-a", "--example", "classic");
  assert.equal(created.status, 0, created.stderr);
  assert.match(
    created.stdout,
    /^cli-a {2}spec {2}cpu:0 \S+ {2}1537 parameters {2}input float32\[-1,10\] -> output float32\[-1,1\]$/m,
  );

  const listed = await modelbay("model", "ls", ...server);
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, /^cli-a {2}spec /m);

  const shown = await modelbay("model", "show", ...server, "--model", "cli-a");
  assert.equal(shown.status, 0, shown.stderr);
  const info = JSON.parse(shown.stdout) as { modelId: string; parameterCount: number; spec: unknown };
  assert.equal(info.modelId, "cli-a");
  assert.equal(Number(info.parameterCount), 1537);

  const file = path.join(work, "shown.json");
  fs.writeFileSync(file, shown.stdout);
  const copy = await modelbay("model", "create", ...server, "--model", "cli-copy", "--spec", file);
  assert.equal(copy.status, 0, copy.stderr);
  // The spec carries its seed, so the copy starts from the same weights and predicts the same.
  assert.deepEqual(await viaPredict("cli-copy"), await viaPredict("cli-a"));
});

test("predict writes what the Predict RPC answers, in order across chunks", async () => {
  await t.client.createModel({ modelId: "cli-p", spec: (await t.client.getModel({ modelId: "cli-a" })).model?.spec });
  const expected = await viaPredict("cli-p");
  const out = path.join(work, "y.npy");
  const written = await modelbay(
    "predict",
    ...server,
    "--model",
    "cli-p",
    "--inputs",
    path.join(work, "x.npy"),
    "--out",
    out,
    "--chunk-rows",
    "7",
  );
  assert.equal(written.status, 0, written.stderr);
  assert.match(written.stdout, /^predicted 50 rows into /m);
  const y = readNpy(fs.readFileSync(out));
  assert.deepEqual(y.shape, [ROWS, 1]);
  assert.equal(firstMismatch(y.data as Float32Array, expected, 1e-6, 1e-5), undefined);

  // Without --out, JSON on stdout; from a file under the server's data root.
  const printed = await modelbay("predict", ...server, "--model", "cli-p", "--data-path", "x.npy");
  assert.equal(printed.status, 0, printed.stderr);
  const json = JSON.parse(printed.stdout) as { outputs: { name: string; shape: number[]; values: number[] }[] };
  assert.equal(json.outputs.length, 1);
  assert.deepEqual(json.outputs[0]?.shape, [ROWS, 1]);
  assert.equal(firstMismatch(json.outputs[0]?.values ?? [], expected, 1e-6, 1e-5), undefined);
});

test("restore opens a checkpoint as a new model that predicts as the saved one", async () => {
  await t.client.createModel({ modelId: "cli-r", spec: (await t.client.getModel({ modelId: "cli-a" })).model?.spec });
  const saved = await modelbay("checkpoint", "create", ...server, "--model", "cli-r");
  assert.equal(saved.status, 0, saved.stderr);
  const r = await modelbay("restore", ...server, "--model", "cli-r", "--as", "cli-r2");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^restored ${saved.stdout.trim()}: cli-r2 {2}checkpoint `, "m"));
  assert.deepEqual(await viaPredict("cli-r2"), await viaPredict("cli-r"));
});

test("model rm deletes; the model is then not found (exit 1)", async () => {
  await t.client.createModel({
    modelId: "cli-gone",
    spec: (await t.client.getModel({ modelId: "cli-a" })).model?.spec,
  });
  const rm = await modelbay("model", "rm", ...server, "--model", "cli-gone");
  assert.equal(rm.status, 0, rm.stderr);
  assert.equal(rm.stdout, "deleted cli-gone\n");
  const shown = await modelbay("model", "show", ...server, "--model", "cli-gone");
  assert.equal(shown.status, 1);
  assert.match(shown.stderr, /^modelbay: model "cli-gone" not found$/m);
});

test("mistakes are usage errors (exit 2) or the server's answer (exit 1), each in words", async () => {
  const none = await modelbay("model", "create", ...server, "--model", "m");
  assert.equal(none.status, 2);
  assert.match(none.stderr, /model create needs --spec FILE, --keras-json FILE or --example NAME/);

  const notJson = path.join(work, "bad.json");
  fs.writeFileSync(notJson, "{ nope");
  const bad = await modelbay("model", "create", ...server, "--model", "m", "--spec", notJson);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, new RegExp(`--spec ${notJson}: .*JSON`));

  const badSpec = path.join(work, "bad-spec.json");
  fs.writeFileSync(badSpec, JSON.stringify({ sequential: { inputShape: [10], layers: [{ dense: { units: 0 } }] } }));
  const refused = await modelbay("model", "create", ...server, "--model", "m", "--spec", badSpec);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /^modelbay: spec\.sequential\.layers\[0\]\.dense\.units/m);

  const both = await modelbay("predict", ...server, "--model", "cli-a");
  assert.equal(both.status, 2);
  assert.match(both.stderr, /predict needs --inputs x\.npy \(local\) or --data-path FILE/);

  const away = await modelbay("model", "ls", "--server", "127.0.0.1:1");
  assert.equal(away.status, 1);
  assert.match(
    away.stderr,
    /^modelbay: no modelbay server answers \(connect ECONNREFUSED 127\.0\.0\.1:1\); start one with `modelbay serve`/m,
  );
  assert.equal(await t.client.health(), "SERVING");
});
