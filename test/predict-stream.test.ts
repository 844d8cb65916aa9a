// PredictStream over real gRPC: ordered chunks that match unary Predict, resume by offset, data
// files confined to the data root, and a producer held back by a slow or cancelling reader.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { writeNpy } from "../src/datasets/npy.js";
import type { PredictStreamRequest, PredictStreamResponse } from "../src/gen/modelbay/v1/model_service.js";
import { startTestServer, type TestServer, tempDir } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { firstMismatch, floatTensor, seededFloats } from "./helpers/tensors.js";

let t: TestServer;
let dataDir: string;
const ROWS = 10_000;
const rows = seededFloats(ROWS * 10, 2);
let expected: number[];

before(async () => {
  dataDir = tempDir();
  t = await startTestServer({ dataDir });
  await t.client.createModel({ modelId: "s", spec: denseSpec(3) });
  expected =
    (await t.client.predict({ modelId: "s", inputs: [floatTensor(rows, [ROWS, 10], true)], rawOutput: false }))
      .outputs[0]?.floatValues ?? [];
  const npyBytes = writeNpy({ dtype: "float32", shape: [ROWS, 10], data: rows });
  fs.writeFileSync(path.join(dataDir, "rows.npy"), npyBytes);
  // The same rows as float64, which the server narrows to float32 on the way.
  const head = npyBytes
    .subarray(0, npyBytes.length - rows.byteLength)
    .toString("latin1")
    .replace("'<f4'", "'<f8'");
  fs.writeFileSync(
    path.join(dataDir, "rows64.npy"),
    Buffer.concat([Buffer.from(head, "latin1"), Buffer.from(Float64Array.from(rows).buffer)]),
  );
  const header = Array.from({ length: 10 }, (_, i) => `f${i}`).join(",");
  const lines = Array.from({ length: 50 }, (_, r) => Array.from(rows.subarray(r * 10, r * 10 + 10)).join(","));
  fs.writeFileSync(path.join(dataDir, "rows.csv"), `${header}\n${lines.join("\n")}\n`);
  fs.writeFileSync(path.join(dataDir, "bad.csv"), `${header}\n${lines[0]}\n1,2,3\n`);
  fs.symlinkSync("/etc/hostname", path.join(dataDir, "escape.npy"));
  const npy = fs.readFileSync(path.join(dataDir, "rows.npy"));
  fs.writeFileSync(path.join(dataDir, "truncated.npy"), npy.subarray(0, npy.length / 2));
  fs.writeFileSync(path.join(dataDir, "not.npy"), "just text, long enough to hold a header");
});
after(async () => {
  await t.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function request(overrides: Partial<PredictStreamRequest>): PredictStreamRequest {
  return {
    modelId: "s",
    source: { $case: "rows", rows: floatTensor(rows, [ROWS, 10], true) },
    chunkRows: 1024,
    startOffset: 0,
    rawOutput: false,
    ...overrides,
  };
}

async function readAll(req: PredictStreamRequest): Promise<PredictStreamResponse[]> {
  const out: PredictStreamResponse[] = [];
  for await (const chunk of t.client.raw.predictStream(req) as AsyncIterable<PredictStreamResponse>) out.push(chunk);
  return out;
}

test("chunks arrive in order with their offsets and match unary Predict", async () => {
  const chunks = await readAll(request({}));
  assert.deepEqual(
    chunks.map((c) => c.offset),
    Array.from({ length: Math.ceil(ROWS / 1024) }, (_, i) => i * 1024),
  );
  assert.ok(chunks.every((c) => c.totalRows === ROWS));
  assert.deepEqual(chunks.at(-1)?.outputs[0]?.shape, [ROWS % 1024, 1]);
  const values = chunks.flatMap((c) => c.outputs[0]?.floatValues ?? []);
  assert.equal(firstMismatch(values, expected, 1e-6, 1e-5), undefined);
});

test("start_offset resumes where a lost stream stopped", async () => {
  const chunks = await readAll(request({ startOffset: 3000, chunkRows: 2500 }));
  assert.deepEqual(
    chunks.map((c) => c.offset),
    [3000, 5500, 8000],
  );
  const values = chunks.flatMap((c) => c.outputs[0]?.floatValues ?? []);
  assert.equal(firstMismatch(values, expected.slice(3000), 1e-6, 1e-5), undefined);
  await assert.rejects(readAll(request({ startOffset: ROWS + 1 })), { code: grpc.status.OUT_OF_RANGE });
});

test("a .npy and a .csv under the data root stream like inline rows", async () => {
  const npy = await readAll(request({ source: { $case: "dataPath", dataPath: "rows.npy" }, chunkRows: 4096 }));
  assert.equal(
    firstMismatch(
      npy.flatMap((c) => c.outputs[0]?.floatValues ?? []),
      expected,
      1e-6,
      1e-5,
    ),
    undefined,
  );
  // More chunks than the server keeps buffers for, so each buffer is refilled several times; and
  // float64 rows, which cannot be read in place.
  for (const dataPath of ["rows.npy", "rows64.npy"]) {
    const chunks = await readAll(request({ source: { $case: "dataPath", dataPath }, chunkRows: 999 }));
    assert.equal(chunks.length, Math.ceil(ROWS / 999));
    const values = chunks.flatMap((c) => c.outputs[0]?.floatValues ?? []);
    assert.equal(firstMismatch(values, expected, 1e-6, 1e-5), undefined, dataPath);
  }
  const csv = await readAll(request({ source: { $case: "dataPath", dataPath: "rows.csv" } }));
  assert.equal(csv[0]?.totalRows, 50);
  assert.equal(firstMismatch(csv[0]?.outputs[0]?.floatValues ?? [], expected.slice(0, 50), 1e-5, 1e-4), undefined);
});

for (const [name, dataPath, details] of [
  ["a path that climbs out", "../rows.npy", /without "\.\."/],
  ["an absolute path", "/etc/passwd", /must be a relative path/],
  ["a symlink that leads out", "escape.npy", /leads outside the data root/],
  ["a missing file", "nope.npy", /does not exist/],
  ["a CSV with a bad row", "bad.csv", /line 3: 3 cells, the header has 10/],
  ["a truncated .npy", "truncated.npy", /truncated: the file holds \d+ bytes of data, shape needs 400000/],
  ["a file that is not .npy", "not.npy", /not a \.npy file/],
] as const) {
  test(`${name} is INVALID_ARGUMENT`, async () => {
    await assert.rejects(readAll(request({ source: { $case: "dataPath", dataPath } })), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
      assert.match(err.details, /^data_path: /);
      assert.match(err.details, details);
      return true;
    });
  });
}

test("a reader that pauses holds the producer back, and cancelling stops it", async () => {
  await t.client.createModel({ modelId: "slow", spec: denseSpec(3) });
  const model = t.server.sessions.get("slow").model;
  const original = model.predict.bind(model);
  let computed = 0;
  model.predict = (input) => {
    computed++;
    return original(input);
  };
  const big = seededFloats(400_000 * 10, 9);
  const chunkRows = 4096; // 16 KiB of raw output per chunk; 98 chunks in all
  const call = t.client.raw.predictStream(
    request({
      modelId: "slow",
      source: { $case: "rows", rows: floatTensor(big, [400_000, 10], true) },
      chunkRows,
      rawOutput: true,
    }),
  );
  let received = 0;
  await new Promise<void>((resolve) => {
    call.on("data", () => {
      received++;
      if (received === 2) {
        call.pause();
        resolve();
      }
    });
  });
  await new Promise((r) => setTimeout(r, 500));
  const whilePaused = computed;
  // Bounded by what the transport holds: the client's 16-message buffer, the HTTP/2 window and the
  // server's two messages in flight; nowhere near the 98 chunks of the request.
  assert.ok(whilePaused <= received + 24, `computed ${whilePaused} of 98 chunks while the reader was paused`);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(computed, whilePaused, "the producer kept computing while the reader was paused");
  call.on("error", (err: grpc.ServiceError) => assert.equal(err.code, grpc.status.CANCELLED));
  call.cancel();
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(computed <= whilePaused + 1, `computed ${computed} after cancel`);
  assert.equal(await t.client.health(), "SERVING");
});

/** Reads a stream's first chunk, runs `meanwhile` with the stream paused, then reads the rest. */
async function readAround(req: PredictStreamRequest, meanwhile: () => Promise<void>) {
  const call = t.client.raw.predictStream(req);
  const values: number[] = [];
  let chunks = 0;
  let first!: () => void;
  const firstArrived = new Promise<void>((resolve) => (first = resolve));
  const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
    call.on("data", (chunk: PredictStreamResponse) => {
      chunks++;
      values.push(...(chunk.outputs[0]?.floatValues ?? []));
      if (chunks === 1) {
        call.pause();
        first();
      }
    });
    call.on("error", resolve);
    call.on("end", () => resolve(undefined));
  });
  await firstArrived;
  await meanwhile();
  call.resume();
  return { err: await ended, values };
}

