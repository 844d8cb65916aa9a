// Compares predictions with goldens: |actual - expected| <= atol + rtol * |expected| element-wise.
import type { TensorData } from "../compute/tensor-data.js";

export interface OutputCheckResult {
  name: string;
  maxAbsError: number;
  maxRelError: number;
  mismatches: number;
  passed: boolean;
  /** Why the check failed before comparing values (e.g. a shape mismatch). */
  problem?: string;
}

export function compareOutput(
  name: string,
  actual: TensorData,
  expected: TensorData,
  atol: number,
  rtol: number,
): OutputCheckResult {
  const fail = (problem: string): OutputCheckResult => ({
    name,
    maxAbsError: Number.POSITIVE_INFINITY,
    maxRelError: Number.POSITIVE_INFINITY,
    mismatches: expected.data.length,
    passed: false,
    problem,
  });
  if (actual.shape.join(",") !== expected.shape.join(",")) {
    return fail(`shape [${actual.shape.join(", ")}] differs from the golden [${expected.shape.join(", ")}]`);
  }
  let maxAbs = 0;
  let maxRel = 0;
  let mismatches = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i] as number;
    const g = expected.data[i] as number;
    const abs = Math.abs(a - g);
    // NaN compares false everywhere, so count it explicitly.
    if (Number.isNaN(abs) && !(Number.isNaN(a) && Number.isNaN(g))) {
      mismatches++;
      maxAbs = Number.POSITIVE_INFINITY;
      continue;
    }
    if (abs > maxAbs) maxAbs = abs;
    if (g !== 0 && abs / Math.abs(g) > maxRel) maxRel = abs / Math.abs(g);
    if (abs > atol + rtol * Math.abs(g)) mismatches++;
  }
  return { name, maxAbsError: maxAbs, maxRelError: maxRel, mismatches, passed: mismatches === 0 };
}
