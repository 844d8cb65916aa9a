// Raw rows that sit unaligned in a large request are moved down in place, over their own field's
// tag and length (src/api/align-in-place.ts), with WebAssembly's memory.copy (src/shared-memory.ts),
// instead of being copied out on the RPC thread.
import assert from "node:assert/strict";
import { test } from "node:test";
import { alignInPlace } from "../src/api/align-in-place.js";
import { rawTensorFromWire, tensorFromWire } from "../src/api/tensor-codec.js";
import { classicDenseSpec } from "../src/cli/example-specs.js";
import type { PredictStreamResponse } from "../src/gen/modelbay/v1/model_service.js";
import { PredictRequest } from "../src/gen/modelbay/v1/model_service.js";
import { PREFIX_BYTES } from "../src/grpc-message-assembly.js";
import { alignedSharedBuffer, moveWithin } from "../src/shared-memory.js";
import { startTestServer } from "./helpers/server.js";
import { firstMismatch, floatTensor, predictFloats, seededFloats } from "./helpers/tensors.js";

const LIMITS = { maxTensorBytes: 1 << 30 };

/** `request` encoded and decoded again from memory made by `allocate`, after a gRPC prefix, as the server gets it. */
function received(request: PredictRequest, allocate: (bytes: number) => ArrayBufferLike) {
  const encoded = PredictRequest.encode(request).finish();
  const message = Buffer.from(allocate(PREFIX_BYTES + encoded.length), 0, PREFIX_BYTES + encoded.length);
  message.set(encoded, PREFIX_BYTES);
  return { req: PredictRequest.decode(message.subarray(PREFIX_BYTES)), message, encoded };
}

test("moveWithin moves overlapping ranges as memmove does, only in memory made to move", () => {
  const size = 2 << 20;
  const memory = Buffer.from(alignedSharedBuffer(size), 0, size);
  const reference = Buffer.alloc(size);
  const values = seededFloats(size / 4, 5);
  memory.set(new Uint8Array(values.buffer));
  reference.set(new Uint8Array(values.buffer));
  for (const [to, from, length] of [
    [0, 3, size - 3],
    [7, 1, 100_000],
    [1_000_001, 1_000_000, 500_000],
    [12, 12, 10],
  ] as const) {
    assert.ok(moveWithin(memory.buffer, to, from, length));
    reference.copyWithin(to, from, from + length);
    assert.ok(memory.equals(reference), `a move of ${length} from ${from} to ${to}`);
  }
  assert.throws(() => moveWithin(memory.buffer, 1, 0, memory.buffer.byteLength), RangeError);
  assert.equal(moveWithin(new SharedArrayBuffer(size), 0, 3, 10), false);
  assert.equal(moveWithin(new ArrayBuffer(size), 0, 3, 10), false);
  // Below 1 MiB, plain shared memory: nothing to gain from a WebAssembly memory.
  assert.equal(moveWithin(alignedSharedBuffer(1000), 0, 3, 10), false);
});

test("unaligned rows of a large request are moved in place, in every layout, and read right again", () => {
  const rows = 30_000; // 1.2 MB
  const values = seededFloats(rows * 10, 7);
  const shifts = new Set<number>();
  for (const modelId of ["a", "ab", "abc", "abcd"]) {
    const request = { modelId, inputs: [floatTensor(values, [rows, 10], true)], rawOutput: false };
    const { req, message } = received(request, alignedSharedBuffer);
    const wire = req.inputs[0] as PredictRequest["inputs"][0];
    const sent = wire.rawContents;
    shifts.add(sent.byteOffset % 4);
    const { data } = tensorFromWire(wire, "inputs[0]", LIMITS);
    assert.equal(firstMismatch(data, values, 0, 0), undefined, `model id ${modelId}`);
    assert.equal(data.buffer, message.buffer, `model id ${modelId}: the rows were copied, not moved`);
    assert.ok(data.byteOffset <= sent.byteOffset && data.byteOffset > sent.byteOffset - 4);
    // The tensor now holds the moved view, so reading it again reads the rows; so does the stream's reader.
    assert.equal(wire.rawContents.byteOffset % 4, 0);
    assert.equal(firstMismatch(tensorFromWire(wire, "inputs[0]", LIMITS).data, values, 0, 0), undefined);
    const streamed = rawTensorFromWire(wire, "rows", LIMITS);
    assert.equal(streamed?.bytes.byteOffset, data.byteOffset);
    // Asked again with the first view, which no longer holds the rows, the answer is the moved view.
    assert.equal(alignInPlace(sent, 4), wire.rawContents);
  }
  assert.deepEqual([...shifts].sort(), [0, 1, 2, 3], "the layouts do not cover every alignment");
});

