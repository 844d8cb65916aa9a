/**
 * Keras 3's graph operations (`keras.ops` called on a functional model's tensors, and the
 * operators: `x + inputs`, `x * 0.5`, `x[:, -1]`), as TensorFlow.js computes them: elementwise
 * arithmetic, comparisons and activations, and reductions. Shape operations are in
 * src/compute/keras-shape-operations.ts; src/compute/keras-operation-layer.ts runs either as a
 * layer. Each follows Keras 3 with the TensorFlow backend, dtypes included (an int tensor divided
 * is float32; a Python scalar takes the tensor's dtype unless it is a float and the tensor is not).
 */
import * as tf from "@tensorflow/tfjs";
import { hardSigmoid } from "./keras-activations.js";

/** An argument of an operation: a tensor, a number, or what Keras wrote (axes, shapes, keys). */
export type Operand = tf.Tensor | number | boolean | string | null | Operand[] | { [key: string]: Operand };

/** An operation's arguments by Keras' names of its call, and its constructor's settings. */
export type Args = Record<string, Operand | undefined>;

export interface KerasOperationDef {
  /** The names of its call's parameters, in order (keyword arguments come by these names). */
  params: readonly string[];
  run(args: Args, settings: Args): tf.Tensor;
  /** Its gradient is zero everywhere (comparisons, argmax): TensorFlow.js has none for these. */
  constant?: true;
}

const KIND: Record<string, number> = { bool: 0, int32: 1, float32: 2 };
const DTYPE_OF_KIND = ["bool", "int32", "float32"] as const;

/** Keras' dtype names as TensorFlow.js holds them: every float as float32, every integer as int32. */
export function tfDtype(name: unknown): tf.DataType {
  if (typeof name !== "string") throw new Error(`dtype ${JSON.stringify(name)} is not a dtype name`);
  if (name === "bool") return "bool";
  if (/^(b?float)(16|32|64)$/.test(name)) return "float32";
  if (/^u?int(8|16|32|64)$/.test(name)) return "int32";
  throw new Error(`dtype "${name}" is not one modelbay computes with (floats, integers and bool)`);
}

export const isTensor = (v: unknown): v is tf.Tensor => v instanceof tf.Tensor;

/** The operand as a tensor: a Python scalar gets the kind it takes next to the tensors (Keras' weak types). */
function asTensor(v: Operand | undefined, kind: number): tf.Tensor {
  if (isTensor(v)) return v.dtype === DTYPE_OF_KIND[kind] ? v : tf.cast(v, DTYPE_OF_KIND[kind] as tf.DataType);
  if (typeof v === "number" || typeof v === "boolean") return tf.scalar(Number(v), DTYPE_OF_KIND[kind]);
  if (Array.isArray(v)) return tf.tensor(v as number[], undefined, DTYPE_OF_KIND[kind]);
  throw new Error(`expected a tensor or a number, got ${JSON.stringify(v)}`);
}

const flatNumbers = (v: Operand | undefined): number[] =>
  typeof v === "number" ? [v] : Array.isArray(v) ? v.flatMap(flatNumbers) : [];

/** The operands in one dtype, as Keras 3 promotes them. */
export function promoted(operands: (Operand | undefined)[], atLeast = 0): tf.Tensor[] {
  let kind = atLeast;
  for (const v of operands) if (isTensor(v)) kind = Math.max(kind, KIND[v.dtype] ?? 2);
  // Python numbers (and lists of them) take the tensors' kind, unless they are floats.
  for (const v of operands.flatMap(flatNumbers)) {
    if (!Number.isInteger(v)) kind = 2;
    else if (kind === 0) kind = 1;
  }
  return operands.map((v) => asTensor(v, kind));
}

/** One tensor operand, at least of the given kind (1: int32, 2: float32). */
export const tensorArg = (v: Operand | undefined, atLeast = 0): tf.Tensor => promoted([v], atLeast)[0] as tf.Tensor;

/** Axes as Keras gives them (one, a list, or null for all), as non-negative numbers. */
export function axesOf(axis: Operand | undefined, rank: number): number[] | undefined {
  if (axis === null || axis === undefined) return undefined;
  return (Array.isArray(axis) ? axis : [axis]).map((a) => {
    const n = Number(a);
    if (!Number.isInteger(n) || n < -rank || n >= rank) throw new Error(`axis ${a} is out of range for rank ${rank}`);
    return n < 0 ? n + rank : n;
  });
}

const SQRT1_2 = Math.SQRT1_2;
const GELU_TANH = Math.sqrt(2 / Math.PI);

