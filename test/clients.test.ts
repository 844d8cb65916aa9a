// The Python and Go clients, generated from proto/ by scripts/clients.sh, against a live server:
// the Python client runs the three classic recipes end to end, the Go example calls Predict and
// PredictStream. scripts/test.sh generates both clients and names the Python to use.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
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