for (const change of ["deleted", "replaced"] as const) {
  test(`a stream in flight finishes on the model it started with when that model is ${change}`, async () => {
    const tensorsBefore = (await t.server.sessions.engine.memory()).numTensors;
    // The same spec and seed as "s": the same weights, so the same outputs.
    await t.client.createModel({ modelId: change, spec: denseSpec(3) });
    await t.client.createModel({ modelId: `${change}-other`, spec: denseSpec(5) });
    const other = await t.client.checkpoint({ modelId: `${change}-other` });
    const { err, values } = await readAround(request({ modelId: change, chunkRows: 100 }), async () => {
      if (change === "deleted") await t.client.deleteModel({ modelId: change, deleteCheckpoints: false });
      else {
        await t.client.restore({
          source: { $case: "checkpoint", checkpoint: { modelId: `${change}-other`, checkpointId: "latest" } },
          targetModelId: change,
          resume: false,
        });
      }
    });
    assert.equal(err, undefined, `the stream ended with ${err?.code} ${err?.details}`);
    assert.equal(firstMismatch(values, expected, 1e-6, 1e-6), undefined);
    if (change === "replaced") {
      // New calls get the model that replaced it.
      const now = await t.client.predict({
        modelId: change,
        inputs: [floatTensor(rows.subarray(0, 10), [1, 10])],
        rawOutput: false,
      });
      assert.notEqual(now.outputs[0]?.floatValues[0], expected[0]);
      await t.client.deleteModel({ modelId: change, deleteCheckpoints: false });
    }
    await t.client.deleteModel({ modelId: `${change}-other`, deleteCheckpoints: true });
    assert.ok(other.checkpoint);
    // Once the stream let go of it, the old model's memory is freed.
    assert.equal((await t.server.sessions.engine.memory()).numTensors, tensorsBefore);
  });
}

