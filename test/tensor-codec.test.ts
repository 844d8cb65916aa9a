// Raw int64 narrowed to int32 is read as int32 halves (a value fits when its high half is its low
// half's sign): exact at both ends of int32, refused one past them, wherever the bytes sit.
import assert from "node:assert/strict";
import { test } from "node:test";
import { tensorFromWire } from "../src/api/tensor-codec.js";
import type { ModelbayError } from "../src/errors.js";
import { DataType, type Tensor } from "../src/gen/modelbay/v1/tensor.js";
import { floatTensor } from "./helpers/tensors.js";

const LIMITS = { maxTensorBytes: 1 << 20 };

/** An INT64 tensor of `values` as raw bytes starting `offset` bytes into their buffer. */
function int64Tensor(values: bigint[], offset = 0): Tensor {
  const bytes = Buffer.alloc(offset + 8 * values.length).subarray(offset);
  for (const [i, v] of values.entries()) bytes.writeBigInt64LE(v, 8 * i);
  return {
    ...floatTensor(new Float32Array(0), [values.length], true),
    dtype: DataType.DATA_TYPE_INT64,
    rawContents: bytes,
  };
}

test("raw int64 values that fit in int32 come through exactly, aligned or not", () => {
  const values = [0n, -1n, 1n, 2147483647n, -2147483648n, 65536n, -65537n, 123456789n];
  for (const offset of [0, 1, 4]) {
    const { dtype, data } = tensorFromWire(int64Tensor(values, offset), "inputs[0]", LIMITS);
    assert.equal(dtype, "int32");
    assert.deepEqual([...data], values.map(Number), `offset ${offset}`);
  }
});

test("raw int64 values past int32 are refused with the value and its element", () => {
  for (const big of [2147483648n, -2147483649n, 2n ** 40n, -(2n ** 40n), 2n ** 63n - 1n, 4294967295n]) {
    assert.throws(
      () => tensorFromWire(int64Tensor([5n, big]), "inputs[0]", LIMITS),
      (e: ModelbayError) =>
        e.message.includes(`int64 value ${big} at element 1 does not fit in int32`) &&
        e.message.includes("inputs[0].raw_contents"),
      String(big),
    );
  }
});

test("typed int64 values are narrowed the same way", () => {
  const typed = {
    ...int64Tensor([]),
    shape: [3],
    rawContents: Buffer.alloc(0),
    int64Values: [7, -2147483648, 2147483647],
  };
  assert.deepEqual([...tensorFromWire(typed, "inputs[0]", LIMITS).data], [7, -2147483648, 2147483647]);
  assert.throws(
    () => tensorFromWire({ ...typed, int64Values: [1, 2, 2147483648] }, "inputs[0]", LIMITS),
    /int64 value 2147483648 at element 2 does not fit in int32/,
  );
});
