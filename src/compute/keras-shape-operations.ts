/**
 * Keras 3's graph operations that move values rather than compute them: reshapes, transposes,
 * indexing (`x[:, -1]`, `x[..., None]`), joins, tiles, casts, and matrix products. Each is built
 * from TensorFlow.js operations that have gradients (no strided slice), so a model holding them
 * trains. The batch is axis 0; src/compute/keras-operation-layer.ts refuses any use that mixes rows.
 */
import * as tf from "@tensorflow/tfjs";
import {
  type Args,
  axesOf,
  isTensor,
  type KerasOperationDef,
  type Operand,
  promoted,
  tensorArg,
  tfDtype,
} from "./keras-operations.js";

const numbers = (v: Operand | undefined): number[] => (Array.isArray(v) ? v.map(Number) : [Number(v)]);

const tensorsOf = (v: Operand | undefined): tf.Tensor[] => {
  if (!Array.isArray(v)) throw new Error("expected a list of tensors");
  return promoted(v);
};

/** numpy's moveaxis: the permutation that takes `source` axes to `destination`. */
function moved(rank: number, source: number[], destination: number[]): number[] {
  const rest = [...Array(rank).keys()].filter((a) => !source.includes(a));
  const order: number[] = [];
  const pairs = destination.map((d, i) => [d, source[i] as number] as const).sort((a, b) => a[0] - b[0]);
  for (const [d, s] of pairs) {
    while (order.length < d) order.push(rest.shift() as number);
    order.push(s);
  }
  return [...order, ...rest];
}

/** numpy's repeat of each element `repeats` times along one axis (or of the flattened tensor). */
function repeat(x: tf.Tensor, repeats: number, axis: number | undefined): tf.Tensor {
  const flat = axis === undefined ? tf.reshape(x, [-1]) : x;
  const a = axis ?? 0;
  const multiples: number[] = Array(flat.rank + 1).fill(1);
  multiples[a + 1] = repeats;
  const tiled = tf.tile(tf.expandDims(flat, a + 1), multiples);
  return tf.reshape(
    tiled,
    flat.shape.map((d, i) => (i === a ? d * repeats : d)),
  );
}

/** numpy's tile: repeats padded with ones to the longer of it and the rank. */
function tile(x: tf.Tensor, repeats: number[]): tf.Tensor {
  const rank = Math.max(x.rank, repeats.length);
  const shaped = tf.reshape(x, [...Array(rank - x.rank).fill(1), ...x.shape]);
  return tf.tile(shaped, [...Array(rank - repeats.length).fill(1), ...repeats]);
}

/** numpy's matmul: a vector operand gets an axis for the product and loses it after. */
function matmul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.rank === 0 || b.rank === 0) throw new Error("matmul takes no scalars");
  const left = a.rank === 1 ? tf.expandDims(a, 0) : a;
  const right = b.rank === 1 ? tf.expandDims(b, 1) : b;
  let out = tf.matMul(left, right);
  if (a.rank === 1) out = tf.squeeze(out, [out.rank - 2]);
  if (b.rank === 1) out = tf.squeeze(out, [out.rank - 1]);
  return out;
}

/** Python's slice.indices: concrete start and stop for a step, and how many it takes. */
function sliceIndices(slice: Operand[], size: number): { start: number; step: number; count: number } {
  const [given0, given1, given2] = slice as (number | null | undefined)[];
  const step = given2 ?? 1;
  if (step === 0) throw new Error("slice step cannot be zero");
  const clamp = (v: number | null | undefined, low: number, high: number, otherwise: number) => {
    if (v === null || v === undefined) return otherwise;
    const n = v < 0 ? v + size : v;
    return Math.min(Math.max(n, low), high);
  };
  const start = step > 0 ? clamp(given0, 0, size, 0) : clamp(given0, -1, size - 1, size - 1);
  const stop = step > 0 ? clamp(given1, 0, size, size) : clamp(given1, -1, size - 1, -1);
  const count = Math.max(0, Math.ceil((stop - start) / step));
  return { start, step, count };
}

/**
 * `x[key]` as numpy reads the key: integers (dropping their axis), slices, `None` (a new axis)
 * and one `...`. Keras' key comes as Keras wrote it: {"slice": [start, stop, step]}, {"ellipsis": true}.
 */
