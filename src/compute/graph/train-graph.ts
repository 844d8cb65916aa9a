// The training step of a stack of Dense layers as one TensorFlow graph: forward pass, loss, the
// gradients written out layer by layer, and a fused optimizer update (ResourceApplyAdam,
// -GradientDescent, -Momentum or -RMSProp, the same formulas as tfjs' optimizers) per variable. Run through
// TF_SessionRun it costs one native call per step, where the eager path pays ~100 kernel calls
// (the reason small batches trained at a third of Keras' speed).
import type { DenseLayerPlan } from "../dense-stack.js";
import { denseForwardNodes } from "./dense-nodes.js";
import { type Attr, DT_BOOL, DT_FLOAT, DT_INT32, FLOAT as F, graphBuilder, type NodeDef } from "./graph-def.js";

export type GraphLoss =
  | "mean_squared_error"
  | "mean_absolute_error"
  | "binary_crossentropy"
  | "categorical_crossentropy"
  | "sparse_categorical_crossentropy";
export type GraphMetric = "mean_squared_error" | "mean_absolute_error" | "accuracy";

export type GraphOptimizer =
  | { kind: "adam"; learningRate: number; beta1: number; beta2: number; epsilon: number }
  | { kind: "sgd"; learningRate: number }
  | { kind: "momentum"; learningRate: number; momentum: number }
  | { kind: "rmsprop"; learningRate: number; rho: number; momentum: number; epsilon: number };

/** Each optimizer's slots per variable, in the order tfjs' getWeights() lists them (after "iter"). */
export const SLOTS: Record<GraphOptimizer["kind"], readonly string[]> = {
  adam: ["m", "v"],
  sgd: [],
  momentum: ["momentum"],
  rmsprop: ["rms", "momentum"],
};

/** Names of the graph's feeds and fetches, for the runner. */
export interface TrainGraph {
  nodes: NodeDef[];
  /**
   * Model variables in trainable-weight order (kernel, then bias, per layer), then the optimizer's
   * slots: every variable's first slot, then every variable's second (tfjs' order).
   */
  variables: { name: string; shape: number[] }[];
  /** Per variable: the placeholder that init feeds and the read op that state fetches. */
  initFeed: (variable: string) => string;
  readFetch: (variable: string) => string;
  initDone: string;
  /** The step's loss (then each metric), fetched after every variable is updated. */
  stepFetches: string[];
}

const KERAS_EPSILON = 1e-7;

