// Unary Predict over real gRPC: typed and raw tensors give the model's own answer, bad inputs get
// a status naming the problem, and tensors do not leak across requests.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { specFromWire } from "../src/api/spec-codec.js";
import { predictOne } from "../src/compute/engine.js";
import type { PredictStreamResponse } from "../src/gen/modelbay/v1/model_service.js";
import { DataType, type Tensor } from "../src/gen/modelbay/v1/tensor.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { firstMismatch, floatTensor, seededFloats } from "./helpers/tensors.js";

let t: TestServer;
let expected: Float32Array;
const rows = seededFloats(10 * 10, 5);
before(async () => {
  t = await startTestServer({ maxTensorBytes: 1024 * 1024 });
  await t.client.createModel({ modelId: "seed", spec: denseSpec(11) });
  // The same seeded spec built directly through the compute seam is the reference.
  const reference = await t.server.sessions.engine.buildModel(specFromWire(denseSpec(11)));
  expected = (await predictOne(reference, { dtype: "float32", shape: [10, 10], data: rows })).data as Float32Array;
  reference.dispose();
});
after(() => t.close());

for (const raw of [false, true]) {
  test(`${raw ? "raw bytes" : "typed values"} in and out give the model's predictions`, async () => {
    const res = await t.client.predict({ modelId: "seed", inputs: [floatTensor(rows, [10, 10], raw)], rawOutput: raw });
    const out = res.outputs[0] as Tensor;
    assert.equal(out.name, "output");
    assert.deepEqual(out.shape, [10, 1]);
    const values = raw
      ? new Float32Array(
          out.rawContents.buffer.slice(
            out.rawContents.byteOffset,
            out.rawContents.byteOffset + out.rawContents.byteLength,
          ),
        )
      : out.floatValues;
    assert.equal(firstMismatch(values, expected, 1e-6, 1e-5), undefined);
  });
}

test("an input named after the model's input is accepted", async () => {
  const res = await t.client.predict({
    modelId: "seed",
    inputs: [floatTensor(rows, [10, 10], true, "input")],
    rawOutput: false,
  });
  assert.equal(firstMismatch(res.outputs[0]?.floatValues ?? [], expected, 1e-6, 1e-5), undefined);
});

test("float64 raw input is converted to float32", async () => {
  const f64 = Float64Array.from(rows);
  const input: Tensor = {
    ...floatTensor(rows, [10, 10]),
    dtype: DataType.DATA_TYPE_FLOAT64,
    floatValues: [],
    rawContents: Buffer.from(f64.buffer),
  };
  const res = await t.client.predict({ modelId: "seed", inputs: [input], rawOutput: false });
  assert.equal(firstMismatch(res.outputs[0]?.floatValues ?? [], expected, 1e-6, 1e-5), undefined);
});

const bad: { name: string; input: () => Tensor; code: grpc.status; details: RegExp }[] = [
  {
    name: "wrong dtype",
    input: () => ({
      ...floatTensor(rows, [10, 10]),
      dtype: DataType.DATA_TYPE_INT32,
      floatValues: [],
      int32Values: Array(100).fill(1),
    }),
    code: grpc.status.INVALID_ARGUMENT,
    details: /inputs\[0\] \("input"\): dtype int32 does not match the model's float32/,
  },
  {
    name: "wrong rank",
    input: () => floatTensor(rows, [10, 10, 1]),
    code: grpc.status.INVALID_ARGUMENT,
    details: /rank 3 .* does not match the model's rank 2/,
  },
  {
    name: "wrong feature width",
    input: () => floatTensor(rows, [20, 5]),
    code: grpc.status.INVALID_ARGUMENT,
    details: /shape \[20, 5\] does not match the model's \[-1, 10\] at dimension 1/,
  },
  {
    name: "batch dimension 0",
    input: () => floatTensor(new Float32Array(0), [0, 10]),
    code: grpc.status.INVALID_ARGUMENT,
    details: /batch dimension is 0/,
  },
  {
    name: "values that do not fill the shape",
    input: () => floatTensor(rows.subarray(0, 90), [10, 10]),
    code: grpc.status.INVALID_ARGUMENT,
    details: /has 90 values but shape \[10, 10\] holds 100/,
  },
  {
    name: "raw bytes that do not match the shape",
    input: () => floatTensor(rows.subarray(0, 99), [10, 10], true),
    code: grpc.status.INVALID_ARGUMENT,
    details: /raw_contents: has 396 bytes but shape \[10, 10\] of float32 needs 400/,
  },
  {
    name: "both raw and typed values",
    input: () => ({ ...floatTensor(rows, [10, 10]), rawContents: Buffer.alloc(400) }),
    code: grpc.status.INVALID_ARGUMENT,
    details: /either raw_contents or typed values/,
  },
  {
    name: "no dtype",
    input: () => ({ ...floatTensor(rows, [10, 10]), dtype: DataType.DATA_TYPE_UNSPECIFIED }),
    code: grpc.status.INVALID_ARGUMENT,
    details: /inputs\[0\]\.dtype: is required/,
  },
  {
    name: "a tensor over the size limit",
    input: () => floatTensor(new Float32Array(0), [1_000_000, 10], true),
    code: grpc.status.RESOURCE_EXHAUSTED,
    details: /40000000 bytes exceeds the server's max_tensor_bytes limit of 1048576/,
  },
  {
    name: "an unknown input name",
    input: () => floatTensor(rows, [10, 10], false, "features"),
    code: grpc.status.INVALID_ARGUMENT,
    details: /no input named "input" \(got "features"\)/,
  },
];