function getItem(x: tf.Tensor, key: Operand | undefined): tf.Tensor {
  const parts = Array.isArray(key) ? key : [key ?? null];
  if (parts.some((p) => isTensor(p)))
    throw new Error("indexing with a tensor is not supported; index with numbers and slices");
  const isEllipsis = (p: Operand) => typeof p === "object" && p !== null && !Array.isArray(p) && "ellipsis" in p;
  const taking = parts.filter((p) => p !== null && !isEllipsis(p)).length;
  if (taking > x.rank)
    throw new Error(`index ${JSON.stringify(key)} has more entries than the tensor's ${x.rank} axes`);
  const expanded = parts.flatMap((p) =>
    isEllipsis(p) ? Array(x.rank - taking).fill({ slice: [null, null, null] }) : [p],
  );
  while (expanded.filter((p) => p !== null).length < x.rank) expanded.push({ slice: [null, null, null] });

  let out = x;
  const finalShape: number[] = [];
  let axis = 0;
  for (const p of expanded) {
    if (p === null) {
      finalShape.push(1);
      continue;
    }
    const size = x.shape[axis] as number;
    if (typeof p === "number") {
      const i = p < 0 ? p + size : p;
      if (i < 0 || i >= size) throw new Error(`index ${p} is out of range for axis ${axis} of size ${size}`);
      out = tf.slice(
        out,
        out.shape.map((_, a) => (a === axis ? i : 0)),
        out.shape.map((d, a) => (a === axis ? 1 : d)),
      );
    } else if (typeof p === "object" && !Array.isArray(p) && Array.isArray(p.slice)) {
      const { start, step, count } = sliceIndices(p.slice, size);
      if (step === 1) {
        out = tf.slice(
          out,
          out.shape.map((_, a) => (a === axis ? start : 0)),
          out.shape.map((d, a) => (a === axis ? count : d)),
        );
      } else {
        const indices = tf.tensor1d(
          [...Array(count).keys()].map((k) => start + k * step),
          "int32",
        );
        out = tf.gather(out, indices, axis);
      }
      finalShape.push(count);
    } else {
      throw new Error(`index entry ${JSON.stringify(p)} is not an integer, a slice, None or ...`);
    }
    axis++;
  }
  return tf.reshape(out, finalShape);
}

/** numpy's pad_width: one number, one [before, after], or one pair per axis. */
function paddings(width: Operand | undefined, rank: number): [number, number][] {
  if (typeof width === "number") return Array(rank).fill([width, width]);
  if (Array.isArray(width) && width.every((w) => typeof w === "number")) {
    const [before, after] = width as number[];
    return Array(rank).fill([before, after ?? before]);
  }
  if (Array.isArray(width) && width.length === rank) {
    return width.map((w) => {
      const [before, after] = numbers(w);
      return [before as number, after ?? (before as number)];
    });
  }
  throw new Error(`pad_width ${JSON.stringify(width)} does not fit a tensor of rank ${rank}`);
}

const constant = (f: (a: Args, s: Args) => tf.Tensor, params = ["x"]): KerasOperationDef => ({
  params,
  run: f,
  constant: true,
});

