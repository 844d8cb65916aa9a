// Checks Predict inputs against a model's signature before any compute runs.
import { emptyAxisProblem, type TensorData, type TensorSignature } from "../compute/tensor-data.js";
import { invalidArgument } from "../errors.js";

export interface NamedTensor {
  name: string;
  tensor: TensorData;
}

const fmt = (shape: readonly number[]) => `[${shape.join(", ")}]`;

/**
 * The tensor given for each of a model's inputs (or outputs), in the model's order, found by name;
 * a single unnamed tensor stands for a model's only one. INVALID_ARGUMENT names what is missing.
 */
export function inSignatureOrder(
  signatures: readonly TensorSignature[],
  given: readonly NamedTensor[],
  field: string,
  side = "input",
): { index: number; tensor: TensorData }[] {
  if (given.length !== signatures.length) {
    throw invalidArgument(
      field,
      `the model takes ${signatures.length} ${side}(s) (${signatures.map((s) => `"${s.name}"`).join(", ")}), got ${given.length}`,
    );
  }
  return signatures.map((sig, i) => {
    const index = given.length === 1 && given[0]?.name === "" ? 0 : given.findIndex((t) => t.name === sig.name);
    const found = given[index];
    if (!found) {
      const names = given.map((t) => `"${t.name}"`).join(", ");
      throw invalidArgument(`${field}[${i}].name`, `no ${side} named "${sig.name}" (got ${names})`);
    }
    return { index, tensor: found.tensor };
  });
}

/** Returns the tensor for each model input, in the model's order, or throws INVALID_ARGUMENT. */
export function matchInputs(signatures: readonly TensorSignature[], inputs: readonly NamedTensor[]): TensorData[] {
  const matched = inSignatureOrder(signatures, inputs, "inputs").map(({ index, tensor }, i) => {
    const sig = signatures[i] as TensorSignature;
    checkAgainst(sig, tensor, `inputs[${index}] ("${sig.name}")`);
    return tensor;
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