export function trainGraph(
  layers: readonly DenseLayerPlan[],
  loss: GraphLoss,
  metrics: readonly GraphMetric[],
  optimizer: GraphOptimizer,
): TrainGraph {
  const { nodes, node, placeholder } = graphBuilder();
  const scalar = (name: string, value: number) =>
    node(name, "Const", [], { dtype: F, value: { tensor: { dtype: DT_FLOAT, shape: [], floats: [value] } } });
  const ints = (name: string, values: number[]) =>
    node(name, "Const", [], {
      dtype: { type: DT_INT32 },
      value: { tensor: { dtype: DT_INT32, shape: [values.length], ints: values } },
    });
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
  const lr = scalar("lr", optimizer.learningRate);
  const allAxes = ints("all_axes", [0, 1]);
  const rowAxis = ints("row_axis", [1]);

  const variables: TrainGraph["variables"] = [];
  const modelVariables: TrainGraph["variables"] = [];
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
  modelVariables.push(...variables);
  const { inputs, outputs } = denseForwardNodes(
    node,
    layers,
    x,
    params.map((p) => ({ kernel: p.kernel.read, ...(p.bias ? { bias: p.bias.read } : {}) })),
  );
  const prediction = outputs[outputs.length - 1] as string;

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
  const clip = () =>
    node(
      "clipped",
      "ClipByValue",
      [prediction, scalar("eps", KERAS_EPSILON), scalar("one_minus_eps", 1 - KERAS_EPSILON)],
      {
        T: F,
      },
    );
  if (loss === "mean_squared_error") {
    lossValue = reduce("loss", "Mean", unary("squared", "Square", diff), allAxes);
    dLast = binary("d_prediction", "Mul", diff, binary("two_over_n", "RealDiv", scalar("two", 2), count));
  } else if (loss === "mean_absolute_error") {
    lossValue = reduce("loss", "Mean", unary("absolute", "Abs", diff), allAxes);
    dLast = binary(
      "d_prediction",
      "Mul",
      unary("sign", "Sign", diff),
      binary("one_over_n", "RealDiv", scalar("one", 1), count),
    );
  } else if (loss === "binary_crossentropy") {
    // -(y log p + (1 - y) log(1 - p)), p clipped; after a sigmoid the gradient at the logits is (p - y) / n.
    const p = clip();
    const one = scalar("one", 1);
    const terms = binary(
      "bce_terms",
      "Add",
      binary("y_log_p", "Mul", y, unary("log_p", "Log", p)),
      binary(
        "not_y_log_not_p",
        "Mul",
        binary("not_y", "Sub", one, y),
        unary("log_not_p", "Log", binary("not_p", "Sub", one, p)),
      ),
    );
    lossValue = unary("loss", "Neg", reduce("bce_mean", "Mean", terms, allAxes));
    dLast = binary("d_logits", "RealDiv", diff, count);
    lastIsPreActivation = true;
  } else {
    const clipped = clip();
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
  // Adam's step takes the bias-correction powers beta1^t and beta2^t as feeds.
  const powers = optimizer.kind === "adam" ? [placeholder("beta1_power", []), placeholder("beta2_power", [])] : [];
  const apply = (v: { handle: string }, name: string, grad: string, after: string[] = []) => {
    const shape = modelVariables.find((e) => e.name === name)?.shape ?? [];
    const [first, second] = SLOTS[optimizer.kind].map((slot) => variable(`${name}_${slot}`, shape).handle);
    const locking = { use_locking: { b: false } };
    const update = (op: string, inputs: string[], attrs: Record<string, Attr> = {}) =>
      applies.push(node(`${name}_apply`, op, [...inputs, ...after], { T: F, ...locking, ...attrs }));
    switch (optimizer.kind) {
      case "adam":
        update(
          "ResourceApplyAdam",
          [
            v.handle,
            first as string,
            second as string,
            ...powers,
            lr,
            scalar(`${name}_beta1`, optimizer.beta1),
            scalar(`${name}_beta2`, optimizer.beta2),
            scalar(`${name}_epsilon`, optimizer.epsilon),
            grad,
          ],
          { use_nesterov: { b: false } },
        );
        break;
      case "sgd":
        update("ResourceApplyGradientDescent", [v.handle, lr, grad]);
        break;
      case "momentum":
        update(
          "ResourceApplyMomentum",
          [v.handle, first as string, lr, grad, scalar(`${name}_mu`, optimizer.momentum)],
          {
            use_nesterov: { b: false },
          },
        );
        break;
      case "rmsprop":
        update("ResourceApplyRMSProp", [
          v.handle,
          first as string,
          second as string,
          lr,
          scalar(`${name}_rho`, optimizer.rho),
          scalar(`${name}_mu`, optimizer.momentum),
          scalar(`${name}_epsilon`, optimizer.epsilon),
          grad,
        ]);
        break;
    }
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
    else throw new Error(`softmax is supported only on the last layer, with categorical crossentropy`);
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
  const toFloat = (name: string, input: string, from: number) =>
    node(name, "Cast", [input], { SrcT: { type: from }, DstT: F, Truncate: { b: false } });
  const accuracy = () => {
    // As losses.ts: the arg-max class for (sparse) categorical crossentropy, else p > 0.5 vs the label.
    if (loss === "categorical_crossentropy" || loss === "sparse_categorical_crossentropy") {
      const classAxis = node("class_axis", "Const", [], {
        dtype: { type: DT_INT32 },
        value: { tensor: { dtype: DT_INT32, shape: [], ints: [1] } },
      });
      const argMax = (name: string, input: string) =>
        node(name, "ArgMax", [input, classAxis], { T: F, Tidx: { type: DT_INT32 }, output_type: { type: DT_INT32 } });
      const hits = node("hits", "Equal", [argMax("predicted_class", prediction), argMax("true_class", y)], {
        T: { type: DT_INT32 },
      });
      return reduce("metric_accuracy", "Mean", toFloat("hits_f", hits, DT_BOOL), ints("accuracy_axis", [0]));
    }
    const above = toFloat(
      "above_half",
      node("greater_half", "Greater", [prediction, scalar("half", 0.5)], { T: F }),
      DT_BOOL,
    );
    return reduce(
      "metric_accuracy",
      "Mean",
      toFloat("hits_f", node("hits", "Equal", [above, y], { T: F }), DT_BOOL),
      allAxes,
    );
  };
  for (const metric of metrics) {
    const value =
      metric === "mean_squared_error"
        ? reduce("metric_mse", "Mean", unary("metric_sq", "Square", diff), allAxes)
        : metric === "mean_absolute_error"
          ? reduce("metric_mae", "Mean", unary("metric_abs", "Abs", diff), allAxes)
          : accuracy();
    stepFetches.push(node(`${value}_out`, "Identity", [value, ...after], { T: F }));
  }
  const initDone = node("init_done", "Identity", [scalar("zero", 0), ...assigns.map((n) => `^${n}`)], { T: F });

  // Model variables in trainable-weight order, then each slot kind for every variable (tfjs' order).
  const slots = SLOTS[optimizer.kind].flatMap((slot) =>
    modelVariables.map((v) => ({ name: `${v.name}_${slot}`, shape: v.shape })),
  );
  return {
    nodes,
    variables: [...modelVariables, ...slots],
    initFeed: (v) => `${v}_init:0`,
    readFetch: (v) => `${v}_read:0`,
    initDone: `${initDone}:0`,
    stepFetches: stepFetches.map((n) => `${n}:0`),
  };
}
