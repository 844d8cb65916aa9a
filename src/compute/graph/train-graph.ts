// The training step of a stack of Dense layers as one TensorFlow graph: forward pass, loss, the
// gradients written out layer by layer, and a fused ResourceApplyAdam per variable. Run through
// TF_SessionRun it costs one native call per step, where the eager path pays ~100 kernel calls
// (the reason small batches trained at a third of Keras' speed).
import { type Attr, DT_FLOAT, DT_INT32, type NodeDef } from "./graph-def.js";

export type GraphActivation = "linear" | "relu" | "sigmoid" | "tanh" | "softmax";
export type GraphLoss = "mean_squared_error" | "categorical_crossentropy" | "sparse_categorical_crossentropy";
export type GraphMetric = "mean_squared_error" | "mean_absolute_error";

export interface DenseLayerPlan {
  inputDim: number;
  units: number;
  activation: GraphActivation;
  useBias: boolean;
}

export interface AdamHyper {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** Names of the graph's feeds and fetches, for the runner. */
export interface TrainGraph {
  nodes: NodeDef[];
  /** Model variables in trainable-weight order (kernel, then bias, per layer), then Adam's m and v slots. */
  variables: { name: string; shape: number[] }[];
  /** Per variable: the placeholder that init feeds and the read op that state fetches. */
  initFeed: (variable: string) => string;
  readFetch: (variable: string) => string;
  initDone: string;
  /** The step's loss (then each metric), fetched after every variable is updated. */
  stepFetches: string[];
}

const F: Attr = { type: DT_FLOAT };
const KERAS_EPSILON = 1e-7;

export function trainGraph(
  layers: readonly DenseLayerPlan[],
  loss: GraphLoss,
  metrics: readonly GraphMetric[],
  adam: AdamHyper,
): TrainGraph {
  const nodes: NodeDef[] = [];
  const node = (name: string, op: string, inputs: string[], attrs: Record<string, Attr> = {}): string => {
    nodes.push({ name, op, inputs, attrs });
    return name;
  };
  const scalar = (name: string, value: number) =>
    node(name, "Const", [], { dtype: F, value: { tensor: { dtype: DT_FLOAT, shape: [], floats: [value] } } });
  const ints = (name: string, values: number[]) =>
    node(name, "Const", [], {
      dtype: { type: DT_INT32 },
      value: { tensor: { dtype: DT_INT32, shape: [values.length], ints: values } },
    });
  const placeholder = (name: string, shape: number[]) => node(name, "Placeholder", [], { dtype: F, shape: { shape } });
  const binary = (name: string, op: string, a: string, b: string) => node(name, op, [a, b], { T: F });
  const unary = (name: string, op: string, a: string) => node(name, op, [a], { T: F });
  const reduce = (name: string, op: string, input: string, axes: string, keepDims = false) =>
    node(name, op, [input, axes], { T: F, Tidx: { type: DT_INT32 }, keep_dims: { b: keepDims } });

  const last = layers[layers.length - 1] as DenseLayerPlan;
  const x = placeholder("x", [-1, (layers[0] as DenseLayerPlan).inputDim]);
  // Sparse labels arrive as one class index per row and become one-hot rows here.
  const sparse = loss === "sparse_categorical_crossentropy";
  const labels = placeholder("y", sparse ? [-1] : [-1, last.units]);
  const y = sparse
    ? node(
        "y_one_hot",
        "OneHot",
        [
          node("y_index", "Cast", [labels], { SrcT: F, DstT: { type: DT_INT32 }, Truncate: { b: false } }),
          node("depth", "Const", [], {
            dtype: { type: DT_INT32 },
            value: { tensor: { dtype: DT_INT32, shape: [], ints: [last.units] } },
          }),
          scalar("on", 1),
          scalar("off", 0),
        ],
        { T: F, TI: { type: DT_INT32 }, axis: { i: -1 } },
      )
    : labels;
  const beta1Power = placeholder("beta1_power", []);
  const beta2Power = placeholder("beta2_power", []);
  const hyper = {
    lr: scalar("lr", adam.learningRate),
    beta1: scalar("beta1", adam.beta1),
    beta2: scalar("beta2", adam.beta2),
    epsilon: scalar("epsilon", adam.epsilon),
  };
  const allAxes = ints("all_axes", [0, 1]);
  const rowAxis = ints("row_axis", [1]);

  const variables: TrainGraph["variables"] = [];
  const assigns: string[] = [];
  const variable = (name: string, shape: number[]): { handle: string; read: string } => {
    const handle = node(name, "VarHandleOp", [], {
      dtype: F,
      shape: { shape },
      shared_name: { s: name },
      container: { s: "" },
    });
    const init = placeholder(`${name}_init`, shape);
    assigns.push(node(`${name}_assign`, "AssignVariableOp", [handle, init], { dtype: F }));
    variables.push({ name, shape });
    return { handle, read: node(`${name}_read`, "ReadVariableOp", [handle], { dtype: F }) };
  };

  // Forward, keeping each layer's input and output for the backward pass.
  const params = layers.map((l, i) => ({
    kernel: variable(`w${i}`, [l.inputDim, l.units]),
    bias: l.useBias ? variable(`b${i}`, [l.units]) : undefined,
  }));
  const inputs: string[] = [];
  const outputs: string[] = [];
  let a = x;
  layers.forEach((l, i) => {
    const p = params[i] as (typeof params)[number];
    inputs.push(a);
    let z = node(`matmul${i}`, "MatMul", [a, p.kernel.read], { T: F });
    if (p.bias) z = binary(`bias_add${i}`, "BiasAdd", z, p.bias.read);
    a =
      l.activation === "linear"
        ? z
        : unary(`act${i}`, { relu: "Relu", sigmoid: "Sigmoid", tanh: "Tanh", softmax: "Softmax" }[l.activation], z);
    outputs.push(a);
  });
  const prediction = a;

  // Loss, and its gradient with respect to the last layer's pre-activation (softmax + crossentropy
  // combine into p * sum(y) - y) or its output.
  const diff = binary("diff", "Sub", prediction, y);
  const count = node("count", "Cast", [node("size", "Size", [diff], { T: F, out_type: { type: DT_INT32 } })], {
    SrcT: { type: DT_INT32 },
    DstT: F,
  });
  let lossValue: string;
  let dLast: string;
  let lastIsPreActivation = false;
  if (loss === "mean_squared_error") {
    lossValue = reduce("loss", "Mean", unary("squared", "Square", diff), allAxes);
    dLast = binary("d_prediction", "Mul", diff, binary("two_over_n", "RealDiv", scalar("two", 2), count));
  } else {
    const clipped = node(
      "clipped",
      "ClipByValue",
      [prediction, scalar("eps", KERAS_EPSILON), scalar("one_minus_eps", 1 - KERAS_EPSILON)],
      { T: F },
    );
    const perRow = reduce("ce_rows", "Sum", binary("ce_terms", "Mul", y, unary("log_p", "Log", clipped)), rowAxis);
    lossValue = unary("loss", "Neg", reduce("ce_mean", "Mean", perRow, ints("batch_axis", [0])));
    const rows = binary("rows", "RealDiv", count, scalar("classes", last.units));
    const ySum = reduce("y_sum", "Sum", y, rowAxis, true);
    dLast = binary(
      "d_logits",
      "RealDiv",
      binary("p_minus_y", "Sub", binary("p_y_sum", "Mul", prediction, ySum), y),
      rows,
    );
    lastIsPreActivation = true;
  }

  // Backward, last layer first; each apply waits for the read of its kernel to be consumed.
  const applies: string[] = [];
  const apply = (v: { handle: string }, name: string, grad: string, after: string[] = []) => {
    const m = variable(`${name}_m`, variables.find((e) => e.name === name)?.shape ?? []);
    const vv = variable(`${name}_v`, variables.find((e) => e.name === name)?.shape ?? []);
    applies.push(
      node(
        `${name}_apply`,
        "ResourceApplyAdam",
        [
          v.handle,
          m.handle,
          vv.handle,
          beta1Power,
          beta2Power,
          hyper.lr,
          hyper.beta1,
          hyper.beta2,
          hyper.epsilon,
          grad,
          ...after,
        ],
        { T: F, use_locking: { b: false }, use_nesterov: { b: false } },
      ),
    );
  };
  let dA = dLast;
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i] as DenseLayerPlan;
    const p = params[i] as (typeof params)[number];
    const out = outputs[i] as string;
    let dz: string;
    if (i === layers.length - 1 && lastIsPreActivation) dz = dA;
    else if (l.activation === "linear") dz = dA;
    else if (l.activation === "relu") dz = binary(`d_z${i}`, "ReluGrad", dA, out);
    else if (l.activation === "sigmoid") dz = binary(`d_z${i}`, "SigmoidGrad", out, dA);
    else if (l.activation === "tanh") dz = binary(`d_z${i}`, "TanhGrad", out, dA);
    else throw new Error(`softmax is supported only on the last layer with categorical crossentropy`);
    const dKernel = node(`d_w${i}`, "MatMul", [inputs[i] as string, dz], {
      T: F,
      transpose_a: { b: true },
      transpose_b: { b: false },
    });
    const dInput =
      i > 0
        ? node(`d_a${i - 1}`, "MatMul", [dz, p.kernel.read], {
            T: F,
            transpose_a: { b: false },
            transpose_b: { b: true },
          })
        : undefined;
    apply(p.kernel, `w${i}`, dKernel, dInput ? [`^${dInput}`] : []);
    if (p.bias) apply(p.bias, `b${i}`, node(`d_b${i}`, "BiasAddGrad", [dz], { T: F }));
    if (dInput) dA = dInput;
  }

  const after = applies.map((n) => `^${n}`);
  const stepFetches = [node("loss_out", "Identity", [lossValue, ...after], { T: F })];
  for (const metric of metrics) {
    const value =
      metric === "mean_squared_error"
        ? reduce("metric_mse", "Mean", unary("metric_sq", "Square", diff), allAxes)
        : reduce("metric_mae", "Mean", unary("metric_abs", "Abs", diff), allAxes);
    stepFetches.push(node(`${value}_out`, "Identity", [value, ...after], { T: F }));
  }
  const initDone = node("init_done", "Identity", [scalar("zero", 0), ...assigns.map((n) => `^${n}`)], { T: F });

  // Model variables in trainable-weight order, then every m slot, then every v slot (tfjs' order).
  const model = variables.filter((v) => !v.name.endsWith("_m") && !v.name.endsWith("_v"));
  const slot = (suffix: string) => model.map((v) => ({ name: `${v.name}${suffix}`, shape: v.shape }));
  return {
    nodes,
    variables: [...model, ...slot("_m"), ...slot("_v")],
    initFeed: (v) => `${v}_init:0`,
    readFetch: (v) => `${v}_read:0`,
    initDone: `${initDone}:0`,
    stepFetches: stepFetches.map((n) => `${n}:0`),
  };
}
