import assert from "node:assert/strict";
import { tensorFromWire } from "../../src/api/tensor-codec.js";
import type { ModelbayClient } from "../../src/cli/client.js";
import type { PredictRequest } from "../../src/gen/modelbay/v1/model_service.js";

export { seededFloats } from "../../src/cli/example-data.js";
export { floatTensor, inlineXY } from "../../src/cli/tensors.js";

/** The first output of `modelId` for `inputs`, as floats. */
export async function predictFloats(
  client: ModelbayClient,
  modelId: string,
  inputs: PredictRequest["inputs"],
): Promise<Float32Array> {
  const res = await client.predict({ modelId, inputs, rawOutput: true });
  assert.ok(res.outputs[0], "an output");
  return tensorFromWire(res.outputs[0], "output", { maxTensorBytes: 1 << 30 }).data as Float32Array;
}
/** |a - g| <= atol + rtol * |g| element-wise; returns the first violation or undefined. */
export function firstMismatch(
  actual: ArrayLike<number>,
  golden: ArrayLike<number>,
  atol: number,
  rtol: number,
): string | undefined {
  if (actual.length !== golden.length) return `length ${actual.length} != ${golden.length}`;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const g = golden[i] as number;
    if (!(Math.abs(a - g) <= atol + rtol * Math.abs(g))) return `element ${i}: ${a} vs ${g}`;
  }
  return undefined;
}