for (const c of bad) {
  test(`${c.name} gets ${grpc.status[c.code]} and the server keeps serving`, async () => {
    await assert.rejects(
      t.client.predict({ modelId: "seed", inputs: [c.input()], rawOutput: false }),
      (err: grpc.ServiceError) => {
        assert.equal(err.code, c.code, err.details);
        assert.match(err.details, c.details);
        return true;
      },
    );
    assert.equal(await t.client.health(), "SERVING");
  });
}

test("NaN and Inf inputs are computed, not rejected; a model whose spec asks reports their counts", async () => {
  const withNaN = rows.slice();
  withNaN[0] = Number.NaN;
  withNaN[11] = Number.POSITIVE_INFINITY;
  withNaN[12] = Number.NEGATIVE_INFINITY;
  const request = (modelId: string) => ({ modelId, inputs: [floatTensor(withNaN, [10, 10])], rawOutput: false });
  const silent = await t.client.predict(request("seed"));
  assert.deepEqual(silent.outputs[0]?.shape, [10, 1]);
  assert.equal(silent.nonFinite, undefined, "not asked for, not reported");

  await t.client.createModel({ modelId: "reporting", spec: { ...denseSpec(11), reportNonFinite: true } });
  assert.equal((await t.client.getModel({ modelId: "reporting" })).model?.spec?.reportNonFinite, true);
  const res = await t.client.predict(request("reporting"));
  const out = res.outputs[0]?.floatValues ?? [];
  assert.equal(out.filter((v) => !Number.isFinite(v)).length, 2, "rows 0 and 1 carry the bad values through");
  assert.deepEqual(res.nonFinite?.inputs, [{ name: "input", nanCount: 1, infCount: 2 }]);
  assert.deepEqual(res.nonFinite?.outputs, [
    {
      name: "output",
      nanCount: out.filter((v) => Number.isNaN(v)).length,
      infCount: out.filter((v) => Math.abs(v) === Number.POSITIVE_INFINITY).length,
    },
  ]);

  // PredictStream reports per chunk: only the first of two 5-row chunks holds the bad rows.
  const chunks: PredictStreamResponse[] = [];
  const stream = t.client.raw.predictStream({
    modelId: "reporting",
    source: { $case: "rows", rows: floatTensor(withNaN, [10, 10]) },
    chunkRows: 5,
    startOffset: 0,
    rawOutput: false,
  });
  for await (const chunk of stream as AsyncIterable<PredictStreamResponse>) chunks.push(chunk);
  assert.deepEqual(
    chunks.map((c) => c.nonFinite?.inputs),
    [[{ name: "input", nanCount: 1, infCount: 2 }], [{ name: "input", nanCount: 0, infCount: 0 }]],
  );
  assert.deepEqual(chunks[0]?.nonFinite?.outputs, res.nonFinite?.outputs);
});

test("unknown model is NOT_FOUND; a model id with path characters is INVALID_ARGUMENT", async () => {
  await assert.rejects(t.client.predict({ modelId: "nope", inputs: [floatTensor(rows, [10, 10])], rawOutput: false }), {
    code: grpc.status.NOT_FOUND,
  });
  await assert.rejects(t.client.predict({ modelId: "a/b", inputs: [floatTensor(rows, [10, 10])], rawOutput: false }), {
    code: grpc.status.INVALID_ARGUMENT,
  });
});

test("live tensors do not grow across requests", async () => {
  const call = () =>
    t.client.predict({ modelId: "seed", inputs: [floatTensor(rows, [10, 10], true)], rawOutput: true });
  await call();
  const before = (await t.server.sessions.engine.memory()).numTensors;
  for (let i = 0; i < 20; i++) await call();
  assert.equal((await t.server.sessions.engine.memory()).numTensors, before);
});