export const KERAS_SHAPE_OPERATIONS: Readonly<Record<string, KerasOperationDef>> = {
  Reshape: { params: ["x"], run: (a, s) => tf.reshape(tensorArg(a.x), numbers(s.newshape)) },
  Transpose: {
    params: ["x"],
    run: (a, s) => {
      const x = tensorArg(a.x);
      return tf.transpose(x, s.axes == null ? undefined : axesOf(s.axes, x.rank));
    },
  },
  Swapaxes: {
    params: ["x"],
    run: (a, s) => {
      const x = tensorArg(a.x);
      const [a1, a2] = axesOf([s.axis1 ?? 0, s.axis2 ?? 0] as Operand[], x.rank) as [number, number];
      return tf.transpose(
        x,
        [...x.shape.keys()].map((i) => (i === a1 ? a2 : i === a2 ? a1 : i)),
      );
    },
  },
  Moveaxis: {
    params: ["x"],
    run: (a, s) => {
      const x = tensorArg(a.x);
      const source = axesOf(s.source, x.rank) as number[];
      const destination = axesOf(s.destination, x.rank) as number[];
      if (source.length !== destination.length) throw new Error("source and destination differ in length");
      return tf.transpose(x, moved(x.rank, source, destination));
    },
  },
  ExpandDims: {
    params: ["x"],
    run: (a, s) => {
      const x = tensorArg(a.x);
      const rank = x.rank + numbers(s.axis).length;
      const added = axesOf(s.axis, rank) as number[];
      const shape: number[] = [];
      for (let i = 0, k = 0; i < rank; i++) shape.push(added.includes(i) ? 1 : (x.shape[k++] as number));
      return tf.reshape(x, shape);
    },
  },
  Squeeze: {
    params: ["x"],
    run: (a, s) => {
      const x = tensorArg(a.x);
      // Without axes, the axes of one element but the batch's, which a batch of one must keep.
      const axes = axesOf(s.axis, x.rank) ?? x.shape.flatMap((d, i) => (i > 0 && d === 1 ? [i] : []));
      for (const axis of axes)
        if (x.shape[axis] !== 1) throw new Error(`cannot squeeze axis ${axis} of size ${x.shape[axis]}`);
      return tf.reshape(
        x,
        x.shape.filter((_, i) => !axes.includes(i)),
      );
    },
  },
  Concatenate: {
    params: ["xs"],
    run: (a, s) => {
      const xs = tensorsOf(a.xs);
      return tf.concat(xs, axesOf(s.axis ?? 0, (xs[0] as tf.Tensor).rank)?.[0]);
    },
  },
  Stack: {
    params: ["x"],
    run: (a, s) => {
      const xs = tensorsOf(a.x);
      return tf.stack(xs, axesOf(s.axis ?? 0, (xs[0] as tf.Tensor).rank + 1)?.[0]);
    },
  },
  Tile: { params: ["x"], run: (a, s) => tile(tensorArg(a.x), numbers(s.repeats)) },
  Repeat: {
    params: ["x"],
    run: (a, s) => {
      const x = tensorArg(a.x);
      if (Array.isArray(s.repeats)) throw new Error("repeats per element are not supported; give one count");
      return repeat(x, Number(s.repeats), axesOf(s.axis, x.rank)?.[0]);
    },
  },
  Flip: {
    params: ["x"],
    run: (a, s) => {
      const x = tensorArg(a.x);
      return tf.reverse(x, axesOf(s.axis, x.rank) ?? [...x.shape.keys()]);
    },
  },
  BroadcastTo: { params: ["x"], run: (a, s) => tf.broadcastTo(tensorArg(a.x), numbers(s.shape)) },
  Cumsum: {
    params: ["x"],
    run: (a, s) => {
      const x = tensorArg(a.x, 1);
      const typed = s.dtype == null ? x : tf.cast(x, tfDtype(s.dtype));
      const axis = axesOf(s.axis, x.rank)?.[0];
      return axis === undefined ? tf.cumsum(tf.reshape(typed, [-1]), 0) : tf.cumsum(typed, axis);
    },
  },
  Pad: {
    params: ["x", "constantValues"],
    run: (a, s) => {
      const x = tensorArg(a.x);
      const mode = s.mode ?? "constant";
      const widths = paddings(s.padWidth, x.rank);
      if (mode === "constant") return tf.pad(x, widths, Number(a.constantValues ?? 0));
      if (mode === "reflect" || mode === "symmetric") return tf.mirrorPad(x, widths, mode);
      throw new Error(`pad mode "${mode}" is not supported (constant, reflect, symmetric)`);
    },
  },
  GetItem: { params: ["x", "key"], run: (a) => getItem(tensorArg(a.x), a.key) },
  Matmul: {
    params: ["x1", "x2"],
    run: (a) => {
      const [x1, x2] = promoted([a.x1, a.x2]) as [tf.Tensor, tf.Tensor];
      return matmul(x1, x2);
    },
  },
  Cast: { params: ["x"], run: (a, s) => tf.cast(tensorArg(a.x), tfDtype(s.dtype)) },
  ConvertToTensor: {
    params: ["x"],
    run: (a, s) => (s.dtype == null ? tensorArg(a.x) : tf.cast(tensorArg(a.x), tfDtype(s.dtype))),
  },
  Copy: { params: ["x"], run: (a) => tf.clone(tensorArg(a.x)) },
  StopGradient: constant((a) => tf.clone(tensorArg(a.variable)), ["variable"]),
  ZerosLike: constant((a, s) =>
    tf.zerosLike(s.dtype == null ? tensorArg(a.x) : tf.cast(tensorArg(a.x), tfDtype(s.dtype))),
  ),
  OnesLike: constant((a, s) =>
    tf.onesLike(s.dtype == null ? tensorArg(a.x) : tf.cast(tensorArg(a.x), tfDtype(s.dtype))),
  ),
};
