// Seeded example data for the classic regression model: used by the demo and the tests.

/** Deterministic pseudo-random floats in [-1, 1) from a 32-bit LCG. */
export function seededFloats(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** 10 features per row; y = a fixed linear map of x plus sin(3 * x0). */
export function regressionData(rows: number, seed = 3): { x: Float32Array; y: Float32Array } {
  const x = seededFloats(rows * 10, seed);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < 10; j++) s += (j % 2 ? 0.5 : -1) * (x[r * 10 + j] as number);
    y[r] = s + Math.sin(3 * (x[r * 10] as number));
  }
  return { x, y };
}
