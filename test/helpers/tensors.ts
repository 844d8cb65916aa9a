export { seededFloats } from "../../src/cli/example-data.js";
export { floatTensor } from "../../src/cli/tensors.js";
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
