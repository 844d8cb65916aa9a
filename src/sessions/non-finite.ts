// NaN and infinity counts of a prediction's tensors, for models whose spec asks for them
// (report_non_finite): such values are accepted, and a caller can still see they went in or came out.

import type { TensorData } from "../compute/tensor-data.js";
import type { NamedTensor } from "./input-check.js";

export interface NonFiniteCount {
  name: string;
  nan: number;
  inf: number;
}

export interface NonFiniteReport {
  inputs: NonFiniteCount[];
  outputs: NonFiniteCount[];
}

function countTensor(name: string, t: TensorData): NonFiniteCount {
  const count = { name, nan: 0, inf: 0 };
  // Only floating-point tensors can hold them; reading every element is why the report is opt-in.
  if (t.dtype !== "float32") return count;
  for (const v of t.data) {
    if (v - v === 0) continue; // finite: the common case, one comparison
    if (Number.isNaN(v)) count.nan++;
    else count.inf++;
  }
  return count;
}

export function nonFiniteReport(inputs: readonly NamedTensor[], outputs: readonly NamedTensor[]): NonFiniteReport {
  return {
    inputs: inputs.map((t) => countTensor(t.name, t.tensor)),
    outputs: outputs.map((t) => countTensor(t.name, t.tensor)),
  };
}
