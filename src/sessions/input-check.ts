// Checks Predict inputs against a model's signature before any compute runs.
import { emptyAxisProblem, type TensorData, type TensorSignature } from "../compute/tensor-data.js";
import { invalidArgument } from "../errors.js";

export interface NamedTensor {
  name: string;
  tensor: TensorData;
}

const fmt = (shape: readonly number[]) => `[${shape.join(", ")}]`;

/** Returns the tensor for each model input, in the model's order, or throws INVALID_ARGUMENT. */
export function matchInputs(signatures: readonly TensorSignature[], inputs: readonly NamedTensor[]): TensorData[] {
  if (inputs.length !== signatures.length) {
    throw invalidArgument(
      "inputs",
      `the model takes ${signatures.length} input(s) (${signatures.map((s) => `"${s.name}"`).join(", ")}), got ${inputs.length}`,
    );
  }
  const matched = signatures.map((sig, i) => {
    const index = inputs.length === 1 && inputs[0]?.name === "" ? 0 : inputs.findIndex((t) => t.name === sig.name);
    const given = inputs[index];
    if (!given) {
      const names = inputs.map((t) => `"${t.name}"`).join(", ");
      throw invalidArgument(`inputs[${i}].name`, `no input named "${sig.name}" (got ${names})`);
    }
    checkAgainst(sig, given.tensor, `inputs[${index}] ("${sig.name}")`);
    return given.tensor;
  });
  // Row i of every input makes example i: a model of several inputs needs as many rows in each.
  const rows = matched.map((t) => t.shape[0]);
  if (rows.some((n) => n !== rows[0])) {
    const counts = signatures.map((sig, i) => `"${sig.name}" ${rows[i]}`).join(", ");
    throw invalidArgument(
      "inputs",
      `the inputs must have the same number of rows (the batch dimension); got ${counts}`,
    );
  }
  return matched;
}

function checkAgainst(sig: TensorSignature, t: TensorData, field: string): void {
  if (t.dtype !== sig.dtype) throw invalidArgument(field, `dtype ${t.dtype} does not match the model's ${sig.dtype}`);
  if (t.shape.length !== sig.shape.length) {
    throw invalidArgument(
      field,
      `rank ${t.shape.length} (shape ${fmt(t.shape)}) does not match the model's rank ${sig.shape.length} (shape ${fmt(sig.shape)})`,
    );
  }
  if (t.shape[0] === 0) throw invalidArgument(field, "batch dimension is 0; send at least one row");
  const empty = emptyAxisProblem(t.shape);
  if (empty) throw invalidArgument(field, empty);
  sig.shape.forEach((want, d) => {
    if (want !== -1 && t.shape[d] !== want) {
      throw invalidArgument(
        field,
        `shape ${fmt(t.shape)} does not match the model's ${fmt(sig.shape)} at dimension ${d}`,
      );
    }
  });
}
