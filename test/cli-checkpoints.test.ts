// The CI restore check: `modelbay goldens make` records a checkpoint's predictions and
// `modelbay restore --verify` proves them again, against a server or offline, by exit code.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { writeNpy } from "../src/datasets/npy.js";
import { modelbay } from "./helpers/cli.js";
import { startTestServer, type TestServer, tempDir } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { seededFloats } from "./helpers/tensors.js";
import { checkpointPolicy, collect, trainRequest } from "./helpers/training.js";

let t: TestServer;
let store: string;
let work: string;
before(async () => {
  store = tempDir();
  work = tempDir();
  t = await startTestServer({ checkpointDir: store });
  await t.client.createModel({ modelId: "ci", spec: denseSpec(17) });
  const policy = checkpointPolicy({ everyEpochs: 1 });
  await collect(t.client, trainRequest("ci", 400, { epochs: 2, checkpointPolicy: policy }));
  fs.writeFileSync(
    path.join(work, "x.npy"),
    writeNpy({ dtype: "float32", shape: [16, 10], data: seededFloats(160, 4) }),
  );
});
after(async () => {
  await t.close();
  for (const d of [store, work]) fs.rmSync(d, { recursive: true, force: true });
});

test("goldens made against the server verify against the server and offline from the store", async () => {
  const goldens = path.join(work, "goldens.json");
  const made = await modelbay(
    "goldens",
    "make",
    "--server",
    t.server.address,
    "--model",
    "ci",
    "--inputs",
    path.join(work, "x.npy"),
    "--out",
    goldens,
  );
  assert.equal(made.status, 0, made.stderr);
  assert.match(made.stdout, /wrote goldens of ci ckpt-000002 \(16 rows\)/);
  const online = await modelbay(
    "restore",
    "--verify",
    "--server",
    t.server.address,
    "--goldens",
    goldens,
    "--atol",
    "0",
    "--rtol",
    "0",
  );
  assert.equal(online.status, 0, online.stdout + online.stderr);
  assert.match(online.stdout, /checkpoint ckpt-000002 \(latest\)/);
  assert.match(online.stdout, /output: PASS, max abs error 0/);
  const offline = await modelbay(
    "restore",
    "--verify",
    "--store",
    store,
    "--goldens",
    goldens,
    "--checkpoint",
    "ckpt-000002",
  );
  assert.equal(offline.status, 0, offline.stdout + offline.stderr);
  assert.match(offline.stdout, /PASS$/m);
  // The scratch session used by the check is gone again.
  return t.client.listModels({}).then(({ models }) =>
    assert.deepEqual(
      models.map((m) => m.modelId),
      ["ci"],
    ),
  );
});

test("goldens that the checkpoint no longer reproduces exit 1 with a readable report", async () => {
  const goldens = path.join(work, "goldens.json");
  const file = JSON.parse(fs.readFileSync(goldens, "utf8")) as { expected_outputs: { values: number[] }[] };
  const values = file.expected_outputs[0]?.values ?? [];
  values[5] = (values[5] ?? 0) + 0.01;
  const tampered = path.join(work, "tampered.json");
  fs.writeFileSync(tampered, JSON.stringify(file));
  const r = await modelbay(
    "restore",
    "--verify",
    "--store",
    store,
    "--goldens",
    tampered,
    "--atol",
    "1e-4",
    "--rtol",
    "1e-4",
  );
  assert.equal(r.status, 1);
  assert.match(r.stdout, /output: FAIL, max abs error 0\.0\d+, .* 1 of 16 elements outside tolerance/);
  assert.match(r.stdout, /^FAIL$/m);
  // An earlier checkpoint predicts differently from the goldens of the latest.
  const older = await modelbay(
    "restore",
    "--verify",
    "--store",
    store,
    "--goldens",
    goldens,
    "--checkpoint",
    "ckpt-000001",
  );
  assert.equal(older.status, 1);
});

test("checkpoint ls lists the store offline; a corrupt latest is reported and skipped", async () => {
  const ls = await modelbay("checkpoint", "ls", "--store", store, "--model", "ci");
  assert.equal(ls.status, 0, ls.stderr);
  assert.match(ls.stdout, /^ckpt-000002 latest {2}epoch 2/m);
  assert.match(ls.stdout, /^ckpt-000001 {2}epoch 1/m);
  const copy = tempDir();
  try {
    fs.cpSync(store, copy, { recursive: true });
    fs.appendFileSync(path.join(copy, "ci", "ckpt-000002", "weights.bin"), "x");
    const r = await modelbay(
      "restore",
      "--verify",
      "--store",
      copy,
      "--goldens",
      path.join(work, "goldens.json"),
      "--model",
      "ci",
    );
    assert.equal(r.status, 1);
    assert.match(
      r.stdout,
      /warning: checkpoint ckpt-000002 is corrupt \(weights\.bin has \d+ bytes, manifest says \d+\); skipped/,
    );
    assert.match(r.stdout, /checkpoint ckpt-000001/);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
});

test("usage errors exit 2", async () => {
  assert.equal((await modelbay("restore", "--goldens", "x.json")).status, 2);
  assert.equal((await modelbay("checkpoint", "frobnicate", "--model", "ci", "--store", store)).status, 2);
  const r = await modelbay("restore", "--verify", "--bogus");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bogus/);
});
