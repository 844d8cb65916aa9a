// The table of requests in flight by id (src/compute/worker/id-table.ts): what a Map did for the
// device worker's client, without a Map's hash tables.
import assert from "node:assert/strict";
import { test } from "node:test";
import { IdTable } from "../src/compute/worker/id-table.js";

test("an IdTable keeps, finds, takes and forgets values by id", () => {
  const table = new IdTable<string>();
  assert.equal(table.size, 0);
  for (let id = 1; id <= 1000; id++) table.set(id, `v${id}`);
  table.set(7, "seven");
  assert.equal(table.size, 1000, "setting an id again does not count it twice");
  assert.equal(table.get(7), "seven");
  assert.equal(table.take(7), "seven");
  assert.equal(table.take(7), undefined, "a taken id is gone");
  assert.equal(table.has(7), false);
  assert.equal(table.get(7), undefined);
  assert.equal(table.size, 999);
  for (let id = 1; id <= 990; id++) table.take(id);
  assert.deepEqual(
    table.values().sort(),
    ["v991", "v992", "v993", "v994", "v995", "v996", "v997", "v998", "v999", "v1000"].sort(),
  );
  // Ids keep growing in a long-running server: large ones work like small ones.
  table.set(2 ** 40, "far");
  assert.equal(table.get(2 ** 40), "far");
  assert.equal(table.size, 11);
  table.clear();
  assert.equal(table.size, 0);
  assert.deepEqual(table.values(), []);
});
