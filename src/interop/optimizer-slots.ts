// Keras keeps an optimizer's state as its iteration count plus, for Adam, one (m, v) pair per
// trainable variable in variable order. modelbay's models carry it as TensorFlow.js does: the
// iteration count, every m in variable order, then every v.
import type { NamedTensorData } from "../compute/engine.js";
import type { TensorData } from "../compute/tensor-data.js";
import { Code, ModelbayError } from "../errors.js";

export interface KerasAdamState {
  iterations: TensorData;
  /** Interleaved slots: m of variable 0, v of variable 0, m of variable 1, ... */
  slots: TensorData[];
}

/** Keras' iteration count (int64 in its files) as modelbay's optimizer state names it. */
export function adamStepFromKeras(iterations: TensorData): NamedTensorData {
  return { name: "iter", tensor: { dtype: "int32", shape: [], data: Int32Array.of(Number(iterations.data[0] ?? 0)) } };
}

/** Adam's state in modelbay's order, checked against the weights it belongs to. */
export function adamStateFromKeras(state: KerasAdamState, weights: readonly NamedTensorData[]): NamedTensorData[] {
  if (state.slots.length !== 2 * weights.length) {
    throw new ModelbayError(
      Code.INVALID_ARGUMENT,
      `the optimizer holds ${state.slots.length} slot variables; Adam over ${weights.length} weights needs ${2 * weights.length}`,
    );
  }
  const slot = (i: number, which: "m" | "v"): NamedTensorData => {
    const w = weights[i] as NamedTensorData;
    const t = state.slots[2 * i + (which === "m" ? 0 : 1)] as TensorData;
    if (t.shape.join(",") !== w.tensor.shape.join(",")) {
      throw new ModelbayError(
        Code.INVALID_ARGUMENT,
        `optimizer slot ${which} of "${w.name}" has shape [${t.shape.join(", ")}], the weight has [${w.tensor.shape.join(", ")}]`,
      );
    }
    return { name: `${w.name}/${which}`, tensor: t };
  };
  return [
    adamStepFromKeras(state.iterations),
    ...weights.map((_, i) => slot(i, "m")),
    ...weights.map((_, i) => slot(i, "v")),
  ];
}

/**
 * modelbay's Adam state (iteration count, every m, every v, then modelbay's own extras) in Keras'
 * order: iterations, then (m, v) per variable.
 */
export function adamStateToKeras(state: readonly NamedTensorData[], weightCount: number): KerasAdamState {
  const [iter, ...rest] = state;
  const slots = rest.slice(0, 2 * weightCount);
  if (!iter || slots.length !== 2 * weightCount) {
    throw new ModelbayError(
      Code.FAILED_PRECONDITION,
      `the checkpoint's optimizer state has ${rest.length} slots; Adam over ${weightCount} weights needs ${2 * weightCount}`,
    );
  }
  const m = slots.slice(0, weightCount);
  const v = slots.slice(weightCount);
  return {
    iterations: iter.tensor,
    slots: m.flatMap((mi, i) => [mi.tensor, (v[i] as NamedTensorData).tensor]),
  };
}