const unary = (f: (x: tf.Tensor, s: Args) => tf.Tensor, atLeast = 2): KerasOperationDef => ({
  params: ["x"],
  run: (a, s) => f(tensorArg(a.x, atLeast), s),
});
const binary = (f: (x1: tf.Tensor, x2: tf.Tensor) => tf.Tensor, atLeast = 0): KerasOperationDef => ({
  params: ["x1", "x2"],
  run: (a) => {
    const [x1, x2] = promoted([a.x1, a.x2], atLeast) as [tf.Tensor, tf.Tensor];
    return f(x1, x2);
  },
});
const comparison = (f: (x1: tf.Tensor, x2: tf.Tensor) => tf.Tensor): KerasOperationDef => ({
  ...binary(f),
  constant: true,
});
const logical = (f: (x1: tf.Tensor, x2: tf.Tensor) => tf.Tensor): KerasOperationDef => ({
  params: ["x1", "x2"],
  run: (a) => f(tf.cast(tensorArg(a.x1), "bool"), tf.cast(tensorArg(a.x2), "bool")),
  constant: true,
});

/** Softmax along any axes (TensorFlow.js' own takes the last only). */
function softmax(x: tf.Tensor, axis: Operand | undefined): tf.Tensor {
  const axes = axesOf(axis ?? -1, x.rank) as number[];
  if (axes.length === 1 && axes[0] === x.rank - 1) return tf.softmax(x);
  const e = tf.exp(tf.sub(x, tf.max(x, axes, true)));
  return tf.div(e, tf.sum(e, axes, true));
}

function logSoftmax(x: tf.Tensor, axis: Operand | undefined): tf.Tensor {
  const axes = axesOf(axis ?? -1, x.rank) as number[];
  if (axes.length === 1 && axes[0] === x.rank - 1) return tf.logSoftmax(x);
  return tf.sub(x, tf.logSumExp(x, axes, true));
}

const ELEMENTWISE: Record<string, KerasOperationDef> = {
  Add: binary(tf.add),
  Subtract: binary(tf.sub),
  Multiply: binary(tf.mul),
  Divide: binary(tf.div, 2),
  TrueDivide: binary(tf.div, 2),
  DivideNoNan: binary((a, b) => tf.where(tf.equal(b, 0), tf.zerosLike(a), tf.div(a, b)), 2),
  FloorDivide: binary(tf.floorDiv),
  Mod: binary(tf.mod),
  Power: binary(tf.pow),
  Maximum: binary(tf.maximum),
  Minimum: binary(tf.minimum),
  Arctan2: binary(tf.atan2, 2),
  Equal: comparison(tf.equal),
  NotEqual: comparison(tf.notEqual),
  Greater: comparison(tf.greater),
  GreaterEqual: comparison(tf.greaterEqual),
  Less: comparison(tf.less),
  LessEqual: comparison(tf.lessEqual),
  LogicalAnd: logical(tf.logicalAnd),
  LogicalOr: logical(tf.logicalOr),
  LogicalXor: logical(tf.logicalXor),
  LogicalNot: { params: ["x"], run: (a) => tf.logicalNot(tf.cast(tensorArg(a.x), "bool")), constant: true },
  Negative: unary(tf.neg, 0),
  Absolute: unary(tf.abs, 0),
  Fabs: unary(tf.abs),
  Sign: unary(tf.sign, 0),
  Square: unary(tf.square, 0),
  Sqrt: unary(tf.sqrt),
  Rsqrt: unary(tf.rsqrt),
  Reciprocal: unary(tf.reciprocal),
  Exp: unary(tf.exp),
  Exp2: unary((x) => tf.pow(2, x)),
  Expm1: unary(tf.expm1),
  Log: unary(tf.log),
  Log1p: unary(tf.log1p),
  Log2: unary((x) => tf.div(tf.log(x), Math.LN2)),
  Log10: unary((x) => tf.div(tf.log(x), Math.LN10)),
  Sin: unary(tf.sin),
  Cos: unary(tf.cos),
  Tan: unary(tf.tan),
  Sinh: unary(tf.sinh),
  Cosh: unary(tf.cosh),
  Tanh: unary(tf.tanh),
  Arcsin: unary(tf.asin),
  Arccos: unary(tf.acos),
  Arctan: unary(tf.atan),
  Arcsinh: unary(tf.asinh),
  Arccosh: unary(tf.acosh),
  Arctanh: unary(tf.atanh),
  Erf: unary(tf.erf),
  Floor: unary(tf.floor, 0),
  Ceil: unary(tf.ceil, 0),
  Trunc: unary((x) => (x.dtype === "float32" ? tf.mul(tf.sign(x), tf.floor(tf.abs(x))) : x), 0),
  Round: unary((x, s) => {
    if (x.dtype !== "float32") return x;
    const scale = 10 ** Number(s.decimals ?? 0);
    return scale === 1 ? tf.round(x) : tf.div(tf.round(tf.mul(x, scale)), scale);
  }, 0),
  Isnan: { ...unary(tf.isNaN), constant: true },
  Isinf: { ...unary(tf.isInf), constant: true },
  Isfinite: { ...unary(tf.isFinite), constant: true },
  Clip: unary((x, s) => tf.clipByValue(x, Number(s.xMin), Number(s.xMax)), 0),
  Where: {
    params: ["condition", "x1", "x2"],
    run: (a) => {
      const [x1, x2] = promoted([a.x1, a.x2]) as [tf.Tensor, tf.Tensor];
      return tf.where(tf.cast(tensorArg(a.condition), "bool"), x1, x2);
    },
  },
  // Activations (keras.ops.nn, and keras.activations called on a tensor).
  Relu: unary(tf.relu),
  Relu6: unary(tf.relu6),
  Sigmoid: unary(tf.sigmoid),
  Softplus: unary(tf.softplus),
  Softsign: unary((x) => tf.div(x, tf.add(tf.abs(x), 1))),
  Silu: unary((x) => tf.mul(x, tf.sigmoid(x))),
  LogSigmoid: unary(tf.logSigmoid),
  HardSigmoid: unary(hardSigmoid),
  HardSilu: unary((x) => tf.mul(x, hardSigmoid(x))),
  HardTanh: unary((x) => tf.clipByValue(x, -1, 1)),
  TanhShrink: unary((x) => tf.sub(x, tf.tanh(x))),
  Elu: unary((x, s) => {
    const alpha = Number(s.alpha ?? 1);
    return tf.where(tf.greater(x, 0), x, tf.mul(alpha, tf.expm1(x)));
  }),
  Selu: unary(tf.selu),
  Celu: unary((x, s) => {
    const alpha = Number(s.alpha ?? 1);
    return tf.add(tf.relu(x), tf.minimum(0, tf.mul(alpha, tf.expm1(tf.div(x, alpha)))));
  }),
  LeakyRelu: unary((x, s) => tf.leakyRelu(x, Number(s.negativeSlope ?? 0.2))),
  Gelu: unary((x, s) =>
    s.approximate === false
      ? tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, SQRT1_2))))
      : tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(GELU_TANH, tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))))),
  ),
  Softmax: unary((x, s) => softmax(x, s.axis)),
  LogSoftmax: unary((x, s) => logSoftmax(x, s.axis)),
};