test("rows in memory that cannot move are copied, and the request's bytes stay as they came", () => {
  const rows = 30_000;
  const values = seededFloats(rows * 10, 8);
  for (const modelId of ["a", "ab", "abc", "abcd"]) {
    const request = { modelId, inputs: [floatTensor(values, [rows, 10], true)], rawOutput: false };
    for (const allocate of [(n: number) => new SharedArrayBuffer(n), (n: number) => new ArrayBuffer(n)]) {
      const { req, message, encoded } = received(request, allocate);
      const wire = req.inputs[0] as PredictRequest["inputs"][0];
      const aligned = wire.rawContents.byteOffset % 4 === 0;
      const { data } = tensorFromWire(wire, "inputs[0]", LIMITS);
      assert.equal(firstMismatch(data, values, 0, 0), undefined);
      assert.equal(data.buffer === message.buffer, aligned);
      assert.ok(message.subarray(PREFIX_BYTES).equals(encoded), "the request's bytes changed");
    }
  }
});

test("bytes move only over their own tag and length, never into the field before", () => {
  const size = 1 << 20;
  const memory = Buffer.from(alignedSharedBuffer(size), 0, size);
  const a = Buffer.alloc(12, 0xaa);
  const b = Buffer.from(seededFloats(3, 9).buffer);
  // Two adjacent bytes fields, as a repeated one is written (KServe's raw_input_contents): the
  // second's header is 2 bytes, so it may move by 1 or 2 but not by 3.
  const fields = Buffer.concat([Buffer.from([0x0a, 12]), a, Buffer.from([0x0a, 12]), b]);
  for (const [start, moves] of [
    [1, true], // b at 17: 1 byte off
    [2, true], // b at 18: 2 bytes off
    [3, false], // b at 19: 3 bytes off
  ] as const) {
    memory.fill(0);
    memory.set(fields, start);
    const before = Buffer.from(memory.subarray(0, 64));
    const at = start + 16;
    const moved = alignInPlace(memory.subarray(at, at + 12), 4);
    assert.equal(moved !== undefined, moves, `b at ${at}`);
    if (moved) {
      assert.equal(moved.byteOffset % 4, 0);
      assert.ok(moved.equals(b));
    } else {
      assert.ok(memory.subarray(0, 64).equals(before), "refused, but memory changed");
    }
    assert.ok(memory.subarray(start + 2, start + 14).equals(a), "the field before was overwritten");
  }
  // Bytes not preceded by their length as an encoder writes it are not moved.
  memory.fill(0);
  memory.set([0x0a, 13, ...b], 0);
  assert.equal(alignInPlace(memory.subarray(2, 14), 4), undefined);
  assert.ok(memory.subarray(2, 14).equals(b));
});

test("large requests in every layout predict what small ones do, unary and streamed", async (t) => {
  const served = await startTestServer({});
  t.after(() => served.close());
  const rows = 30_000;
  const values = seededFloats(rows * 10, 4);
  for (const modelId of ["a", "ab", "abc", "abcd"]) {
    await served.client.createModel({ modelId, spec: classicDenseSpec(3) });
    const all = await predictFloats(served.client, modelId, [floatTensor(values, [rows, 10], true)]);
    const head = await predictFloats(served.client, modelId, [floatTensor(values.subarray(0, 100), [10, 10], true)]);
    const tail = await predictFloats(served.client, modelId, [
      floatTensor(values.subarray((rows - 10) * 10), [10, 10], true),
    ]);
    assert.equal(firstMismatch(all.subarray(0, 10), head, 1e-6, 1e-5), undefined, `model ${modelId}: first rows`);
    assert.equal(firstMismatch(all.subarray(rows - 10), tail, 1e-6, 1e-5), undefined, `model ${modelId}: last rows`);
    const call = served.client.raw.predictStream({
      modelId,
      source: { $case: "rows", rows: floatTensor(values, [rows, 10], true) },
      chunkRows: 7_000,
      startOffset: 0,
      rawOutput: true,
    });
    const streamed = new Float32Array(rows);
    for await (const chunk of call as AsyncIterable<PredictStreamResponse>) {
      const out = chunk.outputs[0] as PredictStreamResponse["outputs"][0];
      streamed.set(tensorFromWire(out, "output", LIMITS).data as Float32Array, chunk.offset);
    }
    assert.equal(firstMismatch(streamed, all, 1e-6, 1e-5), undefined, `model ${modelId}: streamed`);
  }
});