test("a model deleted under a stream is freed when the stream is cancelled", async () => {
  const tensorsBefore = (await t.server.sessions.engine.memory()).numTensors;
  await t.client.createModel({ modelId: "cancelled", spec: denseSpec(3) });
  const call = t.client.raw.predictStream(request({ modelId: "cancelled", chunkRows: 100 }));
  call.on("error", (err: grpc.ServiceError) => assert.equal(err.code, grpc.status.CANCELLED));
  await new Promise<void>((resolve) =>
    call.once("data", () => {
      call.pause();
      resolve();
    }),
  );
  await t.client.deleteModel({ modelId: "cancelled", deleteCheckpoints: false });
  assert.ok((await t.server.sessions.engine.memory()).numTensors > tensorsBefore, "held while the stream runs");
  call.cancel();
  for (let waited = 0; waited < 5000; waited += 50) {
    if ((await t.server.sessions.engine.memory()).numTensors === tensorsBefore) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal((await t.server.sessions.engine.memory()).numTensors, tensorsBefore);
});

test("tensors do not leak across streams", async () => {
  await readAll(request({ chunkRows: 2000 }));
  const before = (await t.server.sessions.engine.memory()).numTensors;
  for (let i = 0; i < 3; i++) await readAll(request({ chunkRows: 2000, rawOutput: true }));
  assert.equal((await t.server.sessions.engine.memory()).numTensors, before);
});

test("a deadline far ahead lets the stream finish; one that passes ends it with DEADLINE_EXCEEDED", async () => {
  // grpc-js hands a server the client's deadline as absolute epoch milliseconds (found by the
  // Python client, whose every call carries one): it must not be read as a duration.
  const read = (deadline: number) =>
    new Promise<{ chunks: number; err?: grpc.ServiceError }>((resolve) => {
      let chunks = 0;
      const call = t.client.raw.predictStream(request({ chunkRows: 100 }), new grpc.Metadata(), { deadline });
      call.on("data", () => {
        chunks++;
        // A slow reader: the stream outlives a short deadline.
        call.pause();
        setTimeout(() => call.resume(), 5);
      });
      call.on("error", (err: grpc.ServiceError) => resolve({ chunks, err }));
      call.on("end", () => resolve({ chunks }));
    });
  const far = await read(Date.now() + 120_000);
  assert.equal(far.err, undefined, far.err?.details);
  assert.equal(far.chunks, ROWS / 100);
  const near = await read(Date.now() + 100);
  assert.equal(near.err?.code, grpc.status.DEADLINE_EXCEEDED);
  assert.ok(near.chunks < ROWS / 100, `${near.chunks} chunks`);
});
