// The training data order comes from the job's PRNG and is replayed from a checkpoint's state, so
// the permutation must draw exactly as Fisher-Yates over below() does; it runs on the RPC thread
// once per epoch, so a large one must leave the event loop free between blocks of rows.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Prng } from "../src/training/prng.js";

function fisherYates(prng: Prng, n: number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = prng.below(i + 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}

test("a permutation draws as Fisher-Yates over below() and leaves the same state", async () => {
  for (const n of [0, 1, 2, 17, 65_536]) {
    const a = Prng.fromSeed(7);
    const b = Prng.fromSeed(7);
    assert.deepEqual(await a.permutation(n), fisherYates(b, n), `n ${n}`);
    assert.deepEqual(a.state(), b.state(), `state after n ${n}`);
  }
});

test("a large permutation lets other callbacks run before it is done", async () => {
  let ran = 0;
  const tick = () => {
    ran++;
    if (!done) setImmediate(tick);
  };
  let done = false;
  setImmediate(tick);
  await Prng.fromSeed(1).permutation(65_536);
  const ranWhileDrawing = ran;
  done = true;
  // 65,536 rows are eight blocks: the loop got a turn between them.
  assert.ok(ranWhileDrawing >= 4, `other callbacks ran ${ranWhileDrawing} times while drawing`);
});
