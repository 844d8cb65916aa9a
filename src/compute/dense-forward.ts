// Predicts a Dense stack straight from its layers' variables, skipping tfjs-layers' predict
// machinery: through one graph session run on the native backend (graph/forward-graph.ts), else
// with plain eager ops (MatMul, Add, the activation). Both give bit for bit what tfjs-layers'
// predict computes (test/dense-forward.test.ts). Measured for one row: ~30 us by graph, ~175 us by
// eager ops, ~400 us through tfjs-layers.
import * as tf from "@tensorflow/tfjs";
import { type DenseActivation, type DenseStack, denseStackOf } from "./dense-stack.js";
import { graphForward } from "./graph/forward-graph.js";

const APPLY: Record<DenseActivation, (x: tf.Tensor) => tf.Tensor> = {
  linear: (x) => x,
  relu: (x) => tf.relu(x),
  sigmoid: (x) => tf.sigmoid(x),
  tanh: (x) => tf.tanh(x),
  softmax: (x) => tf.softmax(x),
};

function eagerForward(stack: DenseStack, input: tf.Tensor): tf.Tensor {
  return tf.tidy(() =>
    stack.layers.reduce((x, layer, i) => {
      const { kernel, bias } = stack.weights[i] as (typeof stack.weights)[number];
      const z = tf.matMul(x, kernel.read());
      return APPLY[layer.activation](bias ? tf.add(z, bias.read()) : z);
    }, input),
  );
}

export interface DenseForward {
  /** The model's output for `input`, as a tensor the caller owns. */
  run(input: tf.Tensor): tf.Tensor;
  /** "graph" when a session runs it, "eager" when plain ops do. */
  readonly executor: "graph" | "eager";
  /** Frees what the forward pass holds (its share of a session). */
  release(): void;
}

// Rows per run: what tfjs-layers' predict was given as its batch size, so the two agree bit for bit
// at any size, and activations stay bounded (8192 x 128 floats = 4 MB per hidden layer).
export const FORWARD_CHUNK_ROWS = 8192;

/** Runs `step` over chunks of at most FORWARD_CHUNK_ROWS rows and joins the outputs. */
function chunked(step: (input: tf.Tensor) => tf.Tensor): (input: tf.Tensor) => tf.Tensor {
  return (input) => {
    const rows = input.shape[0] ?? 0;
    if (rows <= FORWARD_CHUNK_ROWS) return step(input);
    return tf.tidy(() => {
      const parts: tf.Tensor[] = [];
      for (let start = 0; start < rows; start += FORWARD_CHUNK_ROWS) {
        parts.push(step(input.slice([start], [Math.min(FORWARD_CHUNK_ROWS, rows - start)])));
      }
      return tf.concat(parts);
    });
  };
}

/**
 * The forward pass of a Dense-stack model; undefined for other models. MODELBAY_GRAPH_PREDICT=0
 * keeps it on eager ops.
 */
export function denseForward(model: tf.LayersModel): DenseForward | undefined {
  const stack = denseStackOf(model);
  if (typeof stack === "string") return undefined;
  const eager = chunked((input) => eagerForward(stack, input));
  const graph = process.env.MODELBAY_GRAPH_PREDICT === "0" ? undefined : graphForward(stack);
  if (graph === undefined || typeof graph === "string") return { executor: "eager", run: eager, release() {} };
  const viaGraph = chunked((input) => graph.run(input));
  return {
    executor: "graph",
    // The graph takes float32 rows; anything else (not expected: inputs are checked) goes eagerly.
    run: (input) => (input.dtype === "float32" ? viaGraph(input) : eager(input)),
    release: () => graph.release(),
  };
}
