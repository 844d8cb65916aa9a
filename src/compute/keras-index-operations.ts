/**
 * Keras 3's graph operations that pick or combine values by index: `einsum`, `take`,
 * `take_along_axis` and `one_hot`. TensorFlow.js' own einsum has no gradient, so it is built here
 * from products, sums and transposes (which have), and a model holding one trains.
 */
import * as tf from "@tensorflow/tfjs";
import { axesOf, type KerasOperationDef, type Operand, promoted, tensorArg, tfDtype } from "./keras-operations.js";

/** An operand's subscripts as letters, `...` standing for its leading axes (right-aligned, as numpy). */
function subscriptLetters(spec: string, rank: number, ellipsisRank: number): string[] {
  const [before, after] = spec.split("...") as [string, string | undefined];
  if (after === undefined) return [...before];
  const covered = rank - before.length - after.length;
  if (covered < 0) throw new Error(`einsum: "${spec}" names more axes than its operand's ${rank}`);
  // Ellipsis axes are named by position from the right, so that operands of different ranks broadcast.
  const ellipsis = Array.from({ length: covered }, (_, i) => `…${ellipsisRank - covered + i}`);
  return [...before, ...ellipsis, ...after];
}

/** numpy's einsum, as broadcast products summed over the letters the output drops. */
function einsum(subscripts: string, operands: tf.Tensor[]): tf.Tensor {
  const spec = subscripts.replace(/\s/g, "");
  const [inputPart, outputPart] = spec.split("->") as [string, string | undefined];
  const specs = inputPart.split(",");
  if (specs.length !== operands.length) {
    throw new Error(`einsum: "${subscripts}" names ${specs.length} operands, got ${operands.length}`);
  }
  const ellipsisRank = Math.max(
    0,
    ...specs.map((s, k) => (s.includes("...") ? (operands[k] as tf.Tensor).rank - s.replace("...", "").length : 0)),
  );
  const letters = specs.map((s, k) => subscriptLetters(s, (operands[k] as tf.Tensor).rank, ellipsisRank));
  letters.forEach((l, k) => {
    if (l.length !== (operands[k] as tf.Tensor).rank) {
      throw new Error(`einsum: "${specs[k]}" does not fit an operand of rank ${(operands[k] as tf.Tensor).rank}`);
    }
    if (new Set(l).size !== l.length)
      throw new Error(`einsum: "${specs[k]}" repeats a letter (diagonals are not supported)`);
  });
  const all = letters.flat();
  const ellipsisOut = Array.from({ length: ellipsisRank }, (_, i) => `…${i}`);
  const out =
    outputPart === undefined
      ? [
          ...ellipsisOut,
          ...[...new Set(all)].filter((c) => !c.startsWith("…") && all.indexOf(c) === all.lastIndexOf(c)).sort(),
        ]
      : subscriptLetters(outputPart, outputPart.replace("...", "").length + ellipsisRank, ellipsisRank);
  const summed = [...new Set(all)].filter((c) => !out.includes(c));
  const order = [...out, ...summed];
  let product: tf.Tensor | undefined;
  operands.forEach((x, k) => {
    const own = letters[k] as string[];
    const present = order.filter((c) => own.includes(c));
    const moved = tf.transpose(
      x,
      present.map((c) => own.indexOf(c)),
    );
    const shaped = tf.reshape(
      moved,
      order.map((c) => (own.includes(c) ? (x.shape[own.indexOf(c)] as number) : 1)),
    );
    product = product === undefined ? shaped : tf.mul(product, shaped);
  });
  const result = product as tf.Tensor;
  const reduced =
    summed.length > 0
      ? tf.sum(
          result,
          summed.map((_, i) => out.length + i),
        )
      : result;
  return reduced;
}

/** Integer indices, negative ones counted from the end of an axis of `size` (Keras' "fill" mode). */
const indicesFor = (indices: Operand | undefined, size: number): tf.Tensor => {
  const i = tf.cast(tensorArg(indices), "int32");
  return tf.where(tf.less(i, 0), tf.add(i, tf.scalar(size, "int32")), i);
};

/** numpy's take_along_axis: out[..., j, ...] = x[..., indices[..., j, ...], ...] along `axis`. */
function takeAlongAxis(x: tf.Tensor, given: Operand | undefined, axis: number): tf.Tensor {
  const size = x.shape[axis] as number;
  const last = (t: tf.Tensor) => tf.transpose(t, [...t.shape.keys()].filter((a) => a !== axis).concat(axis));
  const xs = last(x);
  const index = last(indicesFor(given, size));
  const lead = xs.shape.slice(0, -1);
  const broadcast = tf.broadcastTo(index, [...lead, index.shape.at(-1) as number]);
  const rows = lead.reduce((a, b) => a * b, 1);
  const picks = broadcast.shape.at(-1) as number;
  // Positions in the flattened tensor: each leading row's offset plus the index within the row.
  const offsets = tf.reshape(tf.range(0, rows * size, size, "int32"), [rows, 1]);
  const flat = tf.gather(tf.reshape(xs, [-1]), tf.add(tf.reshape(broadcast, [rows, picks]), offsets));
  const picked = tf.reshape(flat, [...lead, picks]);
  // Back to the axis' place.
  const rank = picked.rank;
  const back = [...Array(rank).keys()].map((a) => (a < axis ? a : a === axis ? rank - 1 : a - 1));
  return tf.transpose(picked, back);
}

export const KERAS_INDEX_OPERATIONS: Readonly<Record<string, KerasOperationDef>> = {
  Einsum: {
    params: ["*operands"],
    run: (a, s) => einsum(String(s.subscripts), promoted((a["*operands"] as Operand[] | undefined) ?? [], 2)),
  },
  Take: {
    params: ["x", "indices"],
    run: (a, s) => {
      const x = tensorArg(a.x);
      const axis = axesOf(s.axis, x.rank)?.[0];
      const source = axis === undefined ? tf.reshape(x, [-1]) : x;
      return tf.gather(source, indicesFor(a.indices, source.shape[axis ?? 0] as number), axis ?? 0);
    },
  },
  TakeAlongAxis: {
    params: ["x", "indices"],
    run: (a, s) => {
      const x = tensorArg(a.x);
      const axis = axesOf(s.axis, x.rank)?.[0];
      if (axis === undefined) return takeAlongAxis(tf.reshape(x, [-1]), tf.reshape(tensorArg(a.indices), [-1]), 0);
      return takeAlongAxis(x, a.indices, axis);
    },
  },
  OneHot: {
    params: ["x"],
    run: (a, s) => {
      const ids = tf.cast(tensorArg(a.x), "int32");
      const encoded = tf.oneHot(ids, Number(s.numClasses), 1, 0, s.dtype == null ? "float32" : tfDtype(s.dtype));
      const axis = axesOf(s.axis ?? -1, encoded.rank)?.[0] as number;
      if (axis === encoded.rank - 1) return encoded;
      const order = [...Array(encoded.rank - 1).keys()];
      order.splice(axis, 0, encoded.rank - 1);
      return tf.transpose(encoded, order);
    },
    constant: true,
  },
};