/** A reduction over `axis` (all axes when null), keeping them as ones if `keepdims`. */
const reduction = (
  f: (x: tf.Tensor, axes: number[] | undefined, keep: boolean) => tf.Tensor,
  atLeast = 0,
  constant?: true,
): KerasOperationDef => ({
  params: ["x"],
  run: (a, s) => {
    const x = tensorArg(a.x, atLeast);
    return f(x, axesOf(s.axis, x.rank), s.keepdims === true);
  },
  ...(constant ? { constant } : {}),
});

function variance(x: tf.Tensor, axes: number[] | undefined, keep: boolean): tf.Tensor {
  return tf.mean(tf.square(tf.sub(x, tf.mean(x, axes, true))), axes, keep);
}

/** The index of the largest (or smallest) along one axis, or of the flattened tensor. */
function argReduction(f: (x: tf.Tensor, axis: number) => tf.Tensor): KerasOperationDef {
  return {
    params: ["x"],
    run: (a, s) => {
      const x = tensorArg(a.x);
      const axis = axesOf(s.axis, x.rank);
      if (axis === undefined) return f(tf.reshape(x, [-1]), 0);
      const index = f(x, axis[0] as number);
      return s.keepdims === true ? tf.expandDims(index, axis[0]) : index;
    },
    constant: true,
  };
}

const REDUCTIONS: Record<string, KerasOperationDef> = {
  Sum: reduction((x, axes, keep) => tf.sum(x, axes, keep), 1),
  Mean: reduction((x, axes, keep) => tf.mean(x, axes, keep), 2),
  Max: reduction((x, axes, keep) => tf.max(x, axes, keep), 1),
  Amax: reduction((x, axes, keep) => tf.max(x, axes, keep), 1),
  Min: reduction((x, axes, keep) => tf.min(x, axes, keep), 1),
  Amin: reduction((x, axes, keep) => tf.min(x, axes, keep), 1),
  Prod: reduction((x, axes, keep) => tf.prod(x, axes, keep), 1),
  Var: reduction(variance, 2),
  Std: reduction((x, axes, keep) => tf.sqrt(variance(x, axes, keep)), 2),
  Logsumexp: reduction((x, axes, keep) => tf.logSumExp(x, axes, keep), 2),
  Any: reduction((x, axes, keep) => tf.any(tf.cast(x, "bool"), axes, keep), 0, true),
  All: reduction((x, axes, keep) => tf.all(tf.cast(x, "bool"), axes, keep), 0, true),
  Argmax: argReduction(tf.argMax),
  Argmin: argReduction(tf.argMin),
};

/** Max and Min take an `initial` that the result is at least (at most). */
for (const [name, bound] of [
  ["Max", tf.maximum],
  ["Min", tf.minimum],
] as const) {
  const plain = REDUCTIONS[name] as KerasOperationDef;
  REDUCTIONS[name] = {
    params: plain.params,
    run: (a, s) => {
      const out = plain.run(a, s);
      return s.initial == null ? out : bound(out, tf.scalar(Number(s.initial), out.dtype));
    },
  };
}

export const KERAS_VALUE_OPERATIONS: Readonly<Record<string, KerasOperationDef>> = { ...ELEMENTWISE, ...REDUCTIONS };
