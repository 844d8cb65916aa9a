// Incoming gRPC messages are assembled in one buffer as their frames arrive (src/grpc-message-assembly.ts),
// instead of grpc-js's one Buffer.concat of all of them when the last arrives, which held the RPC
// thread 34-38 ms for a 40 MB request. Checked here against grpc-js's own decoder on random streams;
// every gRPC test of the suite also goes through it, since startServer installs it.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { classicDenseSpec } from "../src/cli/example-specs.js";
import { assembleMessagesInPlace, framed, SHARED_FROM, writeInPlace } from "../src/grpc-message-assembly.js";
import { moveWithin } from "../src/shared-memory.js";
import { startTestServer } from "./helpers/server.js";
import { firstMismatch, floatTensor, predictFloats, seededFloats } from "./helpers/tensors.js";

interface Decoder {
  write(data: Buffer): Buffer[];
}
const { StreamDecoder } = createRequire(import.meta.url)("@grpc/grpc-js/build/src/stream-decoder.js") as {
  StreamDecoder: { new (max: number): Decoder; prototype: Decoder };
};
const grpcJsWrite = StreamDecoder.prototype.write;

/** A deterministic generator for the random streams (sfc-like; the test needs no quality). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 2 ** 32;
  };
}

/** Feeds `stream` to a decoder with `write` in the given pieces; the messages out, or the refusal. */
function decode(write: Decoder["write"], stream: Buffer, pieces: number[], max = -1): Buffer[] | string {
  const decoder = new StreamDecoder(max);
  const out: Buffer[] = [];
  try {
    let at = 0;
    for (const piece of pieces) {
      out.push(...write.call(decoder, stream.subarray(at, at + piece)));
      at += piece;
    }
  } catch (e) {
    return (e as Error).message;
  }
  return out;
}

test("startServer's process assembles messages in place, and grpc-js's own decoder stays available by environment", () => {
  assert.equal(assembleMessagesInPlace(), "in-place");
  assert.equal(StreamDecoder.prototype.write, writeInPlace, "the decoder's write was not replaced");
  const kept = execFileSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "-e",
      'import("./src/grpc-message-assembly.ts").then((m) => console.log(m.assembleMessagesInPlace()))',
    ],
    { encoding: "utf8", env: { ...process.env, MODELBAY_GRPC_DECODER: "grpc-js" } },
  );
  assert.equal(kept.trim(), "grpc-js");
});

test("random streams cut at random points decode to exactly what grpc-js's decoder gives", () => {
  const next = random(7);
  for (let round = 0; round < 200; round++) {
    const sizes = Array.from({ length: 1 + Math.floor(next() * 6) }, () => {
      const kind = next();
      return kind < 0.2 ? 0 : kind < 0.6 ? Math.floor(next() * 40) : Math.floor(next() * 300_000);
    });
    const messages = sizes.map((n) => Buffer.from(Uint8Array.from({ length: n }, () => (next() * 256) | 0)));
    const stream = framed(
      messages,
      sizes.map(() => (next() < 0.2 ? 1 : 0)),
    );
    const pieces: number[] = [];
    for (let left = stream.length; left > 0; ) {
      // Pieces of 1-7 bytes cut prefixes apart; HTTP/2 frames are up to 16 KB; some larger.
      const kind = next();
      const piece = Math.min(left, 1 + Math.floor(next() * (kind < 0.3 ? 7 : kind < 0.9 ? 16_384 : 200_000)));
      pieces.push(piece);
      left -= piece;
    }
    const max = round % 4 === 3 ? 100_000 : -1;
    const theirs = decode(grpcJsWrite, stream, pieces, max);
    const ours = decode(writeInPlace, stream, pieces, max);
    assert.deepEqual(ours, theirs, `round ${round}: sizes ${sizes.join(",")}, max ${max}`);
    if (max === -1) assert.equal((ours as Buffer[]).length, messages.length);
  }
});

test("a message of exactly the limit is taken and one byte more is refused, as grpc-js does", () => {
  for (const size of [1000, 1001]) {
    const stream = framed([Buffer.alloc(size, 1)], [0]);
    const ours = decode(writeInPlace, stream, [3, stream.length - 3], 1000);
    assert.deepEqual(ours, decode(grpcJsWrite, stream, [3, stream.length - 3], 1000));
    assert.equal(typeof ours === "string", size > 1000, `a message of ${size} bytes under a limit of 1000`);
  }
});

