// The Python and Go clients, generated from proto/ by scripts/clients.sh, against a live server:
// the Python client runs the three classic recipes end to end, the Go example calls Predict and
// PredictStream. scripts/test.sh generates both clients and names the Python to use.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { classicDenseSpec } from "../src/cli/example-specs.js";
import { run } from "./helpers/cli.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

const python = process.env.MODELBAY_CLIENT_PYTHON;
const root = path.resolve(import.meta.dirname, "..");
let t: TestServer;

before(async () => {
  t = await startTestServer();
});
after(() => t.close());

const report = (r: { status: number | null; stdout: string; stderr: string }) =>
  `exit ${r.status}\n${r.stdout}\n${r.stderr}`;

test("Python client: the three classic recipes (train + checkpoint per epoch, restore latest, predict, stream, resume)", async (ctx) => {
  if (!python) {
    assert.ok(!process.env.CI, "under CI the Python client must run (scripts/test.sh sets MODELBAY_CLIENT_PYTHON)");
    return ctx.skip("MODELBAY_CLIENT_PYTHON not set: run scripts/test.sh");
  }
  const r = await run(python, ["clients/python/examples/classic_recipes.py", "--server", t.server.address], {
    cwd: root,
    env: { PYTHONPATH: path.join(root, "clients/python") },
  });
  assert.equal(r.status, 0, report(r));
  assert.match(r.stdout, /classic: losses .* restored ckpt-000003 \(verify passed\), streamed 10 chunks/);
  assert.match(r.stdout, /custom-layer: .*verify passed/);
  assert.match(
    r.stdout,
    /resume: restored ckpt-000002, trained epochs \[3, 4\], predictions equal the uninterrupted run/,
  );
  // What the client created is really on the server.
  const models = (await t.client.listModels({})).models.map((m) => m.modelId);
  assert.ok(
    models.some((id) => id.startsWith("classic-") && id.endsWith("-restored")),
    models.join(", "),
  );
});

test("Python client: numpy's float64 arrays go as float32, half the bytes, and predict what the server's narrowing gave", async (ctx) => {
  if (!python) {
    assert.ok(!process.env.CI, "under CI the Python client must run (scripts/test.sh sets MODELBAY_CLIENT_PYTHON)");
    return ctx.skip("MODELBAY_CLIENT_PYTHON not set: run scripts/test.sh");
  }
  await t.client.createModel({ modelId: "f64", spec: classicDenseSpec(4) });
  const script = `
import sys
import numpy as np
from modelbay.client import Client
from modelbay.tensors import to_tensor
from modelbay.v1 import model_service_pb2, tensor_pb2
x = np.random.default_rng(3).random((50, 10)) * 1e3  # float64, as numpy makes it
t = to_tensor(x)
assert t.dtype == tensor_pb2.DATA_TYPE_FLOAT32 and len(t.raw_contents) == 4 * x.size, (t.dtype, len(t.raw_contents))
client = Client(sys.argv[1])
mine = client.predict("f64", x)
# The same rows sent as FLOAT64, narrowed by the server as it always did.
wide = tensor_pb2.Tensor(dtype=tensor_pb2.DATA_TYPE_FLOAT64, shape=x.shape, raw_contents=x.astype("<f8").tobytes())
req = model_service_pb2.PredictRequest(model_id="f64", inputs=[wide], raw_output=True)
out = client.stub.Predict(req).outputs[0]
theirs = np.frombuffer(out.raw_contents, dtype="<f4").reshape(tuple(out.shape))
assert np.array_equal(mine, theirs), np.abs(mine - theirs).max()
print("float64 ok")
`;
  const r = await run(python, ["-c", script, t.server.address], {
    cwd: root,
    env: { PYTHONPATH: path.join(root, "clients/python") },
  });
  assert.equal(r.status, 0, report(r));
  assert.match(r.stdout, /float64 ok/);
});

test("Python client: keras_spec builds a Keras 3 model's to_json() on the server, compiled as asked", async (ctx) => {
  if (!python) {
    assert.ok(!process.env.CI, "under CI the Python client must run (scripts/test.sh sets MODELBAY_CLIENT_PYTHON)");
    return ctx.skip("MODELBAY_CLIENT_PYTHON not set: run scripts/test.sh");
  }
  // keras3_residual.json: model.to_json() of keras3_models.py's residual model, by Keras 3.15.1.
  const script = `
import sys
import numpy as np
import modelbay
from modelbay.v1 import model_pb2
with open(sys.argv[2]) as f:
    topology = f.read()
spec = modelbay.keras_spec(topology, loss="mae", optimizer="sgd", learning_rate=0.01, metrics=["mse"])
try:
    modelbay.keras_spec(topology, loss="hinge")
    raise SystemExit("an unknown loss was accepted")
except ValueError as e:
    assert "unknown loss 'hinge'" in str(e), e
with modelbay.Client(sys.argv[1]) as c:
    info = c.create_model("keras-py", spec)
    assert info.spec.compile.loss == model_pb2.LOSS_MEAN_ABSOLUTE_ERROR, info.spec.compile
    assert info.spec.compile.optimizer.kind == model_pb2.OPTIMIZER_KIND_SGD, info.spec.compile
    y = c.predict("keras-py", np.zeros((4, 10), dtype="float32"))
    assert y.shape == (4, 1), y.shape
    events = c.fit("keras-py", np.random.default_rng(1).random((64, 10)), np.zeros((64, 1)), epochs=1)
    assert events[-1].kind == "completed", events[-1]
print("keras_spec ok")
`;
  const fixture = path.join(root, "test/parity/keras3_residual.json");
  const r = await run(python, ["-c", script, t.server.address, fixture], {
    cwd: root,
    env: { PYTHONPATH: path.join(root, "clients/python") },
  });
  assert.equal(r.status, 0, report(r));
  assert.match(r.stdout, /keras_spec ok/);
});

test("Go client: the example calls Predict and PredictStream and checks order and agreement", async (ctx) => {
  if (process.env.MODELBAY_CLIENT_GO !== "1") {
    assert.ok(!process.env.CI, "under CI the Go client must run (scripts/test.sh sets MODELBAY_CLIENT_GO=1)");
    return ctx.skip("MODELBAY_CLIENT_GO not set: run scripts/test.sh");
  }
  const r = await run("go", ["run", "./cmd/example", "-server", t.server.address], {
    cwd: path.join(root, "clients/go"),
  });
  assert.equal(r.status, 0, report(r));
  assert.match(r.stdout, /Predict 10x10 -> \[10 1\]/);
  assert.match(r.stdout, /PredictStream 20000 rows -> 8 ordered chunks, agreeing with Predict/);
});
