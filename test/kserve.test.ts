// The KServe v2 / Open Inference Protocol adapter, on the same port and sessions as modelbay's API,
// driven by NVIDIA's tritonclient[grpc] from PyPI (pinned in clients/python/requirements-kserve.txt).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { tensorFromWire } from "../src/api/tensor-codec.js";
import { writeNpy } from "../src/datasets/npy.js";
import { run } from "./helpers/cli.js";
import { appliedLayer, functionalModel, inputLayer } from "./helpers/functional-json.js";
import { startTestServer, type TestServer, tempDir } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { floatTensor, seededFloats } from "./helpers/tensors.js";

const python = process.env.MODELBAY_KSERVE_PYTHON;
let t: TestServer;
let dir: string;

before(async () => {
  t = await startTestServer();
  dir = tempDir();
});
after(async () => {
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("tritonclient: liveness, metadata, ModelInfer (raw and typed) equal Predict, and clear errors", async (ctx) => {
  if (!python) {
    assert.ok(!process.env.CI, "under CI the KServe test must run (scripts/test.sh sets MODELBAY_KSERVE_PYTHON)");
    return ctx.skip("MODELBAY_KSERVE_PYTHON not set: run scripts/test.sh");
  }
  await t.client.createModel({ modelId: "classic", spec: denseSpec() });
  const x = seededFloats(64 * 10, 9);
  const res = await t.client.predict({ modelId: "classic", inputs: [floatTensor(x, [64, 10], true)], rawOutput: true });
  assert.ok(res.outputs[0]);
  const expected = tensorFromWire(res.outputs[0], "output", { maxTensorBytes: 1 << 30 });
  fs.writeFileSync(path.join(dir, "x.npy"), writeNpy({ dtype: "float32", shape: [64, 10], data: x }));
  fs.writeFileSync(path.join(dir, "expected.npy"), writeNpy(expected));
  const r = await run(python, [
    path.join(import.meta.dirname, "kserve", "triton_client.py"),
    t.server.address,
    "classic",
    dir,
  ]);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /ok: ModelInfer raw contents \(64, 1\) equals Predict/);
  assert.match(r.stdout, /kserve interop passed/);
});

test("tritonclient: a model of two inputs and two outputs, each tensor by name", async (ctx) => {
  if (!python) return ctx.skip("MODELBAY_KSERVE_PYTHON not set: run scripts/test.sh");
  const layers = [
    inputLayer("a", 3),
    inputLayer("b", 4),
    appliedLayer("Concatenate", "both", {}, [
      ["a", 0],
      ["b", 0],
    ]),
    appliedLayer("Dense", "total", { units: 2 }, [["both", 0]]),
    appliedLayer("Dense", "gap", { units: 1, activation: "tanh" }, [["a", 0]]),
  ];
  const { spec } = functionalModel(
    layers,
    [
      ["a", 0],
      ["b", 0],
    ],
    [
      ["total", 0],
      ["gap", 0],
    ],
  );
  await t.client.createModel({ modelId: "two", spec });
  const x = { a: { width: 3, data: seededFloats(5 * 3, 1) }, b: { width: 4, data: seededFloats(5 * 4, 2) } };
  const inputs = Object.entries(x).map(([name, v]) => ({ ...floatTensor(v.data, [5, v.width], true), name }));
  const res = await t.client.predict({ modelId: "two", inputs, rawOutput: true });
  assert.deepEqual(
    res.outputs.map((o) => o.name),
    ["total", "gap"],
  );
  for (const [name, v] of Object.entries(x)) {
    fs.writeFileSync(path.join(dir, `${name}.npy`), writeNpy({ dtype: "float32", shape: [5, v.width], data: v.data }));
  }
  for (const o of res.outputs) {
    const tensor = tensorFromWire(o, o.name, { maxTensorBytes: 1 << 20 });
    fs.writeFileSync(path.join(dir, `expected_${o.name}.npy`), writeNpy(tensor));
  }
  const script = path.join(import.meta.dirname, "kserve", "triton_client.py");
  const r = await run(python, [script, t.server.address, "two", dir, "several"]);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /ok: only output gap when asked for/);
  assert.match(r.stdout, /kserve several tensors passed/);
});