test("a large message is filled frame by frame, not joined at the end", () => {
  const message = Buffer.alloc(4 << 20, 9);
  const stream = framed([message], [0]);
  const frames = Array.from({ length: Math.ceil(stream.length / 16_384) }, () => 16_384);
  frames[frames.length - 1] = stream.length - 16_384 * (frames.length - 1);
  const concat = Buffer.concat;
  let joined = 0;
  Buffer.concat = (list, length) => {
    joined += length ?? list.reduce((n, b) => n + b.length, 0);
    return concat(list, length);
  };
  try {
    const ours = decode(writeInPlace, stream, frames) as Buffer[];
    assert.equal(joined, 0, "the in-place decoder joined frames with Buffer.concat");
    assert.ok(ours[0]?.equals(stream));
    // From 1 MiB up a message is assembled in shared memory, so that views into it cross to a
    // device thread as they are; a smaller one is not.
    assert.ok(ours[0]?.buffer instanceof SharedArrayBuffer, "a 4 MB message in plain memory");
    // In memory whose bytes move fast, so that unaligned rows can be aligned in place (align-in-place.ts).
    assert.ok(moveWithin(ours[0].buffer, 0, 0, 0), "a 4 MB message in memory that cannot move");
    const small = framed([Buffer.alloc(SHARED_FROM - 1)], [0]);
    assert.ok(!((decode(writeInPlace, small, [small.length]) as Buffer[])[0]?.buffer instanceof SharedArrayBuffer));
    // The check above can fail: grpc-js's own decoder joins the whole message at the end.
    decode(grpcJsWrite, stream, frames);
    assert.ok(joined >= stream.length, `grpc-js's decoder joined ${joined} bytes`);
  } finally {
    Buffer.concat = concat;
  }
});

test("a request of many frames reaches the model intact, and one over the limit is RESOURCE_EXHAUSTED", async (t) => {
  const served = await startTestServer({ maxMessageBytes: 6 << 20 });
  t.after(() => served.close());
  await served.client.createModel({ modelId: "m", spec: classicDenseSpec(1) });
  const rows = 100_000;
  const values = seededFloats(rows * 10, 3);
  // 4 MB of rows: ~250 HTTP/2 frames, assembled in place.
  const all = await predictFloats(served.client, "m", [floatTensor(values, [rows, 10], true)]);
  for (const at of [0, rows - 10]) {
    const some = await predictFloats(served.client, "m", [
      floatTensor(values.subarray(at * 10, (at + 10) * 10), [10, 10], true),
    ]);
    assert.equal(firstMismatch(all.subarray(at, at + 10), some, 1e-6, 1e-5), undefined, `rows ${at}..${at + 9}`);
  }
  const tooMany = 7 << 16;
  await assert.rejects(
    served.client.predict({
      modelId: "m",
      inputs: [floatTensor(new Float32Array(tooMany * 10), [tooMany, 10], true)],
      rawOutput: true,
    }),
    (e: grpc.ServiceError) => e.code === grpc.status.RESOURCE_EXHAUSTED && /larger than max/.test(e.details),
  );
  // The server still serves after the refusal.
  const again = await predictFloats(served.client, "m", [floatTensor(values.subarray(0, 10), [1, 10], true)]);
  assert.equal(firstMismatch(again, all.subarray(0, 1), 1e-6, 1e-5), undefined);
});

test("large requests (assembled in shared memory) predict right with batching on, and their non-finite values are reported", async (t) => {
  const served = await startTestServer({ batchMaxRows: 100_000, batchDelayMs: 20 });
  t.after(() => served.close());
  await served.client.createModel({ modelId: "m", spec: { ...classicDenseSpec(1), reportNonFinite: true } });
  const rows = 40_000; // 1.6 MB a request
  const a = seededFloats(rows * 10, 1);
  const b = seededFloats(rows * 10, 2);
  b[5] = Number.NaN;
  const [outA, resB] = await Promise.all([
    predictFloats(served.client, "m", [floatTensor(a, [rows, 10], true)]),
    served.client.predict({ modelId: "m", inputs: [floatTensor(b, [rows, 10], true)], rawOutput: false }),
  ]);
  const small = await predictFloats(served.client, "m", [floatTensor(a.subarray(0, 100), [10, 10], true)]);
  assert.equal(firstMismatch(outA.subarray(0, 10), small, 1e-6, 1e-5), undefined);
  assert.equal(resB.outputs[0]?.floatValues.length, rows);
  assert.deepEqual(resB.nonFinite?.inputs[0], { name: "input", nanCount: 1, infCount: 0 });
});
