export { floatTensor } from "../../src/cli/tensors.js";
/** Deterministic pseudo-random floats in [-1, 1). */
export function seededFloats(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
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
